"""Whole runs (in-process, the session SparkSession): profile, run summary and report beside the
deliverable; a failed expectation leaves the earlier deliverable untouched; --warn-only."""

import json

import pytest

from lastfm.config import JobConfig
from lastfm.errors import DataQualityError
from lastfm.pipeline import run

LINES = [
    "u1\t2009-01-01T12:00:00Z\t\tAbba\t\tSOS",
    "u1\t2009-01-01T10:10:00Z\t\tCake\t\tJolene",
    "u1\t2009-01-01T10:05:00Z\t\tCake\t\tJolene",
    "u1\t2009-01-01T10:00:00Z\t\tCake\t\tJolene",
    "u2\t2009-01-02T23:40:00Z\t\tCake\t\tJolene",
    "u2\t2009-01-02T23:30:00Z\t\tAbba\t\tSOS",
]
FROM_THE_FUTURE = "u2\t2031-05-01T00:00:00Z\t\tAbba\t\tSOS"


def job(tmp_path, lines, **options) -> JobConfig:
    source = tmp_path / f"in-{len(lines)}.tsv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return JobConfig(str(source), str(tmp_path / "out" / "top.tsv"), str(tmp_path / "wh"), **options)


@pytest.mark.slow
def test_run_writes_profile_summary_and_report_then_guards_the_deliverable(spark, tmp_path):
    summary = run(spark, job(tmp_path, LINES))
    out = tmp_path / "out"
    deliverable = (out / "top.tsv").read_bytes()
    assert deliverable == b"artist_name\ttrack_name\tplay_count\nCake\tJolene\t4\nAbba\tSOS\t2\n"

    profile = json.loads((out / "profile.json").read_text())
    assert profile["rows"] == {"read": 6, "valid": 6, "rejected": 0, "rejected_by_reason": {}}
    assert profile["users"] == 2 and profile["heaviest_listener"] == {"user_id": "u1", "plays": 4}
    assert profile["time_range"] == {"first": "2009-01-01T10:00:00Z", "last": "2009-01-02T23:40:00Z"}
    assert profile["sessions"]["count"] == 3 and profile["sessions"]["length_plays"]["max"] == 3
    assert profile["columns"]["artist_id"]["nulls"] == 6

    on_disk = json.loads((out / "run_summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary, default=str))
    assert {"check_input", "check_output", "profile_report"} <= set(on_disk["stage_seconds"])
    assert on_disk["tables"]["profile"]["version"] == 0 and on_disk["expectation_warnings"] == []
    assert on_disk["known_answer"] == {"checked": False, "reason": "input is not the real Last.fm 1K file"}
    metrics = {r["metric"]: r for r in spark.read.format("delta").load(str(tmp_path / "wh" / "profile")).collect()}
    assert metrics["rows.read"]["number"] == 6 and metrics["heaviest_listener.user_id"]["text"] == "u1"
    assert (out / "report.html").read_text().count('src="data:image/png;base64,') == 4

    # a play in 2031: the run fails with exit code 3 and one line, the deliverable stays as it was
    with pytest.raises(DataQualityError) as error:
        run(spark, job(tmp_path, [*LINES, FROM_THE_FUTURE]))
    assert error.value.exit_code == 3 and "\n" not in str(error.value)
    assert str(error.value).startswith("input expectations failed: input.last_play=2031-05-01T00:00:00Z fails less_than_or_equal_to(")
    assert (out / "top.tsv").read_bytes() == deliverable

    # --warn-only: the same input goes through, the failure is in the summary
    warned = run(spark, job(tmp_path, [*LINES, FROM_THE_FUTURE], warn_only=True))
    assert len(warned["expectation_warnings"]) == 1 and "last_play" in warned["expectation_warnings"][0]
    assert json.loads((out / "run_summary.json").read_text())["expectation_warnings"] == warned["expectation_warnings"]
