"""Whole runs for the tests that kill them: the job through spark-submit, stopped right after its
Nth Delta commit (storage/writing.py's kill points) and then killed or resumed, or stopped after
every commit for what a kill there leaves to be copied; and the job's command line in the tests'
own JVM for the runs around it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from lastfm.commands import top_tracks
from lastfm.storage.writing import COMMIT_LOG, STOP_AFTER_COMMIT

REPO = Path(__file__).resolve().parent.parent.parent
# the tests' own session's settings for inputs of a few thousand lines (tests/conftest.py): no UI, two
# shuffle partitions, no generated code, no adaptive execution; what a commit holds does not depend on them
TINY_INPUT_CONF = ("spark.ui.enabled=false", "spark.sql.shuffle.partitions=2", "spark.sql.codegen.wholeStage=false",
                   "spark.sql.codegen.factoryMode=NO_CODEGEN", "spark.sql.adaptive.enabled=false")


def run_job(spark: SparkSession, args: list[str]) -> int:
    """The job's command line in the caller's JVM (a retry, the days after), its exit code; the
    session outlives the run."""
    spark.stop = lambda: None  # an attribute of this object over the class's method, until deleted
    try:
        return top_tracks.main(args)
    finally:
        del spark.stop


@contextmanager
def stopped_after_commit(args: list[str], stop_after: int | str, log: Path):
    """spark-submit the job in a process group of its own (spark-submit, the JVM, the Python driver)
    and yield (the job, the tables of the commits it made, in order) once it has stopped itself
    after its `stop_after`th commit, or ended first. Whatever is left of it is killed on exit."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", COMMIT_LOG: str(log),
           STOP_AFTER_COMMIT: str(stop_after)}
    with open(log.with_suffix(".out"), "w") as out:
        conf = [arg for setting in TINY_INPUT_CONF for arg in ("--conf", setting)]
        job = subprocess.Popen([str(bin_dir / "spark-submit"), *conf, "jobs/top_tracks.py", *args], cwd=REPO, env=env,
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if stop_after != "each":
                wait_for_stop(job, log, stop_after)
            yield job, [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []
        finally:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
            job.wait(timeout=60)


def wait_for_stop(job: subprocess.Popen, log: Path, commits: int, timeout: float = 600) -> bool:
    """Wait until the job has stopped itself after its `commits`th commit (True), or ended (False)."""
    deadline = time.monotonic() + timeout
    while job.poll() is None and time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= commits and stopped(int(lines[commits - 1].split()[2])):
            return True
        time.sleep(0.05)
    return False


def states_after_each_commit(args: list[str], work: Path, states: Path, log: Path
                             ) -> tuple[list[tuple[str, int]], int]:
    """spark-submit the job, and right after each Delta commit it makes, freeze its whole process
    group (SIGSTOP: spark-submit, the JVM, the Python driver; nothing more reaches the disk) and copy
    `work` (its landing folder, warehouse and output) to `states`/<N>: the bytes a SIGKILL there
    leaves. Then let it go on. Returns (its commits, in order: (table, version); its exit code)."""
    with stopped_after_commit(args, "each", log) as (job, _):
        taken = 0
        while wait_for_stop(job, log, taken + 1):
            os.killpg(job.pid, signal.SIGSTOP)
            taken += 1
            shutil.copytree(work, states / str(taken), symlinks=True)
            os.killpg(job.pid, signal.SIGCONT)
        code = job.wait(timeout=600)
    return [(table, int(version)) for table, version, _ in map(str.split, log.read_text().splitlines())], code


def commits_in(warehouse: Path) -> set[tuple[str, int]]:
    """Every commit the Delta tables under `warehouse` hold: (table, version), from their `_delta_log`."""
    return {(log.parent.name, int(commit.stem)) for log in warehouse.glob("*/_delta_log")
            for commit in log.glob("*.json") if commit.stem.isdigit()}


def killed_after_commit(args: list[str], stop_after: int, log: Path) -> list[str]:
    """The job SIGKILLed, its whole process group, right after its `stop_after`th commit (see
    `stopped_after_commit`); the commits it made."""
    with stopped_after_commit(args, stop_after, log) as (job, commits):
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    return commits


def stopped(pid: int) -> bool:
    """Whether process `pid` is stopped (SIGSTOP): its state in /proc is `T`."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "T"
    except FileNotFoundError:
        return False
