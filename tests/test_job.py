"""The entrypoint: its arguments, and whole runs through spark-submit with their exit codes."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from lastfm.commands.top_tracks import main, parse_args
from lastfm.config import JobConfig
from lastfm.errors import UsageError
from lastfm.schemas import PLAYS
from lastfm.testing.duckdb_reference import read_tsv, top_tracks
from lastfm.testing.sample_data import write_sample
from lastfm.testing.tables import delta_rs_rows

REPO = Path(__file__).resolve().parent.parent


def test_parse_args_defaults():
    config = parse_args(["--input", "in.tsv", "--output", "out.tsv", "--warehouse", "wh"])
    assert config == JobConfig("in.tsv", "out.tsv", "wh", 20, 50, 10, 0.001)
    assert config.session_gap_seconds == 1200


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--top-tracks", "0"], "--top-tracks must be >= 1"),
        (["--max-reject-fraction", "2"], "--max-reject-fraction must be between 0 and 1"),
        (["--session-gap-minutes", "-1"], "--session-gap-minutes must be between 0 and 1e"),
        (["--session-gap-minutes", "nan"], "--session-gap-minutes must be between 0 and 1e"),
        (["--session-gap-minutes", "inf"], "--session-gap-minutes must be between 0 and 1e"),
        (["--max-duplicate-fraction", "nan"], "--max-duplicate-fraction must be between 0 and 1"),
        (["--top-sessions", "many"], "invalid int value"),
    ],
)
def test_parse_args_rejects_bad_values(extra, message):
    with pytest.raises(UsageError, match=message):
        parse_args(["--input", "i", "--output", "o", "--warehouse", "w", *extra])


def submit(*args, conf=(), env=None):
    """Run the job as a user would: spark-submit from the repo root, the venv's bin on PATH."""
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **(env or {})}
    spark_conf = [arg for setting in ("spark.ui.enabled=false", *conf) for arg in ("--conf", setting)]
    return subprocess.run(
        [str(bin_dir / "spark-submit"), *spark_conf, "jobs/top_tracks.py", *args],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture
def in_process(spark, capsys, monkeypatch):
    """The job's command line (`main`) in this test's JVM: the same parser, errors and exit codes as
    spark-submit without its start-up, as (exit code, stderr), for what does not need a new process."""
    monkeypatch.setattr(spark, "stop", lambda: None)  # the test's session outlives the run

    def call(*args):
        code = main(list(args))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return call


def job_args(input_path, out_dir):
    return ["--input", str(input_path), "--output", str(out_dir / "top.tsv"), "--warehouse", str(out_dir / "wh")]


def assert_one_line_error(result, code, *words):
    assert result.returncode == code, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and all(w in errors[0] for w in words), result.stderr[-1500:]
    assert "Traceback" not in result.stderr and not re.search(r"^\s+at [\w.$]+\(", result.stderr, re.M)  # no trace


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("in") / "plays.tsv", rows=120_000, users=60, seed=3)


@pytest.mark.slow
@pytest.mark.e2e
def test_end_to_end_matches_duckdb_and_reruns_identically(sample, tmp_path):
    first = submit(*job_args(sample, tmp_path))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "[Stage " not in first.stderr  # no progress bar in a stderr that is no terminal
    output = tmp_path / "top.tsv"
    expected = top_tracks(str(sample))
    assert len(expected) == 10 and read_tsv(str(output)) == expected
    # what a person reads: progress, the answer as a table, where the files are; no JSON
    lines = first.stdout.splitlines()
    assert [line for line in lines if re.fullmatch(r"\d\d:\d\d:\d\d stage parse done in [\d.]+ s", line)]
    table = lines.index("  plays  song")
    assert ([line.split(None, 1) for line in lines[table + 1:table + 11]]
            == [[str(n), f"{a} - {t}"] for a, t, n in expected])
    assert f"answer       {output}" in lines and f"run summary  {tmp_path / 'run_summary.json'}" in lines
    assert not [line for line in lines if line.lstrip().startswith("{") or " INFO " in line]
    digest = hashlib.sha256(output.read_bytes()).hexdigest()

    tables = {name: DeltaTable(str(tmp_path / "wh" / name))
              for name in ("plays", "rejects", "sessions", "top_sessions", "top_tracks")}
    rows = {name: delta_rs_rows(str(tmp_path / "wh" / name)) for name in tables}
    assert rows["plays"].num_rows == 120_000  # every valid row once
    assert rows["rejects"].num_rows == 1  # write_sample puts one malformed line per 100k
    assert rows["top_sessions"].num_rows == 50 and rows["top_tracks"].num_rows == 10
    assert sum(rows["sessions"].column("play_count").to_pylist()) == 120_000

    second = submit(*job_args(sample, tmp_path), "--verbose")
    assert second.returncode == 0, second.stderr[-3000:]
    # --verbose: the run summary as printed is run_summary.json, but for the deliverable's own
    # timing (written after it)
    (printed,) = [json.loads(line) for line in second.stdout.splitlines() if line.startswith("{")]
    on_disk = json.loads((tmp_path / "run_summary.json").read_text())
    del printed["stage_seconds"]["deliverable"]
    assert printed == on_disk and on_disk["plays_reused"] and on_disk["rows_valid"] == 120_000
    assert hashlib.sha256(output.read_bytes()).hexdigest() == digest
    for name, table in tables.items():
        table.update_incremental()
        # an unchanged input is not parsed again, nor sessionized under the same gap, and its top
        # sessions stand, so the answer is kept: no table gets a new version
        assert table.version() == 0, name
        again = delta_rs_rows(str(tmp_path / "wh" / name))
        assert sorted(again.to_pylist(), key=repr) == sorted(rows[name].to_pylist(), key=repr), name


@pytest.mark.slow
def test_folder_of_crlf_files_across_daylight_saving_under_a_non_utc_time_zone(tmp_path):
    # US clocks jumped 02:00 -> 03:00 on 2009-03-08 (07:00 UTC). u1's plays are 15 and 14
    # minutes apart in real time (one session of 3); read as wall-clock they would split.
    # The input is a folder of two files with Windows line ends.
    files = {
        "part-a.tsv": ["u1\t2009-03-08T07:19:00Z\t\tCake\t\tJolene", "u2\t2009-03-08T09:00:00Z\t\tAbba\t\tSOS"],
        "part-b.tsv": ["u1\t2009-03-08T07:05:00Z\t\tCake\t\tJolene", "u1\t2009-03-08T06:50:00Z\t\tCake\t\tJolene",
                       "u2\t2009-03-08T08:00:00Z\t\tAbba\t\tSOS"],
    }
    source = tmp_path / "in"
    source.mkdir()
    for name, lines in files.items():
        (source / name).write_bytes(("\r\n".join(lines) + "\r\n").encode())
    result = submit(
        *job_args(source, tmp_path), "--top-sessions", "1",
        conf=["spark.sql.session.timeZone=America/New_York",
              "spark.driver.extraJavaOptions=-Duser.timezone=America/New_York"],
        env={"TZ": "America/New_York"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "top.tsv").read_bytes() == b"artist_name\ttrack_name\tplay_count\nCake\tJolene\t3\n"


@pytest.mark.slow
def test_unusable_inputs_exit_2_with_one_line(tmp_path, in_process):
    # through spark-submit once (the process's exit code and stderr), the other cases in process
    (tmp_path / "top.tsv").write_text("earlier good answer\n")
    missing = submit(*job_args(tmp_path / "nope.tsv", tmp_path))
    assert_one_line_error(missing, 2, "input not found", "nope.tsv")

    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert_one_line_error(in_process(*job_args(empty, tmp_path)), 2, "input is empty", "empty.tsv")

    garbage = tmp_path / "garbage.tsv"
    garbage.write_text("not\ta play\nnor\tthis\n")
    assert_one_line_error(in_process(*job_args(garbage, tmp_path)), 2, "no valid rows", "garbage.tsv")
    assert (tmp_path / "top.tsv").read_text() == "earlier good answer\n"

    bad_usage = in_process("--input", str(garbage), "--output", "o.tsv")
    assert_one_line_error(bad_usage, 2, "--warehouse")


@pytest.mark.slow
def test_too_many_rejects_exit_3_and_keep_the_earlier_deliverable(tmp_path, in_process):
    output = tmp_path / "top.tsv"
    output.write_text("earlier good answer\n")
    source = tmp_path / "dirty.tsv"
    plays = "".join(f"u1\t2009-01-01T00:00:{second:02d}Z\t\tCake\t\tJolene\n" for second in range(50))
    plays += "".join(f"u1\t2009-01-01T00:01:{second:02d}Z\t\tCake\t\tJolene\n" for second in range(49))
    source.write_text(plays + "u1\tbroken\n")
    result = submit(*job_args(source, tmp_path), "--max-reject-fraction", "0.001")
    assert_one_line_error(result, 3, "1 of 100 lines rejected", "--max-reject-fraction 0.001", "dirty.tsv")
    assert output.read_text() == "earlier good answer\n"

    # --warn-only (in process): the same threshold is logged, listed in the run summary, and the run goes on
    warned = in_process(*job_args(source, tmp_path), "--max-reject-fraction", "0.001", "--warn-only")
    assert warned.returncode == 0, warned.stderr[-3000:]
    assert output.read_text() == "artist_name\ttrack_name\tplay_count\nCake\tJolene\t99\n"
    (warning,) = json.loads((tmp_path / "run_summary.json").read_text())["expectation_warnings"]
    assert "1 of 100 lines rejected" in warning and "--max-reject-fraction 0.001" in warning


@pytest.mark.slow
def test_a_delta_constraint_violation_exits_3_even_with_warn_only(spark, tmp_path):
    # a constraint another writer put on the plays table (Delta keeps it across overwrites): a
    # violation is never a warning
    plays = str(tmp_path / "wh" / "plays")
    spark.createDataFrame([], PLAYS).write.format("delta").save(plays)
    spark.sql(f"ALTER TABLE delta.`{plays}` ADD CONSTRAINT no_cake CHECK (artist_name <> 'Cake')")
    (tmp_path / "top.tsv").write_text("earlier good answer\n")
    source = tmp_path / "in.tsv"
    source.write_text("u1\t2009-01-01T00:00:00Z\t\tCake\t\tJolene\n")
    result = submit(*job_args(source, tmp_path), "--warn-only")
    assert_one_line_error(result, 3, plays, "no_cake")
    assert (tmp_path / "top.tsv").read_text() == "earlier good answer\n"


@pytest.mark.slow
def test_an_unexpected_failure_exits_1_with_one_line_and_the_trace_in_the_log(tmp_path):
    # the warehouse's folder is a file: the first Delta write fails deep in Hadoop (a Java
    # exception through Py4J), not as a JobError
    source = tmp_path / "in.tsv"
    source.write_text("u1\t2009-01-01T00:00:00Z\t\tCake\t\tJolene\n")
    (tmp_path / "taken").write_text("a file, not a folder\n")
    result = submit("--input", str(source), "--output", str(tmp_path / "top.tsv"),
                    "--warehouse", str(tmp_path / "taken" / "wh"))
    assert_one_line_error(result, 1, str(tmp_path / "taken" / "wh"))
    assert "An error occurred while calling" not in result.stderr  # the Java exception's own words, not Py4J's
    assert "Traceback" in result.stdout and "run failed" in result.stdout  # the whole trace, in the log


@pytest.mark.slow
def test_two_incremental_runs_started_at_once_one_completes_and_nothing_is_ingested_twice(tmp_path):
    # a retry overlapping a slow run, on an empty warehouse: both create the tables at once
    landing = tmp_path / "landing"
    landing.mkdir()
    for day, seed in (("2026-11-01", 21), ("2026-11-02", 22)):
        write_sample(landing / f"{day}.tsv", rows=3000, users=10, seed=seed, malformed_every=10_000)
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    command = [str(bin_dir / "spark-submit"), "--conf", "spark.ui.enabled=false", "jobs/top_tracks.py",
               *job_args(landing, tmp_path), "--incremental"]
    runs = [subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
            for _ in range(2)]
    results = [subprocess.CompletedProcess(command, r.wait(timeout=600), *r.communicate()) for r in runs]

    codes = sorted(r.returncode for r in results)
    assert codes in ([0, 0], [0, 4]), [r.stderr[-2000:] for r in results]
    for stopped in (r for r in results if r.returncode == 4):
        assert_one_line_error(stopped, 4, "another run", str(tmp_path / "wh"))
    # the tables and the answer are a completed run's: every valid line once, DuckDB's answer
    assert DeltaTable(str(tmp_path / "wh" / "plays")).to_pyarrow_table().num_rows == 6000
    assert read_tsv(str(tmp_path / "top.tsv")) == top_tracks(str(landing / "*.tsv"))
    statuses = [s for s in DeltaTable(str(tmp_path / "wh" / "runs")).to_pyarrow_table().column("status").to_pylist()
                if s != "rebuilding"]
    assert len(statuses) == 2 and statuses.count("failed") == codes.count(4)
    # and the warehouse is whole: the next run finds nothing new
    after = submit(*job_args(landing, tmp_path), "--incremental")
    assert after.returncode == 0 and "nothing new since the last run" in after.stdout, after.stderr[-2000:]
