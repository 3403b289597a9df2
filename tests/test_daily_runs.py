"""The daily path as an operator meets it, through the job's command line (`main`, in this test's
JVM: the same parser, errors and exit codes as spark-submit, at a fraction of the start-up):
Delta's own log cleanup after a month, full rebuilds between daily runs, re-delivered and bad
files, maintenance by someone else, kills at every step. Every answer is checked against DuckDB
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
from lastfm.storage.maintenance import LISTING_PARALLELISM
from lastfm.storage.reading import read_lines, read_table
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


def test_a_redelivered_file_counts_once_whatever_its_name(spark, tmp_path, job):
    lines = history_lines(tmp_path)
    files = [land(tmp_path / "landing", "a", lines[:3000]), land(tmp_path / "landing", "b", lines[3000:])]
    assert job("--incremental")[0] == 0
    before = answer(tmp_path)
    again = land(tmp_path / "landing", "b-resent", list(reversed(lines[3000:])))  # same lines, another order and name
    code, out, err = job("--incremental")
    assert code == 0, err
    assert f"input file file:{again} skipped: same content as file:{files[1]}" in err
    assert list(summary(tmp_path)["input_files_duplicate"]) == [f"file:{again}"]
    assert answer(tmp_path) == before == expected(files)
    assert plays_count(spark, tmp_path) == valid_count(spark, files)
    assert runs(spark, tmp_path)[-1]["input_files_duplicate"] == [f"file:{again}"]


def test_a_partial_redelivery_is_quarantined_and_the_alert_outlives_a_retry(spark, tmp_path, job):
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
    # the next day's run succeeds and still lists the refused file
    files.append(land(tmp_path / "landing", "c", lines[3610:]))
    code, _, err = job("--incremental")
    assert code == 0, err
    assert summary(tmp_path)["quarantine_unresolved"] == [f"file:{resent}"]
    assert runs(spark, tmp_path)[-1]["quarantine_unresolved"] == [f"file:{resent}"]
    assert answer(tmp_path) == expected(files)
    # re-admitted as it is, by the documented command: its plays count (repeats and all, which the
    # duplicate-plays expectation then has to allow)
    code, _, err = job("--incremental", "--readmit", f"file:{resent}", "--max-duplicate-fraction", "0.2")
    assert code == 0, err
    files.append(resent)
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
    assert summary(tmp_path)["quarantine_unresolved"] == []


def test_a_bad_file_is_refused_and_never_stops_the_following_days(spark, tmp_path, job):
    lines = history_lines(tmp_path)
    files = [land(tmp_path / "landing", "a", lines[:2500])]
    assert job("--incremental")[0] == 0
    future = land(tmp_path / "landing", "future",
                  [f"user_000001\t2030-01-01T00:{m:02d}:00Z\t\tA\t\tB" for m in range(10)])
    files.append(land(tmp_path / "landing", "b", lines[2510:3500]))
    code, _, err = job("--incremental")
    assert code == 3 and str(future) in one_error_line(err) and "after the run's start" in one_error_line(err)
    assert answer(tmp_path) == expected(files)
    files.append(land(tmp_path / "landing", "c", lines[3500:]))
    code, _, err = job("--incremental")
    assert code == 0, err
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
    # a full rebuild holds the same plays: the refused file stays out
    assert job()[0] == 0 and answer(tmp_path) == expected(files)


def test_a_file_changed_after_it_was_counted_keeps_its_plays_and_is_refused(spark, tmp_path, job):
    lines = history_lines(tmp_path)
    first = land(tmp_path / "landing", "a", lines[:2000])
    original = tmp_path / "original.tsv"
    original.write_text(first.read_text())
    files = [original, land(tmp_path / "landing", "b", lines[2000:3000])]
    assert job("--incremental")[0] == 0
    before = answer(tmp_path)
    first.write_text(first.read_text() + "".join(line + "\n" for line in lines[3000:3100]))
    code, _, err = job("--incremental")
    assert code == 3 and "content changed after it was counted" in one_error_line(err)
    assert answer(tmp_path) == before and plays_count(spark, tmp_path) == valid_count(spark, files)
    files.append(land(tmp_path / "landing", "c", lines[3100:]))
    assert job("--incremental")[0] == 0
    assert job()[0] == 0  # a full rebuild keeps the plays counted, not the file's new content
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)


def test_maintenance_by_someone_else_between_daily_runs(spark, tmp_path, job):
    lines = history_lines(tmp_path)
    files = [land(tmp_path / "landing", "a", lines[:2000])]
    assert job("--incremental")[0] == 0
    files.append(land(tmp_path / "landing", "b", lines[2000:3000]))
    assert job("--incremental")[0] == 0
    # VACUUM RETAIN 0 needs the safety check off; its listing in 2 tasks rather than Spark's default
    # 10,000 (40-60 s of empty tasks per table in local mode), as maintain.py does
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    spark.conf.set(LISTING_PARALLELISM, "2")
    try:
        for table in ("plays", "rejects", "sessions", "files", "runs"):
            uri = str(tmp_path / "wh" / table)
            spark.sql(f"OPTIMIZE delta.`{uri}`")
            spark.sql(f"VACUUM delta.`{uri}` RETAIN 0 HOURS")
            spark.sql(f"ALTER TABLE delta.`{uri}` SET TBLPROPERTIES ('owner.note' = 'compacted by hand')")
    finally:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
        spark.conf.unset(LISTING_PARALLELISM)
    files.append(land(tmp_path / "landing", "c", lines[3000:]))
    code, _, err = job("--incremental")
    assert code == 0, err
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
    # the replay of a version whose files VACUUM removed: one line, exit 2
    code, _, err = job("--as-of-version", "0", output="replay/top.tsv")
    assert code == 2 and "no version 0 that can still be read" in one_error_line(err)


def test_the_operators_guard_rails(spark, tmp_path, job):
    lines = history_lines(tmp_path)
    first = land(tmp_path / "landing", "a", lines[:2000])
    assert job("--incremental")[0] == 0
    land(tmp_path / "landing", "b", lines[2000:])
    assert job("--incremental")[0] == 0
    # --as-of-version does not write over the daily output unless told to
    code, _, err = job("--as-of-version", "0")
    assert code == 2 and "--replace-output" in one_error_line(err)
    assert job("--as-of-version", "0", "--replace-output")[0] == 0
    assert answer(tmp_path) == expected([first])
    # a leftover of a run killed in the deliverable stage is removed by the next good run
    leftover = tmp_path / "out" / ".top.tsv.staging-dead"
    leftover.mkdir()
    os.utime(leftover, (time.time() - 86_400, time.time() - 86_400))
    assert job("--incremental")[0] == 0 and not leftover.exists()
    # the summary names the deliverable it belongs to
    assert summary(tmp_path)["output_sha256"] == hashlib.sha256((tmp_path / "out" / "top.tsv").read_bytes()).hexdigest()
    # no new file: a warning, and a failure after the stated number of days
    code, out, err = job("--incremental")
    assert code == 0 and "no new input file" in err
    code, _, err = job("--incremental", "--max-days-without-new-files", "0.000001")
    assert code == 3 and "--max-days-without-new-files" in one_error_line(err)
    # a full rebuild that would drop the plays of a file gone from the input refuses, unless told
    # to; told to, the file's lines under another name (it was moved) count again, once
    moved = first.rename(first.with_name("a-moved.tsv"))
    code, _, err = job()
    assert code == 2 and "--forget-missing-files" in one_error_line(err)
    code, _, err = job("--forget-missing-files")
    assert code == 0, err
    files = [moved, tmp_path / "landing" / "day=b" / "b.tsv"]
    assert answer(tmp_path) == expected(files) and plays_count(spark, tmp_path) == valid_count(spark, files)
