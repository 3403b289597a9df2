"""The job's transforms composed without tables (pipeline.bare_top_tracks, the benchmark's
`spark_bare`), against DuckDB's independent answer."""

import pytest

from lastfm.duckdb_reference import top_tracks
from lastfm.pipeline import bare_top_tracks
from lastfm.sample_data import write_sample


@pytest.mark.usefixtures("ansi_mode")
def test_the_bare_transforms_give_duckdbs_answer(spark, tmp_path):
    path = str(write_sample(tmp_path / "plays.tsv", rows=30_000, users=12, seed=3, malformed_every=5_000))
    for gap, sessions, tracks in ((1200, 50, 10), (300, 5, 7)):
        got = [(r["artist_name"], r["track_name"], r["play_count"]) for r in bare_top_tracks(spark, path, gap, sessions, tracks)]
        assert got == top_tracks(path, gap_seconds=gap, top_sessions=sessions, top_tracks=tracks)
