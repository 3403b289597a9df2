"""Top tracks in the longest Last.fm 1K listening sessions, as a PySpark batch job."""

from __future__ import annotations

__version__ = "0.1.0"
