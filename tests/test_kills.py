"""Kills: a run through spark-submit whose whole process group is stopped right after each Delta
commit it makes, where a SIGKILL would leave it (no `except`, no `finally` runs), then the retry and
one more day. Whatever commit the kill followed, the warehouse ends as a full run over the same
files leaves it, and the answer is DuckDB's; the retry exits as the runbook says.

The run stops itself (SIGSTOP) after its Nth commit (storage/writing.py: LASTFM_STOP_AFTER_COMMIT,
with every commit listed in LASTFM_COMMIT_LOG): the moment is the commit's, not a sleep's. For
each kind of run (a day, a day whose only file is refused, a full rebuild under new rules that
re-admits a refused file), one run is frozen there, its whole process group, after each of its
commits, and its folder copied: what a SIGKILL at that moment leaves, since nothing more reaches
the disk; then it goes on. Each kill point starts from its copy. Runs SIGKILLed for real (a day
after its sessions' MERGE, a refused day before its row) show that a kill leaves what the copies
hold.
"""

import os
import random
import shutil
import signal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lastfm.commands import maintain
from lastfm.storage.reading import read_table
from lastfm.testing.duckdb_reference import read_tsv
from lastfm.testing.duckdb_reference import top_tracks as duckdb_top_tracks
from lastfm.testing.kills import (
    commits_in,
    killed_after_commit,
    run_job,
    states_after_each_commit,
    stopped_after_commit,
)
from lastfm.testing.sample_data import land, write_sample

# on the default line: each test starts a spark-submit, and runs the job twice more in this JVM
pytestmark = pytest.mark.slow

QUESTION = ["--top-sessions", "5", "--top-tracks", "8", "--max-reject-fraction", "0.01"]
NEW_GAP = ["--session-gap-minutes", "30"]  # new rules: the sessions built anew
# the commits of a day with rejected lines and late plays, in order: the claim, the batch's rows, the
# record's outcome, the sessions' MERGE, the answer's two tables (written side by side, in either
# order), the run's row (with the run's profile)
DAY_ORDER = ["files", "plays", "rejects", "files", "sessions", "answer", "answer", "runs"]
# a day whose only file is refused: claim, quarantine, outcome, runs (its sessions and top sessions
# are the day before's: the answer kept, `top_sessions` and `top_tracks` not written again)
REFUSED_DAY_ORDER = ["files", "quarantine", "files", "runs"]
ANSWER = ("top_sessions", "top_tracks")


def argv(root: Path, warehouse: str = "wh", daily: bool = True) -> list[str]:
    """The daily run's arguments (`--incremental`), or a full run's, over `root`'s landing folder."""
    return ["--input", str(root / "landing"), "--output", str(root / warehouse / "top.tsv"),
            "--warehouse", str(root / warehouse / "tables"), *QUESTION, *(["--incremental"] if daily else [])]


@pytest.fixture(scope="module")
def history(spark, tmp_path_factory):
    """Three days of a user base's plays, shuffled so that each day holds plays older than the day
    before's (late plays), with malformed lines; a warehouse that took day 1 (`pristine`, for each
    kill to start from at the same paths); a day-3 file; and the reference: a full run over the
    three days, whose answer is DuckDB's."""
    root = tmp_path_factory.mktemp("kills")
    lines = write_sample(root / "sample.tsv", rows=3000, users=6, seed=21,
                         malformed_every=500).read_text(encoding="utf-8").splitlines()
    random.Random(21).shuffle(lines)
    days = [lines[:1500], lines[1500:2500], lines[2500:]]
    work = root / "work"
    files = [land(work / "landing", "1", days[0])]
    assert run_job(spark, argv(work)) == 0
    shutil.copytree(work, root / "pristine")
    files += [land(root / "days", "2", days[1]), land(root / "days", "3", days[2])]
    reference_root = root / "reference"
    (reference_root / "landing").mkdir(parents=True)
    for f in files:
        shutil.copy(f, reference_root / "landing" / f.name)
    assert run_job(spark, argv(reference_root, "full", daily=False)) == 0
    answer = read_tsv(str(reference_root / "full" / "top.tsv"))
    assert answer == duckdb_top_tracks([str(f) for f in files], top_sessions=5, top_tracks=8)
    return root, files, tables_of(spark, reference_root / "full" / "tables") | {"answer": answer}


def tables_of(spark, warehouse: Path) -> dict:
    """What a warehouse holds that a kill could get wrong: every play once, every rejected line
    once, the sessions' plays, the quarantine."""
    table = lambda name: read_table(spark, str(warehouse / name))  # noqa: E731
    return {"plays": table("plays").count(),
            "rejects": sorted((r.line, r.reason) for r in table("rejects").collect()),
            "session_plays": table("sessions").groupBy().sum("play_count").first()[0],
            "sessions": sorted(tuple(r) for r in table("sessions").select(
                "user_id", "session_number", "session_start", "session_end", "play_count", "duplicate_plays")
                .collect())}


def retried_then_next_day(spark, work: Path, retry: list[str], next_day: list[str], day: Path,
                          expected: dict) -> None:
    """The retry of a killed run ("run it again": `retry` exits 0), then `day` lands and the next
    day's run (`next_day`) exits 0: the warehouse ends as `expected` (a reference: `tables_of` a
    full run's warehouse, and its answer, DuckDB's)."""
    assert run_job(spark, retry) == 0
    shutil.copy(day, work / "landing" / day.name)
    assert run_job(spark, next_day) == 0
    assert tables_of(spark, work / "wh" / "tables") == {k: v for k, v in expected.items() if k != "answer"}
    assert read_tsv(str(work / "wh" / "top.tsv")) == expected["answer"]


def fresh_warehouse(spark, root: Path) -> Path:
    """The warehouse as day 1 left it, at its own paths (the record names the files by path)."""
    shutil.rmtree(root / "work")
    shutil.copytree(root / "pristine", root / "work")
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # its tables were replaced under it
    return root / "work"


def test_the_plan_printed_is_the_one_the_run_carries_out_and_printing_it_writes_nothing(
        spark, history, tmp_path, capsys, caplog):
    root, files, _ = history
    work = fresh_warehouse(spark, root)
    shutil.copy(files[1], work / "landing" / files[1].name)
    before = {p: p.stat().st_size for p in work.rglob("*")}
    assert run_job(spark, [*argv(work), "--plan"]) == 0
    printed = capsys.readouterr().out.strip()
    assert {p: p.stat().st_size for p in work.rglob("*")} == before
    lines = printed.splitlines()
    assert lines[:2] == ["plan: an incremental run", "batch 1: 1 file(s)"]
    assert lines[2].startswith("  new file:/") and lines[2].split(": ", 1)[0].endswith(f"/landing/{files[1].name}")
    assert "sessions: updated with the plays of batches 1-1" in lines
    with caplog.at_level("INFO", logger="lastfm"):
        assert run_job(spark, argv(work)) == 0
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("plan:")] == [printed]
    # nothing new holds while the deliverable is the one the runs table records (its sha256)
    output = work / "wh" / "top.tsv"
    answered = output.read_text()
    assert run_job(spark, argv(work)) == 0 and last_status(spark, work) == "nothing_new"
    output.write_text(answered.replace("\t", " ", 1))  # edited by hand
    assert run_job(spark, argv(work)) == 0 and last_status(spark, work) == "succeeded"
    assert output.read_text() == answered


def last_status(spark, work: Path) -> str:
    return read_table(spark, str(work / "wh" / "tables" / "runs")).orderBy("ended_at").collect()[-1]["status"]


@pytest.fixture(scope="module")
def killed_day(spark, history, tmp_path_factory):
    """Day 2 through spark-submit, frozen after each of its commits (`frozen_run`)."""
    root, files, _ = history
    work = fresh_warehouse(spark, root)
    shutil.copy(files[1], work / "landing" / files[1].name)
    return frozen_run(root, tmp_path_factory.mktemp("killed_day"), argv(work), DAY_ORDER)


# after each commit, from one run frozen there
@pytest.mark.xdist_group("kills_day")
@pytest.mark.parametrize("stop_after", range(1, len(DAY_ORDER) + 1))
def test_a_day_killed_after_any_commit_is_finished_by_the_retry(spark, history, killed_day, stop_after):
    root, files, reference = history
    work = killed_state(spark, root, killed_day, stop_after)
    retried_then_next_day(spark, work, argv(work), argv(work), files[2], reference)


def test_a_day_sigkilled_after_its_sessions_merge_counts_every_play_once(spark, history, tmp_path):
    stop_after = DAY_ORDER.index("sessions") + 1  # `sessions` holds the day, the run's row does not yet
    root, files, reference = history
    work = fresh_warehouse(spark, root)
    shutil.copy(files[1], work / "landing" / files[1].name)
    assert killed_after_commit(argv(work), stop_after, tmp_path / "commits.log") == DAY_ORDER[:stop_after]
    retried_then_next_day(spark, work, argv(work), argv(work), files[2], reference)


@pytest.fixture(scope="module")
def killed_refused_day(spark, history, tmp_path_factory):
    """Day 2 of a single file of garbage, refused (exit 3), through spark-submit, frozen after each
    of its commits (`frozen_run`)."""
    root, _, _ = history
    work = fresh_warehouse(spark, root)
    garbage = land(work / "landing", "2-garbage", ["not a play"] * 50)
    return frozen_run(root, tmp_path_factory.mktemp("killed_refused_day"), argv(work), REFUSED_DAY_ORDER,
                      code=3) | {"garbage": garbage}


# after each commit, from one run frozen there
@pytest.mark.xdist_group("kills_refused_day")
@pytest.mark.parametrize("stop_after", range(1, len(REFUSED_DAY_ORDER) + 1))
def test_a_day_whose_only_file_is_refused_killed_after_any_commit_still_alerts_then_heals(
        spark, history, killed_refused_day, stop_after):
    root, files, reference = history
    work = killed_state(spark, root, killed_refused_day, stop_after)
    # the retry: the file is refused (exit 3, once or again), never a wedged warehouse (exit 1)
    assert run_job(spark, argv(work)) == 3
    for f in files[1:]:
        shutil.copy(f, work / "landing" / f.name)
    assert run_job(spark, argv(work)) == 0  # the next days, the refused file listed, not blocking
    expected = {k: v for k, v in reference.items() if k != "answer"}
    assert tables_of(spark, work / "wh" / "tables") == expected
    assert read_tsv(str(work / "wh" / "top.tsv")) == reference["answer"]
    quarantine = read_table(spark, str(work / "wh" / "tables" / "quarantine"))
    assert quarantine.count() == 50  # its lines once, whatever the kill
    (row,) = read_table(spark, str(work / "wh" / "tables" / "runs")).orderBy(F.desc("ended_at")).limit(1).collect()
    assert row["status"] == "succeeded" and row["quarantine_unresolved"] == [f"file:{killed_refused_day['garbage']}"]


def test_a_refusal_whose_run_was_killed_before_its_row_is_reported_by_the_next_days_run(spark, history, tmp_path):
    root, files, reference = history
    work = fresh_warehouse(spark, root)
    land(work / "landing", "2-garbage", ["not a play"] * 50)
    assert killed_after_commit(argv(work), 3, tmp_path / "commits.log")[2] == "files"  # after the outcome
    for f in files[1:]:  # the next day lands before anyone retries
        shutil.copy(f, work / "landing" / f.name)
    assert run_job(spark, argv(work)) == 3  # the refusal reported, the new files ingested
    assert run_job(spark, argv(work)) == 0  # reported once: its row says so
    assert read_tsv(str(work / "wh" / "top.tsv")) == reference["answer"]


def test_maintenance_during_a_daily_run_never_makes_it_fail(spark, history, tmp_path):
    stop_after = 2  # its plays written: maintenance compacts them before the run writes its rejects
    root, files, reference = history
    work = fresh_warehouse(spark, root)
    shutil.copy(files[1], work / "landing" / files[1].name)
    with stopped_after_commit(argv(work), stop_after, tmp_path / "commits.log") as (job, commits):
        assert len(commits) == stop_after
        # the maintenance job runs to its end while the daily run is stopped between two commits
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(spark, "stop", lambda: None)
            assert maintain.main(["--warehouse", str(work / "wh" / "tables")]) == 0
        os.killpg(job.pid, signal.SIGCONT)
        assert job.wait(timeout=600) in (0, 4), (tmp_path / "commits.out").read_text()[-3000:]
    # done, or its retry (exit 4: "run it again") finishes it
    retried_then_next_day(spark, work, argv(work), argv(work), files[2], reference)


def test_an_empty_file_beside_good_ones_is_admitted_with_no_play(spark, history):
    root, files, reference = history
    work = fresh_warehouse(spark, root)
    shutil.copy(files[1], work / "landing" / files[1].name)
    (work / "landing" / "empty.tsv").write_bytes(b"")  # an upstream with no plays that day
    assert run_job(spark, argv(work)) == 0
    outcomes = read_table(spark, str(work / "wh" / "tables" / "files")).where("seq % 2 = 1").collect()
    (empty,) = [r for r in outcomes if r.path.endswith("/empty.tsv")]
    assert (empty.status, empty.lines, empty.plays) == ("admitted", 0, 0)


def test_a_file_of_only_a_header_is_quarantined_and_then_listed_without_stopping_the_days(spark, history):
    root, files, reference = history
    work = fresh_warehouse(spark, root)
    shutil.copy(files[1], work / "landing" / files[1].name)
    header = land(work / "landing", "2-header", ["userid\ttimestamp\tartid\tartname\ttraid\ttraname"])
    assert run_job(spark, argv(work)) == 3  # the day's good file counted, the header-only file refused
    shutil.copy(files[2], work / "landing" / files[2].name)
    assert run_job(spark, argv(work)) == 0  # the next day: the refusal listed, not alerted again
    (row,) = read_table(spark, str(work / "wh" / "tables" / "runs")).orderBy(F.desc("ended_at")).limit(1).collect()
    assert row["status"] == "succeeded" and row["quarantine_unresolved"] == [f"file:{header}"]
    assert read_tsv(str(work / "wh" / "top.tsv")) == reference["answer"]


def frozen_run(root: Path, base: Path, run: list[str], order: list[str], code: int = 0) -> dict:
    """`run` through spark-submit over `root`'s work folder as it stands, frozen after each of its
    commits and copied there (`states`/<N>); the commits the warehouse held before it and those it
    made, in `order` (with "answer" for either of the answer's two tables, each written once), and it
    exits `code`."""
    work = root / "work"
    before = commits_in(work / "wh" / "tables")
    commits, exit_code = states_after_each_commit(run, work, base / "states", base / "commits.log")
    assert exit_code == code
    assert [("answer" if table in ANSWER else table) for table, _ in commits] == order
    assert sorted(table for table, _ in commits if table in ANSWER) == sorted(ANSWER)[:order.count("answer")]
    return {"run": run, "before": before, "commits": commits, "states": base / "states"}


def reference_of(spark, base: Path, files: list[Path], options: list[str], gap_minutes: int = 20) -> dict:
    """What a full run over `files` with `options` leaves (tables_of), and its answer, DuckDB's."""
    reference_root = base / "reference"
    for f in files:
        (reference_root / "landing" / f.parent.name).mkdir(parents=True)
        shutil.copy(f, reference_root / "landing" / f.parent.name / f.name)
    assert run_job(spark, [*argv(reference_root, "full", daily=False), *options]) == 0
    answer = read_tsv(str(reference_root / "full" / "top.tsv"))
    assert answer == duckdb_top_tracks([str(f) for f in files], gap_seconds=gap_minutes * 60, top_sessions=5,
                                       top_tracks=8)
    return tables_of(spark, reference_root / "full" / "tables") | {"answer": answer}


def killed_state(spark, root: Path, frozen: dict, stop_after: int) -> Path:
    """The work folder as a kill right after the frozen run's `stop_after`th commit leaves it, at its
    own paths; it holds that commit and those before, and no later one (but the other answer
    table's, written beside it)."""
    shutil.rmtree(root / "work")
    shutil.copytree(frozen["states"] / str(stop_after), root / "work", symlinks=True)
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    landed = commits_in(root / "work" / "wh" / "tables") - frozen["before"]
    commits = frozen["commits"]
    beside = stop_after < len(commits) and {commits[stop_after - 1][0], commits[stop_after][0]} == set(ANSWER)
    assert set(commits[:stop_after]) <= landed <= set(commits[:stop_after + beside])
    return root / "work"


@pytest.fixture(scope="module")
def readmitting_rebuild(spark, history, tmp_path_factory):
    """A day-2 file with garbage appended, refused (too many rejected lines); then a full run (no
    --incremental) that re-admits it (--readmit) under a new session gap (30 minutes), frozen after
    each of its commits, a day's in a day's order (`frozen_run`): `plays` rebuilt with the
    re-admitted file, `sessions` built anew under the new rules. The reference: a full run over days
    1, 2 (as refused) and 3 that admits every file, under that gap."""
    root, files, _ = history
    base = tmp_path_factory.mktemp("readmitting_rebuild")
    work = fresh_warehouse(spark, root)
    day2 = files[1].read_text(encoding="utf-8").splitlines()
    bad = land(work / "landing", "2-bad", [*day2, *["not a play"] * 30])
    assert run_job(spark, argv(work)) == 3  # 32 of 1030 lines rejected, above --max-reject-fraction 0.01
    run = [*argv(work, daily=False), *NEW_GAP, "--readmit", f"file:{bad}"]
    frozen = frozen_run(root, base, run, DAY_ORDER)
    options = [*NEW_GAP, "--max-reject-fraction", "1"]
    return frozen | {"reference": reference_of(spark, base, [files[0], bad, files[2]], options, gap_minutes=30)}


# after each commit, from one run frozen there
@pytest.mark.xdist_group("kills_readmitting_rebuild")
@pytest.mark.parametrize("stop_after", range(1, len(DAY_ORDER) + 1))
def test_a_full_rebuild_under_new_rules_that_readmits_a_file_killed_after_any_commit_is_finished_by_its_retry(
        spark, history, readmitting_rebuild, stop_after):
    root, files, _ = history
    work = killed_state(spark, root, readmitting_rebuild, stop_after)
    # the retry is the same command; the next day runs under the new rules
    retried_then_next_day(spark, work, readmitting_rebuild["run"], [*argv(work), *NEW_GAP], files[2],
                          readmitting_rebuild["reference"])
