"""Whole runs (in-process, the session SparkSession): profile, run summary and report beside the
deliverable; a failed expectation leaves the earlier deliverable untouched; --warn-only."""

import json

import pytest

from lastfm.config import JobConfig
from lastfm.errors import DataQualityError
from lastfm.pipeline import run
from lastfm.quality import checks as quality
from lastfm.quality import report

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
    assert profile["rows"] == {"read": 6, "valid": 6, "rejected": 0, "rejected_by_reason": {},
                               "with_replacement_character": 0}
    assert profile["users"] == 2 and profile["heaviest_listener"] == {"user_id": "u1", "plays": 4}
    assert profile["time_range"] == {"first": "2009-01-01T10:00:00Z", "last": "2009-01-02T23:40:00Z"}
    assert profile["sessions"]["count"] == 3 and profile["sessions"]["length_plays"]["max"] == 3
    assert profile["columns"]["artist_id"]["nulls"] == 6

    on_disk = json.loads((out / "run_summary.json").read_text())
    returned = json.loads(json.dumps(summary.to_json(), default=str))
    del returned["stage_seconds"]["deliverable"]  # written last, after run_summary.json
    assert on_disk == returned
    assert {"check_input", "check_output", "profile_report"} <= set(on_disk["stage_seconds"])
    assert "profile" not in on_disk["tables"] and on_disk["expectation_warnings"] == []
    assert on_disk["known_answer"] == {"checked": False, "reason": "input is not the real Last.fm 1K file"}
    # the profile is in the run's row, as in profile.json
    (row,) = spark.read.format("delta").load(str(tmp_path / "wh" / "runs")).collect()
    assert json.loads(row["profile"]) == json.loads((out / "profile.json").read_text())
    assert json.loads(row["profile"])["rows"]["read"] == 6
    assert (out / "report.html").read_text().count('src="data:image/png;base64,') == 4

    # a play in 2031: the file is refused before it counts, the run fails with exit code 3 and one
    # line, the deliverable stays as it was
    with pytest.raises(DataQualityError) as error:
        run(spark, job(tmp_path, [*LINES, FROM_THE_FUTURE]))
    assert error.value.exit_code == 3 and "\n" not in str(error.value)
    assert str(error.value).startswith(f"input file file:{tmp_path}/in-7.tsv refused: 1 plays after the run's start "
                                       "(the last at 2031-05-01T00:00:00Z); no input file is admitted")
    assert (out / "top.tsv").read_bytes() == deliverable

    # --warn-only: the same input goes through, the failure is in the summary
    warned = run(spark, job(tmp_path, [*LINES, FROM_THE_FUTURE], warn_only=True))
    assert len(warned.expectation_warnings) == 1 and "last_play" in warned.expectation_warnings[0]
    assert json.loads((out / "run_summary.json").read_text())["expectation_warnings"] == warned.expectation_warnings


@pytest.mark.slow
def test_a_run_that_fails_late_leaves_the_earlier_runs_files_together(spark, tmp_path, monkeypatch):
    run(spark, job(tmp_path, LINES))
    out = tmp_path / "out"
    files = {name: (out / name).read_bytes() for name in ("top.tsv", "profile.json", "report.html", "run_summary.json")}

    def broken(*_):
        raise ValueError("the report cannot be drawn")

    monkeypatch.setattr(report, "render_run", broken)
    with pytest.raises(ValueError, match="cannot be drawn"):
        # another input (the first one's plays dropped on purpose): another answer, had it been written
        run(spark, job(tmp_path, LINES[:-1], forget_missing_files=True))
    assert {name: (out / name).read_bytes() for name in files} == files


@pytest.mark.slow
def test_duplicated_plays_above_the_limit_fail_the_input_expectations(spark, tmp_path):
    repeated = [LINES[1]] * 2  # the same play twice more: 2 of 8 rows repeat an earlier one
    with pytest.raises(DataQualityError) as error:
        run(spark, job(tmp_path, [*LINES, *repeated]))
    assert error.value.exit_code == 3
    assert str(error.value) == ("input expectations failed: input.duplicate_fraction=0.25 fails "
                                "less_than_or_equal_to(0.01)")


@pytest.mark.slow
def test_the_known_answer_is_checked_on_the_real_file_recognised_by_lines_and_md5_sidecar(spark, tmp_path, monkeypatch):
    # stand-ins for the real file's line count and MD5, and its published answer: this input's,
    # worked out by hand from LINES (3 sessions, all in the top 50: Jolene 3 + 1, SOS 1 + 1)
    config = job(tmp_path, LINES, top_sessions=50, top_tracks=10)
    sidecar_md5 = "0123456789abcdef0123456789abcdef"  # not the file's own MD5: only the sidecar says it
    with open(f"{config.input}.md5", "w") as sidecar:
        sidecar.write(f"{sidecar_md5}  in-6.tsv\n")
    monkeypatch.setattr(quality, "REAL_FILE_LINES", 6)
    monkeypatch.setattr(quality, "REAL_FILE_MD5", sidecar_md5)
    monkeypatch.setattr(quality, "KNOWN_ANSWER", (("Cake", "Jolene", 4), ("Abba", "SOS", 2)))
    assert run(spark, config).known_answer == {"checked": True, "matches": True, "differences": []}

    monkeypatch.setattr(quality, "KNOWN_ANSWER", (("Cake", "Jolene", 5), ("Abba", "SOS", 2)))
    with pytest.raises(DataQualityError, match=r"^output expectations failed: not the published answer for the real "
                                               r"file: #1 \('Cake', 'Jolene', 4\) != \('Cake', 'Jolene', 5\)$"):
        run(spark, config)


@pytest.mark.slow
def test_names_with_bytes_that_are_not_utf8_are_counted_in_the_profile_and_summary(spark, tmp_path):
    # two Latin-1 lines among UTF-8 ones: read as U+FFFD, each counted once, and said in a warning
    source = tmp_path / "latin1.tsv"
    source.write_bytes("\n".join(LINES).encode("utf-8") + b"\nu3\t2009-01-03T10:00:00Z\t\tBj\xf6rk\t\tJ\xf3ga\n"
                       + b"u3\t2009-01-03T10:01:00Z\t\tBj\xf6rk\t\tHyperballad\n")
    summary = run(spark, JobConfig(str(source), str(tmp_path / "out" / "top.tsv"), str(tmp_path / "wh")))
    assert summary.rows_with_replacement_character == 2 and summary.rows_read == 8
    assert json.loads((tmp_path / "out" / "profile.json").read_text())["rows"]["with_replacement_character"] == 2
    assert [w for w in summary.expectation_warnings if "not UTF-8" in w] == [
        "2 input lines held bytes that are not UTF-8, read as U+FFFD (rows.with_replacement_character in the profile)"]
