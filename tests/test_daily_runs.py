"""The daily path as an operator meets it, through the job's command line (`main`, in this test's
JVM: the same parser, errors and exit codes as spark-submit, at a fraction of the start-up):
Delta's own log cleanup after a month, full rebuilds between daily runs, re-delivered, changed
and future-dated files, replays, maintenance by someone else and the operator's guard rails. Each
test is one storyline of days, checked after each step. Every answer is checked against DuckDB
on the files that should count, every count against the lines written by hand or generated."""

import hashlib
import json
import os
import random
import time

import pytest
from delta.tables import DeltaTable

from lastfm.commands import top_tracks
from lastfm.question.parsing import parse_lines, valid_plays
from lastfm.storage.maintenance import maintain
from lastfm.storage.reading import latest_commit, read_lines, read_table
from lastfm.tables import ANSWER_TABLES, WAREHOUSE
from lastfm.testing.duckdb_reference import read_tsv
from lastfm.testing.duckdb_reference import top_tracks as duckdb_top_tracks
from lastfm.testing.sample_data import land, write_sample

# every case leans on Delta's behaviour (log cleanup, replaceWhere, transactions, OPTIMIZE, VACUUM):
# CI runs them on each Spark line (`make test-line`)
pytestmark = [pytest.mark.slow, pytest.mark.e2e]
QUESTION = ["--top-sessions", "5", "--top-tracks", "8", "--max-reject-fraction", "0.01"]


@pytest.fixture
def job(spark, capsys, caplog, monkeypatch, tmp_path):
    """Run the job's command line on tmp_path's landing folder: (exit code, stdout, stderr and the
    warnings logged, which spark-submit's stderr shows)."""
    monkeypatch.setattr(spark, "stop", lambda: None)  # the test's session outlives each run
    caplog.set_level("WARNING", logger="lastfm")

    def call(*args, output="out/top.tsv"):
        argv = ["--input", str(tmp_path / "landing"), "--output", str(tmp_path / output),
                "--warehouse", str(tmp_path / "wh"), *QUESTION, *args]
        caplog.clear()
        code = top_tracks.main(argv)
        captured = capsys.readouterr()
        return code, captured.out, captured.err + caplog.text

    return call


def history_lines(tmp_path, rows=4000, users=6, seed=5):
    lines = write_sample(tmp_path / "sample.tsv", rows=rows, users=users, seed=seed,
                         malformed_every=1000).read_text(encoding="utf-8").splitlines()
    random.Random(seed).shuffle(lines)  # every day holds plays older than the day before's: late data
    return lines


def expected(files):
    """DuckDB's answer on exactly these files."""
    return duckdb_top_tracks([str(f) for f in files], top_sessions=5, top_tracks=8)


def answer(tmp_path, output="out/top.tsv"):
    return read_tsv(str(tmp_path / output))


def plays_count(spark, tmp_path):
    return read_table(spark, str(tmp_path / "wh" / "plays")).count()


def valid_count(spark, files):
    return valid_plays(read_lines(spark, [str(f) for f in files]).transform(parse_lines)).count()


def summary(tmp_path, output="out/top.tsv"):
    return json.loads((tmp_path / output).with_name("run_summary.json").read_text())


def runs(spark, tmp_path):
    return read_table(spark, str(tmp_path / "wh" / "runs")).orderBy("ended_at").collect()


def versions(spark, tmp_path):
    """The latest version of each table a run answers with."""
    return {name: latest_commit(spark, str(tmp_path / "wh" / name))["version"] for name in ANSWER_TABLES}


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_month_of_daily_runs_survives_deltas_own_log_cleanup(spark, tmp_path, job):
    # a checkpoint at every commit and a one-day log retention, with the log files aged three days
    # between runs: Delta deletes every commit file but the latest checkpoint's, as it does after
    # ~a month of daily runs with its defaults
    defaults = {"spark.databricks.delta.properties.defaults.checkpointInterval": "1",
                "spark.databricks.delta.properties.defaults.logRetentionDuration": "interval 1 days"}
    for key, value in defaults.items():
        spark.conf.set(key, value)
    try:
        lines = history_lines(tmp_path)
        days = [lines[:1500], lines[1500:2300], lines[2300:3000], lines[3000:3500], lines[3500:]]
        landed = []
        for number, day in enumerate(days):
            landed.append(land(tmp_path / "landing", f"2026-11-{number + 1:02d}", day))
            if number == 3:
                continue  # a gap: two days land before the next run
            long_ago = time.time() - 3 * 86_400
            for log_file in (tmp_path / "wh").glob("*/_delta_log/*"):
                os.utime(log_file, (long_ago, long_ago))
            code, _, err = job("--incremental")
            assert code == 0, err
    finally:
        for key in defaults:
            spark.conf.unset(key)
    history = DeltaTable.forPath(spark, str(tmp_path / "wh" / "plays")).history().collect()
    assert min(h["version"] for h in history) > 0  # the early commits are gone
    assert plays_count(spark, tmp_path) == valid_count(spark, landed)  # every play once
    assert answer(tmp_path) == expected(landed)
    assert summary(tmp_path)["rows_read"] == len(lines)


def test_full_rebuilds_and_daily_runs_interleave_in_any_order(spark, tmp_path, job):
    lines = history_lines(tmp_path)
    files = [land(tmp_path / "landing", "a", lines[:2000])]
    assert job()[0] == 0
    files.append(land(tmp_path / "landing", "b", lines[2000:3000]))
    assert job()[0] == 0  # a full rebuild, with nothing rejected in the new file
    files.append(land(tmp_path / "landing", "c", lines[3000:3500]))
    code, _, err = job("--incremental")
    assert code == 0, err
    assert job("--incremental")[0] == 0
    files.append(land(tmp_path / "landing", "d", lines[3500:]))
    assert job()[0] == 0 and job("--incremental")[0] == 0 and job()[0] == 0
    assert plays_count(spark, tmp_path) == valid_count(spark, files)
    assert answer(tmp_path) == expected(files)
    statuses = [r["status"] for r in runs(spark, tmp_path) if r["status"] != "rebuilding"]
    # the daily run after a full one finds nothing new: the full run left the answer it would give
    assert statuses == ["succeeded"] * 3 + ["nothing_new", "succeeded", "nothing_new", "succeeded"]


def test_a_partial_redelivery_is_quarantined_the_alert_outlives_a_retry_and_a_whole_one_counts_once(
        spark, tmp_path, job):
    lines = history_lines(tmp_path)
    files = [land(tmp_path / "landing", "a", lines[:3000])]
    assert job("--incremental")[0] == 0
    good = land(tmp_path / "landing", "b", lines[3000:3600])
    resent = land(tmp_path / "landing", "a-part", lines[:200] + lines[3600:3610])  # 200 plays held already, 10 new
    code, _, err = job("--incremental")
    line = one_error_line(err)
    assert code == 3 and str(resent) in line and "repeat plays already held" in line and "--readmit" in line
    # the other file of the day is in, and the answer is updated from it
    files.append(good)
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
    quarantine = read_table(spark, str(tmp_path / "wh" / "quarantine")).collect()
    assert len(quarantine) == 210 and {r["source_file"] for r in quarantine} == {f"file:{resent}"}
    # a retry reports the same refusal
    code, _, err = job("--incremental")
    assert code == 3 and one_error_line(err) == line
    # the next day's run succeeds and still lists the refused file; a whole re-delivery of an
    # earlier day (the same lines, in another order, under another name) lands beside it, and counts once
    files.append(land(tmp_path / "landing", "c", lines[3610:]))
    again = land(tmp_path / "landing", "b-resent", list(reversed(lines[3000:3600])))
    code, _, err = job("--incremental")
    assert code == 0, err
    assert f"input file file:{again} skipped: same content as file:{good}" in err
    assert list(summary(tmp_path)["input_files_duplicate"]) == [f"file:{again}"]
    assert runs(spark, tmp_path)[-1]["input_files_duplicate"] == [f"file:{again}"]
    assert summary(tmp_path)["quarantine_unresolved"] == [f"file:{resent}"]
    assert runs(spark, tmp_path)[-1]["quarantine_unresolved"] == [f"file:{resent}"]
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
    # re-admitted as it is, by the documented command: its plays count (repeats and all, which the
    # duplicate-plays expectation then has to allow)
    code, _, err = job("--incremental", "--readmit", f"file:{resent}", "--max-duplicate-fraction", "0.2")
    assert code == 0, err
    files.append(resent)
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
    assert summary(tmp_path)["quarantine_unresolved"] == []


def test_a_changed_file_and_a_future_dated_one_are_refused_and_never_stop_the_following_days(spark, tmp_path, job):
    lines = history_lines(tmp_path)
    first = land(tmp_path / "landing", "a", lines[:2000])
    original = tmp_path / "original.tsv"
    original.write_text(first.read_text())
    files = [original, land(tmp_path / "landing", "b", lines[2000:3000])]
    assert job("--incremental")[0] == 0
    deliverable, before = (tmp_path / "out" / "top.tsv").read_bytes(), versions(spark, tmp_path)
    # a file counted already, changed: refused, its plays as counted, the tables and answer unchanged
    first.write_text(first.read_text() + "".join(line + "\n" for line in lines[3000:3100]))
    code, _, err = job("--incremental")
    assert code == 3 and f"input file file:{first} refused: content changed after it was counted" in one_error_line(err)
    changed = versions(spark, tmp_path)
    assert all(changed[t] == before[t] for t in ("plays", "rejects", "sessions")), (before, changed)
    assert (tmp_path / "out" / "top.tsv").read_bytes() == deliverable
    assert plays_count(spark, tmp_path) == valid_count(spark, files)
    # the next day, a file with plays after the run's start beside a good one: refused, the good one in
    future = land(tmp_path / "landing", "future",
                  [f"user_000001\t2030-01-01T00:{m:02d}:00Z\t\tA\t\tB" for m in range(10)])
    files.append(land(tmp_path / "landing", "c", lines[3100:3500]))
    code, _, err = job("--incremental")
    assert code == 3 and str(future) in one_error_line(err) and "after the run's start" in one_error_line(err)
    assert answer(tmp_path) == expected(files)
    files.append(land(tmp_path / "landing", "d", lines[3500:]))
    code, _, err = job("--incremental")
    assert code == 0, err
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
    # a full rebuild holds the same plays: the changed file's as counted, not its new content, and
    # the future-dated file stays out
    assert job()[0] == 0
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
    rows = [r for r in runs(spark, tmp_path) if r["status"] != "rebuilding"]
    assert [(r["mode"], r["status"]) for r in rows] == [("incremental", "succeeded"), ("incremental", "quarantined"),
                                                        ("incremental", "quarantined"), ("incremental", "succeeded"),
                                                        ("full", "succeeded")]
    assert len(rows[0]["input_files_ingested"]) == 2 and rows[0]["rows_added"] == 3000
    assert rows[0]["table_versions"] == {name: 0 for name in ANSWER_TABLES}
    assert "content changed after it was counted" in rows[1]["error"]
    assert rows[1]["quarantine_unresolved"] == [f"file:{first}"]
    # no version of `plays` (what a reader or an --as-of-version replay of it counts) ever held a
    # play of the refused file, nor more plays of the changed one than it first had
    plays, first_had = str(tmp_path / "wh" / "plays"), valid_count(spark, [original])
    for version in range(latest_commit(spark, plays)["version"] + 1):
        held = read_table(spark, plays, version).groupBy("source_file").count().collect()
        counts = {r["source_file"]: r["count"] for r in held}
        assert f"file:{future}" not in counts and counts[f"file:{first}"] == first_had, (version, counts)


def test_replays_maintenance_by_someone_else_and_the_operators_guard_rails(spark, tmp_path, job):
    lines = history_lines(tmp_path)
    deliverable = tmp_path / "out" / "top.tsv"
    first = land(tmp_path / "landing", "a", lines[:2000])
    assert job("--incremental")[0] == 0
    day_one, day_one_summary = deliverable.read_bytes(), summary(tmp_path)
    second = land(tmp_path / "landing", "b", lines[2000:3000])
    assert job("--incremental")[0] == 0
    assert deliverable.read_bytes() != day_one
    before = versions(spark, tmp_path)
    # --as-of-version rebuilds an earlier day's answer and changes no table; it does not write over
    # the daily output unless told to
    day_one_version = str(day_one_summary["tables"]["plays"]["version"])
    code, _, err = job("--as-of-version", day_one_version)
    assert code == 2 and "--replace-output" in one_error_line(err)
    assert job("--as-of-version", day_one_version, "--replace-output")[0] == 0
    assert deliverable.read_bytes() == day_one and answer(tmp_path) == expected([first])
    assert summary(tmp_path)["rows_valid"] == day_one_summary["rows_valid"]
    code, _, err = job("--as-of-version", "7", output="replay/top.tsv")
    assert code == 2 and "has no version 7" in one_error_line(err)
    assert versions(spark, tmp_path) == before
    # a leftover of a run killed in the deliverable stage is removed by the next good run, which
    # answers again over the replay
    leftover = tmp_path / "out" / ".top.tsv.staging-dead"
    leftover.mkdir()
    os.utime(leftover, (time.time() - 86_400, time.time() - 86_400))
    assert job("--incremental")[0] == 0 and not leftover.exists()
    assert answer(tmp_path) == expected([first, second])
    # the summary names the deliverable it belongs to
    assert summary(tmp_path)["output_sha256"] == hashlib.sha256(deliverable.read_bytes()).hexdigest()

    # maintenance by someone else: every table of the job compacted and vacuumed with retention 0
    # (jobs/maintain.py), then a property set by hand, a commit of its own
    answered = deliverable.read_bytes()
    done = maintain(spark, str(tmp_path / "wh"), retention_hours=0, allow_short_retention=True)
    assert set(done) == {name for name in WAREHOUSE if DeltaTable.isDeltaTable(spark, str(tmp_path / "wh" / name))}
    assert {"plays", "sessions", "runs", "files"} <= set(done)
    assert done["plays"].files_after == 1 < done["plays"].files_before
    for name in done:
        uri = str(tmp_path / "wh" / name)
        assert "VACUUM END" in [r[0] for r in DeltaTable.forPath(spark, uri).history(3).select("operation").collect()]
        spark.sql(f"ALTER TABLE delta.`{uri}` SET TBLPROPERTIES ('owner.note' = 'compacted by hand')")
    assert deliverable.read_bytes() == answered  # the deliverable is no table: untouched
    # no new file: nothing to do (the job keys nothing on the tables' versions), a warning, and a
    # failure after the stated number of days
    before = versions(spark, tmp_path)
    code, _, err = job("--incremental")
    assert code == 0 and "no new input file" in err
    last = runs(spark, tmp_path)[-1]
    assert last["status"] == "nothing_new" and last["table_versions"] == {} and last["input_files_ingested"] == []
    assert versions(spark, tmp_path) == before and deliverable.read_bytes() == answered
    code, _, err = job("--incremental", "--max-days-without-new-files", "0.000001")
    assert code == 3 and "--max-days-without-new-files" in one_error_line(err)
    # the next day: DuckDB's answer on the three files
    third = land(tmp_path / "landing", "c", lines[3000:])
    code, _, err = job("--incremental")
    assert code == 0, err
    files = [first, second, third]
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
    # the replay of a version whose files VACUUM removed: one line, exit 2
    code, _, err = job("--as-of-version", day_one_version, output="replay/top.tsv")
    assert code == 2 and f"no version {day_one_version} that can still be read" in one_error_line(err)

    # a full rebuild that would drop the plays of a file gone from the input refuses, unless told
    # to; told to, the file's lines under another name (it was moved) count again, once
    moved = first.rename(first.with_name("a-moved.tsv"))
    code, _, err = job()
    assert code == 2 and "--forget-missing-files" in one_error_line(err)
    code, _, err = job("--forget-missing-files")
    assert code == 0, err
    files = [moved, second, third]
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
