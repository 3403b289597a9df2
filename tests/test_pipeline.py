"""The job's transforms composed without tables (pipeline.bare_top_tracks, the benchmark's
`spark_bare`), against DuckDB's independent answer."""

import pytest

from lastfm.config import JobConfig
from lastfm.duckdb_reference import top_tracks
from lastfm.errors import DataQualityError, UsageError
from lastfm.pipeline import bare_top_tracks, check_reject_fraction
from lastfm.sample_data import write_sample


@pytest.mark.usefixtures("ansi_mode")
def test_the_bare_transforms_give_duckdbs_answer(spark, tmp_path):
    path = str(write_sample(tmp_path / "plays.tsv", rows=30_000, users=12, seed=3, malformed_every=5_000))
    for gap, sessions, tracks in ((1200, 50, 10), (300, 5, 7)):
        got = [(r["artist_name"], r["track_name"], r["play_count"]) for r in bare_top_tracks(spark, path, gap, sessions, tracks)]
        assert got == top_tracks(path, gap_seconds=gap, top_sessions=sessions, top_tracks=tracks)


def test_reject_fraction_threshold_is_inclusive_and_warn_only_returns_the_failure():
    config = JobConfig("in.tsv", "o.tsv", "wh", max_reject_fraction=0.01)
    assert check_reject_fraction(99, 1, config, "wh/rejects") == []  # exactly 1%: allowed
    with pytest.raises(DataQualityError, match=r"^2 of 100 lines rejected \(2.0000%\) in in.tsv, above --max-reject-fraction 0.01 \(see wh/rejects\)$"):
        check_reject_fraction(98, 2, config, "wh/rejects")
    (warning,) = check_reject_fraction(98, 2, JobConfig("in.tsv", "o.tsv", "wh", max_reject_fraction=0.01, warn_only=True), "wh/rejects")
    assert warning.startswith("2 of 100 lines rejected")
    with pytest.raises(UsageError, match="no valid rows in input in.tsv: all 5 lines rejected"):
        check_reject_fraction(0, 5, config, "wh/rejects")
