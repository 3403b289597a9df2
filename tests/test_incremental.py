"""Incremental runs: each file ingested once, the sessions of touched users recomputed, and any
sequence of runs ending where a full run over the same files ends."""

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from lastfm import ingest, pipeline
from lastfm.config import JobConfig
from lastfm.pipeline import run
from lastfm.question.parsing import parse_lines, valid_plays
from lastfm.question.sessions import build_sessions
from lastfm.schemas import SESSIONS
from lastfm.storage.reading import latest_commit, read_lines, read_table
from lastfm.tables import ANSWER_TABLES
from lastfm.testing.duckdb_reference import read_tsv
from lastfm.testing.duckdb_reference import top_tracks as duckdb_top_tracks
from lastfm.testing.sample_data import land, write_sample

pytestmark = pytest.mark.slow


def configs(tmp_path, **question):
    """(incremental, full) configs: the same input folder, a warehouse and an output each."""
    made = [JobConfig(input=str(tmp_path / "landing"), output=str(tmp_path / name / "top.tsv"),
                      warehouse=str(tmp_path / name / "wh"), incremental=name == "incremental", **question)
            for name in ("incremental", "full")]
    return tuple(made)


def sessions_rows(spark, config):
    """The sessions, without the batch and rules each row was written by (a run's bookkeeping)."""
    return sorted(tuple(r) for r in read_table(spark, config.table_path("sessions")).select(*SESSIONS.fieldNames())
                  .collect())


def full_sessions(spark, config):
    """The sessions of one parse of every input file, by the full run's own transforms."""
    every_file = valid_plays(read_lines(spark, config.input).transform(parse_lines))
    return sorted(tuple(r) for r in every_file.transform(build_sessions(config.session_gap_seconds)).collect())


def versions(spark, config):
    return {name: latest_commit(spark, config.table_path(name))["version"] for name in ANSWER_TABLES}


@pytest.mark.e2e
def test_daily_files_with_late_plays_and_a_run_killed_writing_its_deliverable_end_as_a_full_run_does(
        spark, tmp_path, monkeypatch):
    sample = write_sample(tmp_path / "sample.tsv", rows=4000, users=8, seed=5, malformed_every=900)
    lines = sample.read_text(encoding="utf-8").splitlines()
    random.Random(7).shuffle(lines)  # every day holds plays older than the day before's: late data
    days = [lines[:2000], lines[2000:3500], lines[3500:]]
    incremental, full = configs(tmp_path, top_sessions=5, top_tracks=8, max_reject_fraction=0.01)

    for day, day_lines in enumerate(days):
        land(tmp_path / "landing", f"2026-11-{day + 1:02d}", day_lines)
        if day == 1:
            # killed between its side files and the deliverable (the kills between two commits are
            # real SIGKILLs: tests/test_kills.py): the retry answers again, not "nothing new"
            monkeypatch.setattr(pipeline, "write_single_tsv", lambda *a: (_ for _ in ()).throw(OSError("killed")))
            with pytest.raises(OSError):
                run(spark, incremental)
            monkeypatch.undo()
            assert not run(spark, incremental).nothing_new
        else:
            last = run(spark, incremental)
    runs = (read_table(spark, incremental.table_path("runs")).where("status != 'rebuilding'")
            .orderBy("started_at").collect())
    assert [(r["status"], r["rows_added"], len(r["input_files_ingested"])) for r in runs] == [
        ("succeeded", len(days[0]), 1), ("failed", len(days[1]), 1), ("succeeded", 0, 0),  # the retry took no file
        ("succeeded", len(days[2]), 1)]
    # the second and third days were merged into the sessions, not rebuilt (nor by the retry)
    assert versions(spark, incremental)["plays"] == 2 and versions(spark, incremental)["sessions"] == 2

    reference = run(spark, full)
    plays_and_rejects = [(read_table(spark, c.table_path("plays")).count(),
                          sorted(r[:2] for r in read_table(spark, c.table_path("rejects")).collect()))
                         for c in (incremental, full)]
    assert plays_and_rejects[0] == plays_and_rejects[1]  # every play once, every rejected line once
    assert sessions_rows(spark, incremental) == sessions_rows(spark, full)
    assert (tmp_path / "incremental" / "top.tsv").read_bytes() == (tmp_path / "full" / "top.tsv").read_bytes()
    assert read_tsv(incremental.output) == duckdb_top_tracks(str(tmp_path / "landing" / "*" / "*.tsv"), top_sessions=5,
                                                             top_tracks=8)
    for key in ("rows_read", "rows_valid", "rows_rejected", "sessions", "users", "duplicate_plays"):
        assert getattr(last, key) == getattr(reference, key), key
    # the profile of the batches combined is the profile of one parse of all the files; the
    # distinct names too, but one sketch and a union of sketches are read by other estimators
    profiles = [json.loads((tmp_path / name / "profile.json").read_text()) for name in ("incremental", "full")]
    distinct = [[p["columns"][c].pop("distinct_approx") for c in ("artist_name", "track_name")] for p in profiles]
    assert profiles[0] == profiles[1]
    assert all(abs(a - b) <= 0.02 * b for a, b in zip(*distinct)), distinct


def test_plays_are_laid_out_by_time_so_a_days_read_opens_the_files_of_its_time_only(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "PLAYS_FILE_ROWS", 300)
    lines = sorted(write_sample(tmp_path / "sample.tsv", rows=2000, users=6, seed=3, malformed_every=10_000)
                   .read_text(encoding="utf-8").splitlines(), key=lambda line: line.split("\t")[1])
    incremental, _ = configs(tmp_path)
    land(tmp_path / "landing", "a", lines[:-50])
    run(spark, incremental)
    land(tmp_path / "landing", "b", lines[-50:])  # the newest 50 plays: a day
    run(spark, incremental)

    plays = read_table(spark, incremental.table_path("plays"))
    files = (plays.groupBy(F.input_file_name(), "batch")
             .agg(F.count(F.lit(1)).alias("rows"), F.min("ts").alias("first"), F.max("ts").alias("last"))
             .orderBy("first").collect())
    first = [f for f in files if f["batch"] == 0]
    assert len(first) == -(-sum(f["rows"] for f in first) // 300) and max(f["rows"] for f in first) < 2 * 300
    assert all(a["last"] <= b["first"] for a, b in pairwise(first))  # spans of time that do not overlap
    assert [f["rows"] for f in files if f["batch"] == 1] == [50]  # the day in one file
    day = plays.where(F.col("ts") >= F.lit(files[-1]["first"]))
    assert day.count() == 50 and len(day.inputFiles()) == 1  # Delta skipped every other file


def test_the_last_answer_is_kept_while_its_top_sessions_stand_and_recounted_when_they_change(spark, tmp_path):
    play = lambda user, stamp, track: f"{user}\t2009-05-{stamp}Z\t\tart\t\t{track}"  # noqa: E731
    incremental, _ = configs(tmp_path, top_sessions=1, top_tracks=2)
    land(tmp_path / "landing", "1", [play("a", "01T10:00:00", "s1"), play("a", "01T10:05:00", "s1"),
                                     play("a", "01T10:10:00", "s2"), play("a", "01T10:15:00", "s1"),
                                     play("a", "01T10:20:00", "s3"), play("b", "02T10:00:00", "s2"),
                                     play("b", "02T10:05:00", "s2"), play("b", "02T10:10:00", "s4")])
    assert not run(spark, incremental).top_tracks_reused  # nothing to keep yet
    land(tmp_path / "landing", "2", [play("c", "03T10:00:00", "s4")])  # a session of one: a's stays the longest
    kept = run(spark, incremental)
    assert kept.top_tracks_reused and read_tsv(incremental.output) == [("art", "s1", 3), ("art", "s2", 1)]
    land(tmp_path / "landing", "3", [play("a", "01T10:12:00", "s3")])  # late, inside a's session: its count changes
    recounted = run(spark, incremental)
    assert not recounted.top_tracks_reused and read_tsv(incremental.output) == [("art", "s1", 3), ("art", "s3", 2)]
    assert read_tsv(incremental.output) == duckdb_top_tracks(str(tmp_path / "landing" / "*" / "*.tsv"), top_sessions=1,
                                                             top_tracks=2)
    land(tmp_path / "landing", "4", [play("c", "04T10:00:00", "s4")])
    assert run(spark, incremental).top_tracks_reused  # the answer of day 3 kept on day 4
    assert not run(spark, replace(incremental, top_tracks=1)).top_tracks_reused  # another question
    assert read_tsv(incremental.output) == [("art", "s1", 3)]


def test_sessions_rebuilt_by_other_rules_and_killed_are_rebuilt_by_the_next_run(spark, tmp_path, monkeypatch):
    lines = write_sample(tmp_path / "sample.tsv", rows=1500, users=4, seed=12).read_text(encoding="utf-8").splitlines()
    incremental, _ = configs(tmp_path)
    land(tmp_path / "landing", "a", lines[:1000])
    run(spark, incremental)
    # a full run with another gap writes its sessions, then dies before its runs row
    monkeypatch.setattr(pipeline, "top_session_rows", lambda *a: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        run(spark, JobConfig(**{**vars(incremental), "incremental": False, "session_gap_minutes": 5}))
    monkeypatch.undo()
    land(tmp_path / "landing", "b", lines[1000:])
    run(spark, incremental)  # the 20-minute sessions, not the 5-minute ones updated
    assert sessions_rows(spark, incremental) == full_sessions(spark, incremental)


BASE = datetime(2020, 3, 1, tzinfo=timezone.utc)
plays_strategy = st.lists(
    st.tuples(st.sampled_from(["u1", "u2", "u3"]),
              st.integers(0, 400).map(lambda minute: minute * 60) | st.sampled_from([0, 1200, 1201, 2400, 2401]),
              st.sampled_from([("A", "x"), ("A", "y"), ("B", "x"), ("C", 'say "hi"')]),
              st.integers(0, 2)),  # the batch the play lands in
    min_size=1, max_size=60)
modes_strategy = st.lists(st.booleans(), min_size=3, max_size=3)  # per batch: a daily run or a full one


# few examples, no shrinking: each runs the job up to three times (~25 s a run here)
@settings(max_examples=3, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plays=plays_strategy, daily=modes_strategy)
def test_any_split_into_batches_ends_as_a_full_run(spark, tmp_path_factory, plays, daily):
    """Random plays dealt into up to three daily files in random time order, a run after each
    lands, daily or full at random: the sessions are those of one parse of all the files (the full
    run's own transforms), the answer DuckDB's on all the files."""
    # a file whose content is an earlier file's is a re-delivery, skipped (test_daily_runs.py): here
    # every file is new
    contents = [sorted((u, s, song) for u, s, song, b in plays if b == batch) for batch in range(3)]
    assume(all(a != b for i, a in enumerate(contents) for b in contents[i + 1:] if a))
    tmp_path = tmp_path_factory.mktemp("split")
    # random plays repeat each other far more than real ones: that expectation is not the point
    incremental, _ = configs(tmp_path, top_sessions=2, top_tracks=3, max_duplicate_fraction=1)
    line = lambda user, second, song: (  # noqa: E731
        f"{user}\t{(BASE + timedelta(seconds=second)).strftime('%Y-%m-%dT%H:%M:%SZ')}\t\t{song[0]}\t\t{song[1]}")
    for batch in sorted({b for *_, b in plays}):
        land(tmp_path / "landing", f"batch{batch}", [line(u, s, song) for u, s, song, b in plays if b == batch])
        # random plays repeat each other far more than real ones: no file is a re-delivery here
        run(spark, JobConfig(**{**vars(incremental), "incremental": daily[batch], "max_repeat_fraction": 1}))
    assert sessions_rows(spark, incremental) == full_sessions(spark, incremental)
    assert read_tsv(incremental.output) == duckdb_top_tracks(str(tmp_path / "landing" / "*" / "*.tsv"),
                                                             top_sessions=2, top_tracks=3)
