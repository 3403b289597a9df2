"""Measuring the job against DuckDB: commands, wall time, peak memory, the job's own timings.

Used by scripts/benchmark.py (`make bench`). Each engine runs as its own child process, so a
run includes what a user pays: JVM (or Python) start-up, reading the raw file, every write.
Peak memory is the largest total resident set of the child's whole process tree (spark-submit's
JVM plus its Python driver), sampled from /proc every 0.1 s.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from pathlib import Path

# DuckDB's side: the independent reference implementation (lastfm/testing/duckdb_reference.py), in a
# child process like the job, printing its rows as JSON.
_DUCKDB_SNIPPET = (
    "import json, sys; from lastfm.testing.duckdb_reference import top_tracks; "
    "print('ROWS', json.dumps(top_tracks(sys.argv[1], gap_seconds=int(sys.argv[2]), top_sessions=int(sys.argv[3]))))"
)


# What the benchmark runs (scripts/benchmark.py), as its results name them, and their labels.
ENGINES = (("duckdb", "DuckDB SQL"), ("spark_count", "Spark, count the lines only"),
           ("spark_bare", "Spark, the job's transforms only (no writes)"), ("job_cold", "the job, cold"),
           ("job_regap", "the job, re-run: another gap"), ("job_retop", "the job, re-run: another top-N"),
           ("job_daily_cold", "the job, cold, history + one day"),
           ("job_increment_1x", "the job, --incremental: the day added to 1/4"),
           ("job_increment", "the job, --incremental: the day added"),
           ("spark_bare_increment", "Spark, the least increment (no checks)"),
           ("spark_count_day", "Spark, count the day's lines only"),
           ("maintenance", "jobs/maintain.py after the day"))


@dataclass
class Measurement:
    engine: str
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    load_before: float = 0.0  # 1-minute load average when the run started
    cpu_seconds: float = 0.0  # user + system time of the whole process tree: less load-sensitive


def spark_command(spark_submit: str, script: str, args: tuple[str, ...], driver_memory: str = "1g") -> list[str]:
    """`script` through spark-submit with the driver memory under test."""
    return [spark_submit, "--conf", f"spark.driver.memory={driver_memory}", script, *args]


def job_command(spark_submit: str, job: str, input_path: str, output: str, warehouse: str,
                driver_memory: str = "1g", extra_args: tuple[str, ...] = ()) -> list[str]:
    return spark_command(spark_submit, job, ("--input", input_path, "--output", output, "--warehouse", warehouse,
                                             *extra_args), driver_memory)


def duckdb_command(input_path: str, gap_seconds: int = 1200, top_sessions: int = 50) -> list[str]:
    return [sys.executable, "-c", _DUCKDB_SNIPPET, input_path, str(gap_seconds), str(top_sessions)]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def tree_rss_bytes(pid: int) -> int:
    """Total resident set of `pid` and all its descendants (0 once they have exited)."""
    tree, todo, total = _children(), [pid], 0
    while todo:
        current = todo.pop()
        todo.extend(tree.get(current, []))
        try:
            with open(f"/proc/{current}/statm", encoding="ascii") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total


def measure(engine: str, command: list[str], env: dict | None = None, cwd: str | None = None) -> Measurement:
    """Run `command` to completion: wall time, peak tree RSS, output."""
    load = os.getloadavg()[0]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = 0
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.1):
            peak = max(peak, tree_rss_bytes(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    done.set()
    sampler.join()
    return Measurement(engine, round(seconds, 2), peak, child.returncode, stdout, stderr, load, round(cpu, 1))


def printed_rows(output: str) -> list[tuple[str, str, int]]:
    """The answer DuckDB's side or scripts/spark_bare.py printed after `ROWS `."""
    # the marker skips anything else on stdout (DuckDB may draw a progress bar there)
    rows = output.rsplit("ROWS ", 1)[1].splitlines()[0]
    return [tuple(row) for row in json.loads(rows)]


def median_stage_seconds(summaries: list[dict]) -> dict[str, float]:
    """Per stage, the median of the job's own stage timings over several runs, in stage order."""
    names = list(summaries[0]["stage_seconds"])
    return {n: round(statistics.median(s["stage_seconds"].get(n, 0.0) for s in summaries), 1) for n in names}


def plot(results: list[dict], path: Path) -> None:
    """time vs rows, one line per engine, from `results` (one dict per input size)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = sorted(results, key=lambda r: r["rows"])
    rows = [r["rows"] / 1e6 for r in results]
    figure, axes = plt.subplots(figsize=(6, 3.6), dpi=100)
    for name, label in ENGINES:
        points = [(x, r[f"{name}_median_s"]) for x, r in zip(rows, results) if r.get(f"{name}_median_s")]
        if points:
            axes.plot(*zip(*points), marker="o", label=label)
    axes.set_xlabel("input rows (millions)")
    axes.set_ylabel("median wall time (s)")
    loads = [load for r in results for load in r.get("load_1min", [])]
    axes.set_title(f"Top tracks in the longest sessions, {results[0].get('cores', '?')} cores, local mode"
                   + (f"\n(1-min load average {min(loads):.0f}-{max(loads):.0f} during the runs)" if loads else ""),
                   fontsize=10)
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def split_off_a_day(source: Path, history: Path, day: Path, every: int = 1000, late: int = 300,
                    late_days: int = 30) -> tuple[int, int]:
    """Split a generated input into the history a warehouse holds and one day's delivery, a slice
    of time as a daily export is: the newest 1/`every` of the plays by timestamp (all plays at or
    after the cut that many reach), plus `late` plays of the `late_days` days before the cut,
    evenly spread (a phone that syncs late: plays older than some the warehouse already holds).
    A line without a timestamp stays in the history. Lines keep the order of `source` in both
    files. Returns (history lines, day lines); both files end with a newline."""
    stamps = [stamp for stamp in map(_stamp, _lines(source)) if stamp]
    cut = heapq.nlargest(-(-len(stamps) // every), stamps)[-1]  # ISO UTC stamps sort as times do
    since = (datetime.strptime(cut, _ISO) - timedelta(days=late_days)).strftime(_ISO)
    step = max(1, sum(since <= stamp < cut for stamp in stamps) // late)
    written, seen, taken = [0, 0], 0, 0
    with open(history, "w", encoding="utf-8", newline="") as old, open(day, "w", encoding="utf-8", newline="") as new:
        for line in _lines(source):
            stamp = _stamp(line)
            target = bool(stamp) and stamp >= cut
            if stamp and since <= stamp < cut:
                seen += 1
                target = taken < late and seen % step == 0
                taken += target
            (new if target else old).write(line)
            written[target] += 1
    return written[0], written[1]


_ISO = "%Y-%m-%dT%H:%M:%SZ"
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _stamp(line: str) -> str | None:
    fields = line.split("\t", 2)
    return fields[1] if len(fields) > 1 and _STAMP.fullmatch(fields[1]) else None


def _lines(source: Path) -> Iterator[str]:
    with open(source, encoding="utf-8", newline="") as lines:
        yield from (line if line.endswith("\n") else line + "\n" for line in lines)


def newest_share(source: Path, target: Path, share: float = 0.25) -> int:
    """Write each user's newest `share` of the plays of `source` (grouped by user, newest first, as
    the generator and the real file are) to `target`: the same users with a history `1/share` times
    shorter. Returns the lines written."""
    written = 0
    with open(target, "w", encoding="utf-8", newline="") as out:
        for block in user_blocks(source):
            kept = block[:math.ceil(len(block) * share)]
            out.writelines(kept)
            written += len(kept)
    return written


def user_blocks(source: Path) -> Iterator[list[str]]:
    """The lines of `source`, a file grouped by user, as one list per user, in file order; every
    line ends with a newline."""
    for _, block in groupby(_lines(source), key=lambda line: line.split("\t", 1)[0]):
        yield list(block)


def files_written(before: dict[str, int], folder: Path) -> dict[str, int]:
    """Bytes of the files under `folder` that are not in `before` (relative path -> size, from
    `file_sizes`) or changed size, per top-level folder (a Delta table) and `_delta_log` apart."""
    written: dict[str, int] = {}
    for path, size in file_sizes(folder).items():
        if before.get(path) != size:
            table = path.split("/", 1)[0]
            key = f"{table}/_delta_log" if "/_delta_log/" in path else table
            written[key] = written.get(key, 0) + size
    return written


def file_sizes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
