"""Top tracks in the longest Last.fm 1K listening sessions, as a PySpark batch job."""

__version__ = "0.1.0"
