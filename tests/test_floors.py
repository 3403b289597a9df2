"""The benchmark's floors (lastfm/testing/floors.py): the job's transforms composed without
tables (bare_top_tracks, the benchmark's `spark_bare`) and the least increment (bare_increment,
its `spark_bare_increment`), against DuckDB's independent answer."""

import random

import pytest

from lastfm.config import JobConfig
from lastfm.pipeline import run
from lastfm.question.parsing import parse_lines, valid_plays
from lastfm.question.sessions import build_sessions
from lastfm.storage.reading import read_lines, read_table
from lastfm.testing.duckdb_reference import top_tracks
from lastfm.testing.floors import bare_increment, bare_top_tracks
from lastfm.testing.sample_data import write_sample


@pytest.mark.usefixtures("ansi_mode")
def test_the_bare_transforms_give_duckdbs_answer(spark, tmp_path):
    path = str(write_sample(tmp_path / "plays.tsv", rows=30_000, users=12, seed=3, malformed_every=5_000))
    for gap, sessions, tracks in ((1200, 50, 10), (300, 5, 7)):
        got = [(r["artist_name"], r["track_name"], r["play_count"])
               for r in bare_top_tracks(spark, path, gap, sessions, tracks)]
        assert got == top_tracks(path, gap_seconds=gap, top_sessions=sessions, top_tracks=tracks)


@pytest.mark.slow
def test_the_least_increment_gives_duckdbs_answer_on_both_files(spark, tmp_path):
    lines = write_sample(tmp_path / "plays.tsv", rows=6000, users=6, seed=11).read_text(encoding="utf-8").splitlines()
    random.Random(2).shuffle(lines)  # the day holds plays older than some of the history's: late data
    history, day, every_play = tmp_path / "in" / "history.tsv", tmp_path / "day.tsv", tmp_path / "all.tsv"
    history.parent.mkdir()
    for path, part in ((history, lines[:5000]), (day, lines[5000:]), (every_play, lines)):
        path.write_text("\n".join(part) + "\n", encoding="utf-8")
    warehouse = str(tmp_path / "wh")
    run(spark, JobConfig(str(history.parent), str(tmp_path / "top.tsv"), warehouse, top_sessions=4))

    got = bare_increment(spark, str(day), warehouse, 1200, 4, 10)
    assert ([(r["artist_name"], r["track_name"], r["play_count"]) for r in got]
            == top_tracks(str(every_play), top_sessions=4))
    # the sessions are those of all plays at once; only the duplicates across the two files go uncounted
    fields = ["user_id", "session_number", "session_id", "session_start", "session_end", "play_count"]
    merged = read_table(spark, f"{warehouse}/sessions").select(*fields).collect()
    whole = valid_plays(read_lines(spark, str(every_play)).transform(parse_lines)).transform(build_sessions(1200))
    assert sorted(merged) == sorted(whole.select(*fields).collect())
