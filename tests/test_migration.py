"""A warehouse that the job of 5 Dec 2026 wrote (tests/fixtures/warehouse-2026-12-05: two daily
runs over day1.tsv and day2.tsv, whose landing folder is gone since, as a lifecycle rule leaves
it) is taken over in place by a daily run: its `sessions`, which say nothing of what they hold,
are built anew from `plays` in one commit; every other table is read as it is. A SIGKILL right
before or right after that commit changes nothing of the end."""

import shutil
from pathlib import Path

import pytest

from lastfm.storage.reading import read_table
from lastfm.testing.duckdb_reference import read_tsv
from lastfm.testing.duckdb_reference import top_tracks as duckdb_top_tracks
from lastfm.testing.kills import killed_after_commit, run_job
from lastfm.testing.sample_data import land

# the fixture is of the default line (Delta 4.4), as a warehouse stays on its line
pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "warehouse-2026-12-05"
QUESTION = ["--top-sessions", "5", "--top-tracks", "8", "--max-reject-fraction", "0.02", "--incremental"]


def argv(root: Path) -> list[str]:
    return ["--input", str(root / "landing"), "--output", str(root / "out" / "top.tsv"),
            "--warehouse", str(root / "wh"), *QUESTION]


def test_the_fixture_is_what_its_job_answered(spark):
    days = [str(FIXTURE / f"day{n}.tsv") for n in (1, 2)]
    assert read_tsv(str(FIXTURE / "top.tsv")) == duckdb_top_tracks(days, top_sessions=5, top_tracks=8)
    assert set(read_table(spark, str(FIXTURE / "tables" / "sessions")).columns) >= {"session_id", "play_count"}
    assert "batch" not in read_table(spark, str(FIXTURE / "tables" / "sessions")).columns  # the old layout


# not killed; killed right after the commit that rebuilds `sessions` (day 3 has no rejected line:
# claim, plays, outcome, sessions)
@pytest.mark.parametrize("killed_after", [None, 4])
def test_a_daily_run_takes_over_a_warehouse_of_the_previous_layout(spark, tmp_path, killed_after):
    shutil.copytree(FIXTURE / "tables", tmp_path / "wh")
    day3 = land(tmp_path / "landing", "3", (FIXTURE / "day3.tsv").read_text(encoding="utf-8").splitlines())
    if killed_after is not None:
        commits = killed_after_commit(argv(tmp_path), killed_after, tmp_path / "commits.log")
        assert commits == ["files", "plays", "files", "sessions"][:killed_after]
    assert run_job(spark, argv(tmp_path)) == 0

    sessions = read_table(spark, str(tmp_path / "wh" / "sessions"))
    assert {"batch", "rules"} <= set(sessions.columns)
    plays = read_table(spark, str(tmp_path / "wh" / "plays")).count()
    assert sessions.groupBy().sum("play_count").first()[0] == plays  # every play in one session, once
    files = [str(FIXTURE / "day1.tsv"), str(FIXTURE / "day2.tsv"), str(day3)]
    assert read_tsv(str(tmp_path / "out" / "top.tsv")) == duckdb_top_tracks(files, top_sessions=5, top_tracks=8)
    assert run_job(spark, argv(tmp_path)) == 0  # and the next day: nothing new
    assert read_tsv(str(tmp_path / "out" / "top.tsv")) == duckdb_top_tracks(files, top_sessions=5, top_tracks=8)
