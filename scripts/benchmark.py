"""The job against Spark's own floors and DuckDB on the same generated input (`make bench`).

    python scripts/benchmark.py [--rows 100000 5000000 19150868] [--runs 3] [--plot docs/benchmark.png]

For each size: generate the input once (cached under data/bench, git-ignored), then per round,
one after another: DuckDB (lastfm/testing/duckdb_reference.py), a spark-submit that only counts the
lines (scripts/spark_count.py: start-up and reading), the job's transforms with nothing written
(scripts/spark_bare.py), the job cold (fresh warehouse), and two re-runs on that warehouse with an
unchanged input: another --session-gap-minutes (plays reused) and then another --top-sessions
(plays and sessions reused). Every answer is checked against DuckDB's. Prints the medians and each
target's ratio next to its goal; keeps them in data/bench/results/<rows>.json,
which `--plot` draws (every size measured so far).

Then the daily bench (--daily-rows, default the real file's size): the input split into a history
and one day (the newest 1/1000 of the plays by time and 300 late ones of the month before),
warehouses of the history and of each user's newest quarter of it built once, and per round the job
cold on history + day against `--incremental` adding the day to a copy of each warehouse; the day
added to the whole history must give the cold run's answer byte for byte. Beside them, the floor of any increment here
(scripts/spark_bare_increment.py: the day appended, merged into the sessions, ranked; nothing else).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from lastfm.quality import profiling
from lastfm.schemas import SESSIONS
from lastfm.storage.writing import COMMIT_LOG
from lastfm.testing import benchmark
from lastfm.testing.duckdb_reference import read_tsv
from lastfm.testing.sample_data import write_sample
from lastfm.testing.tables import delta_rs_rows

REPO = Path(__file__).resolve().parent.parent
FULL = 19_150_868  # lines in the real Last.fm 1K file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 5_000_000, FULL],
                        help="input sizes (default: a small run, a middle one, the real file's)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each engine per size (alternating)")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--driver-memory", default="1g")
    parser.add_argument("--rerun-gap-minutes", type=float, default=30,
                        help="--session-gap-minutes of the re-runs")
    parser.add_argument("--rerun-top-sessions", type=int, default=40, help="--top-sessions of the second re-run")
    parser.add_argument("--daily-rows", type=int, nargs="*", default=[FULL],
                        help="sizes of the daily bench: a warehouse of that input less one day, then that day "
                             "added by --incremental vs a cold full run (none: skip it)")
    parser.add_argument("--plot", type=Path, nargs="?", const=REPO / "docs" / "benchmark.png",
                        help="write a PNG of time vs rows (default docs/benchmark.png)")
    return parser.parse_args(argv)


def sample(data: Path, rows: int) -> Path:
    path = data / f"plays-{rows}.tsv"
    if not path.exists():
        start = time.perf_counter()
        write_sample(path, rows=rows)
        print(f"generated {path} ({rows:,} rows) in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def checked(measurement: benchmark.Measurement) -> benchmark.Measurement:
    if measurement.returncode != 0:
        sys.exit(f"{measurement.engine} failed (exit {measurement.returncode}):\n{measurement.stderr[-3000:]}")
    return measurement


# (engine, its extra job arguments, the DuckDB question it answers): the job's three runs per round
JOB_RUNS = (("job_cold", lambda a: (), "default"),
            ("job_regap", lambda a: ("--session-gap-minutes", f"{a.rerun_gap_minutes:g}"), "regap"),
            ("job_retop", lambda a: ("--session-gap-minutes", f"{a.rerun_gap_minutes:g}", "--top-sessions",
                                     str(a.rerun_top_sessions)), "retop"))
# what each re-run reuses, in its run summary
REUSED = {"job_cold": (False, False), "job_regap": (True, False), "job_retop": (True, True)}
SMALL, RERUN_SIZES, SCALE = 100_000, (5_000_000, FULL), 4 * FULL  # where each target applies


def bench_size(rows: int, args) -> dict:
    data = args.data.resolve()
    path = sample(data, rows)
    warehouse, output = data / f"warehouse-{rows}", data / "out" / f"top-{rows}.tsv"
    output.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYSPARK_PYTHON": sys.executable}
    spark_submit = str(Path(sys.executable).parent / "spark-submit")
    job = lambda *extra: benchmark.job_command(  # noqa: E731
        spark_submit, str(REPO / "jobs" / "top_tracks.py"), str(path), str(output), str(warehouse),
        args.driver_memory, extra)
    script = lambda name: benchmark.spark_command(  # noqa: E731
        spark_submit, str(REPO / "scripts" / name), (str(path),), args.driver_memory)
    duckdb = lambda gap=1200, top=50: benchmark.duckdb_command(str(path), gap, top)  # noqa: E731
    gap = round(args.rerun_gap_minutes * 60)
    questions = {"default": duckdb(), "regap": duckdb(gap), "retop": duckdb(gap, args.rerun_top_sessions)}
    # also warms the page cache for every engine alike
    expected = {name: benchmark.printed_rows(checked(benchmark.measure("duckdb", command, env, str(REPO))).stdout)
                for name, command in questions.items()}
    runs = {name: [] for name in ("duckdb", "spark_count", "spark_bare", *(name for name, _, _ in JOB_RUNS))}
    summaries = {name: [] for name, _, _ in JOB_RUNS}
    for round_ in range(1, args.runs + 1):
        runs["duckdb"].append(checked(benchmark.measure("duckdb", questions["default"], env, str(REPO))))
        assert benchmark.printed_rows(runs["duckdb"][-1].stdout) == expected["default"], "DuckDB is not deterministic"
        runs["spark_count"].append(checked(benchmark.measure("spark_count", script("spark_count.py"), env, str(REPO))))
        runs["spark_bare"].append(checked(benchmark.measure("spark_bare", script("spark_bare.py"), env, str(REPO))))
        if benchmark.printed_rows(runs["spark_bare"][-1].stdout) != expected["default"]:
            sys.exit(f"spark_bare round {round_}: its answer differs from DuckDB's")
        shutil.rmtree(warehouse, ignore_errors=True)
        for name, extra, answer in JOB_RUNS:
            measurement = checked(benchmark.measure(name, job(*extra(args)), env, str(REPO)))
            summary = json.loads((output.parent / "run_summary.json").read_text())
            if read_tsv(str(output)) != expected[answer]:
                sys.exit(f"{name} round {round_}: the job's answer differs from DuckDB's:\n"
                         f"job    {read_tsv(str(output))}\nduckdb {expected[answer]}")
            if (summary["plays_reused"], summary["sessions_reused"]) != REUSED[name]:
                sys.exit(f"{name} round {round_}: plays and sessions reused {summary['plays_reused']}, "
                         f"{summary['sessions_reused']}, expected {REUSED[name]}")
            runs[name].append(measurement)
            summaries[name].append(summary)
        print(f"  round {round_}: " + ", ".join(f"{k} {v[-1].seconds:.1f} s" for k, v in runs.items())
              + f" (load {runs['duckdb'][-1].load_before:.1f})", flush=True)
    result = {
        "rows": rows,
        "input_bytes": path.stat().st_size,
        "runs": args.runs,
        "driver_memory": args.driver_memory,
        "cores": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_1min": [m.load_before for ms in runs.values() for m in ms],
        "answers_identical": True,
    }
    for name, measurements in runs.items():
        result[f"{name}_s"] = [m.seconds for m in measurements]
        result[f"{name}_median_s"] = statistics.median(m.seconds for m in measurements)
        result[f"{name}_cpu_median_s"] = statistics.median(m.cpu_seconds for m in measurements)
        result[f"{name}_peak_rss_mb"] = round(max(m.peak_rss_bytes for m in measurements) / 2**20)
    for name, items in summaries.items():
        result[f"{name}_stage_median_s"] = benchmark.median_stage_seconds(items)
    store_result(data, rows, {**stored_result(data, rows), **result})
    return result


def bench_daily(rows: int, args) -> dict:
    """One day's increment (lastfm.testing.benchmark.split_off_a_day: the newest 1/1000 of the plays
    by time and 300 late ones of the month before) added by `--incremental` to a warehouse of the
    rest ("4x") and to one of each user's newest quarter of it ("1x"), each built once and copied
    for every round; against the job cold on the history and the day, Spark counting the day's
    lines, the least increment, and the table maintenance the day leaves. The day added to the
    whole history must give the cold run's answer, `sessions` and profile."""
    data = args.data.resolve()
    folder = data / f"daily-{rows}"
    day_file = folder / "day" / "2013-09-30.tsv"
    landings = {"4x": folder / "landing", "1x": folder / "landing-quarter"}
    if not (landings["1x"] / "history.tsv").exists():
        for landing in landings.values():
            landing.mkdir(parents=True, exist_ok=True)
        day_file.parent.mkdir(parents=True, exist_ok=True)
        split = benchmark.split_off_a_day(sample(data, rows), landings["4x"] / "history.tsv", day_file)
        print(f"  split off a day: {split}", flush=True)
        quarter = benchmark.newest_share(landings["4x"] / "history.tsv", landings["1x"] / "history.tsv")
        print(f"  its newest quarter: {quarter} lines", flush=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYSPARK_PYTHON": sys.executable}
    spark_submit = str(Path(sys.executable).parent / "spark-submit")
    # the day may hold a larger share of the generator's malformed lines (sample_data.py) than the
    # input: every run allows 1%
    job = lambda landing, name, *extra: benchmark.job_command(  # noqa: E731
        spark_submit, str(REPO / "jobs" / "top_tracks.py"), str(landing), str(folder / name / "top.tsv"),
        str(folder / name / "wh"), args.driver_memory, ("--max-reject-fraction", "0.01", *extra))
    script = lambda path, *a: benchmark.spark_command(spark_submit, str(REPO / path), a, args.driver_memory)  # noqa: E731
    for size, landing in landings.items():  # the warehouses before the day: built once, not timed
        history = folder / f"history-{size}"
        if not (history / "top.tsv").exists():
            shutil.rmtree(history, ignore_errors=True)
            (landing / day_file.name).unlink(missing_ok=True)
            checked(benchmark.measure("job_history", job(landing, history.name), env, str(REPO)))
        shutil.copy2(day_file, landing / day_file.name)  # the day lands (kept: the same file every round)
    names = ("job_daily_cold", "job_increment_1x", "job_increment", "spark_bare_increment", "spark_count_day",
             "maintenance")
    runs, written, summaries, commits = {name: [] for name in names}, {name: [] for name in names}, [], {}
    for round_ in range(1, args.runs + 1):
        shutil.rmtree(folder / "cold", ignore_errors=True)
        (folder / "cold").mkdir(parents=True)
        runs["job_daily_cold"].append(checked(benchmark.measure(
            "job_daily_cold", job(landings["4x"], "cold"), {**env, COMMIT_LOG: str(folder / "cold" / "commits.log")},
            str(REPO))))
        commits["job_daily_cold"] = (folder / "cold" / "commits.log").read_text().split("\n")[:-1]
        for size, name in (("1x", "job_increment_1x"), ("4x", "job_increment")):
            target = folder / f"increment-{size}"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(folder / f"history-{size}", target)
            before = benchmark.file_sizes(target / "wh")
            commit_log = target / "commits.log"  # every Delta commit the run makes (storage/writing.py)
            runs[name].append(checked(benchmark.measure(name, job(landings[size], target.name, "--incremental"),
                                                        {**env, COMMIT_LOG: str(commit_log)}, str(REPO))))
            written[name].append(benchmark.files_written(before, target / "wh"))
            commits[name] = commit_log.read_text().split("\n")[:-1]
            summary = json.loads((target / "run_summary.json").read_text())
            if summary["input_files_ingested"] != [f"file:{landings[size] / day_file.name}"]:
                sys.exit(f"{name} round {round_}: ingested {summary['input_files_ingested']}, not the day's file")
        # job_increment's stages
        summaries.append(json.loads((folder / "increment-4x" / "run_summary.json").read_text()))
        differs = same_as_cold(folder / "increment-4x", folder / "cold")
        if differs:
            sys.exit(f"round {round_}: {differs}")
        before = benchmark.file_sizes(folder / "increment-4x" / "wh")
        runs["maintenance"].append(checked(benchmark.measure("maintenance", script(
            "jobs/maintain.py", "--warehouse", str(folder / "increment-4x" / "wh")), env, str(REPO))))
        written["maintenance"].append(benchmark.files_written(before, folder / "increment-4x" / "wh"))
        shutil.rmtree(folder / "least", ignore_errors=True)
        shutil.copytree(folder / "history-4x", folder / "least")
        least = checked(benchmark.measure("spark_bare_increment",
                                          script("scripts/spark_bare_increment.py", str(day_file),
                                                 str(folder / "least" / "wh")),
                                          env, str(REPO)))
        if benchmark.printed_rows(least.stdout) != read_tsv(str(folder / "cold" / "top.tsv")):
            sys.exit(f"spark_bare_increment round {round_}: its answer differs from the cold run's")
        runs["spark_bare_increment"].append(least)
        runs["spark_count_day"].append(checked(benchmark.measure("spark_count_day",
                                                                 script("scripts/spark_count.py", str(day_file)),
                                                                 env, str(REPO))))
        print(f"  daily round {round_}: " + ", ".join(f"{k} {v[-1].seconds:.1f} s" for k, v in runs.items())
              + "; bytes written: "
              + ", ".join(f"{k} {sum(v[-1].values()) / 1e6:.2f} MB" for k, v in written.items() if v),
              flush=True)
    result = stored_result(data, rows) or {"rows": rows, "runs": args.runs}
    for key, value in (("input_bytes", (landings["4x"] / "history.tsv").stat().st_size + day_file.stat().st_size),
                       ("driver_memory", args.driver_memory), ("cores", os.cpu_count())):
        result.setdefault(key, value)
    result["load_1min"] = result.get("load_1min", []) + [m.load_before for ms in runs.values() for m in ms]
    result["daily_rows_added"] = summaries[0]["rows_added"]
    for name, measurements in runs.items():
        result[f"{name}_s"] = [m.seconds for m in measurements]
        result[f"{name}_median_s"] = statistics.median(m.seconds for m in measurements)
        result[f"{name}_cpu_median_s"] = statistics.median(m.cpu_seconds for m in measurements)
        result[f"{name}_peak_rss_mb"] = round(max(m.peak_rss_bytes for m in measurements) / 2**20)
        if written[name]:
            result[f"{name}_bytes_median"] = statistics.median(sum(w.values()) for w in written[name])
            result[f"{name}_bytes_by_table"] = written[name][-1]
    result["job_increment_stage_median_s"] = benchmark.median_stage_seconds(summaries)
    for name, lines in commits.items():  # "<table> <version> <pid>" per commit
        result[f"{name}_commits"] = [line.split()[0] for line in lines]
    store_result(data, rows, result)
    return result


# One results file per size holds both benches' figures: each bench replaces its own keys only.
def stored_result(data: Path, rows: int) -> dict:
    """What data/bench/results/<rows>.json holds ({} before any bench of that size)."""
    path = data / "results" / f"{rows}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def store_result(data: Path, rows: int, result: dict) -> None:
    path = data / "results" / f"{rows}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def same_as_cold(increment: Path, cold: Path) -> str | None:
    """Why the day added to the whole history differs from the cold run on the same files (the
    answer's bytes, the `sessions` rows, read with delta-rs, without the batch and rules each row
    was written by, and the profile), or None."""
    if (increment / "top.tsv").read_bytes() != (cold / "top.tsv").read_bytes():
        return "job_increment: its answer differs from the cold run's"
    rows = lambda folder: sorted(  # noqa: E731
        tuple(r[c] for c in SESSIONS.fieldNames()) for r in delta_rs_rows(str(folder / "wh" / "sessions")).to_pylist())
    if rows(increment) != rows(cold):
        return "job_increment: its sessions differ from the cold run's"
    exact = lambda folder: exact_figures(json.loads((folder / "profile.json").read_text()))  # noqa: E731
    if exact(increment) != exact(cold):
        return "job_increment: its profile's exact figures differ from the cold run's"
    return None


def exact_figures(profile):
    """The profile less its percentile_approx values (p50, p90, p99: a value within the stated rank
    error, which depends on how the rows lie in files), which may differ between two warehouses of
    the same rows."""
    if isinstance(profile, dict):
        return {k: exact_figures(v) for k, v in profile.items() if k not in profiling.PERCENTILES}
    return profile


def report(result: dict) -> str:
    lines = [
        f"rows {result['rows']:,} ({result['input_bytes'] / 1e9:.2f} GB), {result['runs']} rounds, "
        f"{result['cores']} cores, spark.driver.memory={result['driver_memory']}, "
        f"load (1-min) {min(result['load_1min']):.1f}..{max(result['load_1min']):.1f}",
        f"  {'engine':<36}{'median s':>9}   {'runs s':<24}{'peak RSS':>9}{'CPU s':>8}",
    ]
    for name, label in benchmark.ENGINES:
        if f"{name}_s" in result:
            runs = " ".join(f"{s:.1f}" for s in result[f"{name}_s"])
            lines.append(f"  {label:<36}{result[f'{name}_median_s']:>9.1f}   {runs:<24}"
                         f"{result[f'{name}_peak_rss_mb']:>6} MB{result[f'{name}_cpu_median_s']:>8.0f}")
    for name in [name for name, _, _ in JOB_RUNS] + ["job_increment"]:
        if f"{name}_stage_median_s" in result:
            lines.append(f"  stages of {name} (median s): "
                         + ", ".join(f"{k} {v}" for k, v in result[f"{name}_stage_median_s"].items()))
    return "\n".join(lines)


def ratio(result: dict | None, over: str, under: str) -> float | None:
    """The ratio of two medians of `result`; None when the size or either engine was not measured."""
    if not result or f"{over}_median_s" not in result or f"{under}_median_s" not in result:
        return None
    return round(result[f"{over}_median_s"] / result[f"{under}_median_s"], 2)


def targets(results: dict[int, dict]) -> list[tuple[str, str, float | None]]:
    """(target, goal, measured ratio or None when it was not measured) for each performance target
    (docs/performance.md), from the results of every size measured so far."""
    at = results.get
    rows = [
        (f"job cold / Spark bare, {FULL:,} rows", "<= 1.5", ratio(at(FULL), "job_cold", "spark_bare")),
        (f"job cold / Spark counting lines, {SMALL:,} rows", "<= 2.5", ratio(at(SMALL), "job_cold", "spark_count")),
    ]
    for size in RERUN_SIZES:
        for name, what in (("job_regap", "another gap"), ("job_retop", "another top-N")):
            rows.append((f"re-run ({what}) / cold, {size:,} rows", "<= 0.4", ratio(at(size), name, "job_cold")))
    rows.append((f"job cold / DuckDB, {FULL:,} rows", "< 5", ratio(at(FULL), "job_cold", "duckdb")))
    big, full = ((at(size) or {}).get("job_cold_median_s") for size in (SCALE, FULL))
    scale = big and full and round(big / full, 2)
    rows.append((f"job cold {SCALE:,} rows / {FULL:,} rows (1g driver)", "<= 4.5", scale))
    daily = at(FULL) or {}
    rows.append((f"job cold / Spark bare, {FULL:,} rows: not slower than 2 Dec", "<= 2.11",
                 ratio(at(FULL), "job_cold", "spark_bare")))
    rows.append(("one day --incremental: history 4x / 1x, time", "<= 1.05",
                 ratio(daily, "job_increment", "job_increment_1x")))
    rows.append(("  (or at most 3 s more: the difference in s)", "<= 3",
                 "job_increment_1x_median_s" in daily
                 and round(daily["job_increment_median_s"] - daily["job_increment_1x_median_s"], 1)))
    rows.append(("one day --incremental: history 4x / 1x, bytes written", "<= 1.5",
                 "job_increment_1x_bytes_median" in daily
                 and round(daily["job_increment_bytes_median"] / daily["job_increment_1x_bytes_median"], 2)))
    rows.append((f"one day --incremental / cold, {FULL:,} rows", "<= 0.25",
                 ratio(daily, "job_increment", "job_daily_cold")))
    rows.append(("one day --incremental / Spark counting the day's lines", "<= 3.0",
                 ratio(daily, "job_increment", "spark_count_day")))
    rows.append(("one day --incremental: Delta commits", "<= 4",
                 len(daily["job_increment_commits"]) if "job_increment_commits" in daily else None))
    rows.append(("  a full run's Delta commits", "reported",
                 len(daily["job_daily_cold_commits"]) if "job_daily_cold_commits" in daily else None))
    # the floor: what an increment costs at all here (nothing but the append, the sessions merge, the ranking)
    rows.append((f"  the least increment / cold, {FULL:,} rows (its floor)", "<= 0.25",
                 ratio(daily, "spark_bare_increment", "job_daily_cold")))
    return rows


def targets_table(results: dict[int, dict]) -> str:
    lines = [f"  {'target':<58}{'goal':>8}{'measured':>10}"]
    for name, goal, measured in targets(results):
        measured = None if measured is False else measured
        bound = float(goal.split()[-1]) if goal[0] in "<>" else None
        verdict = ("not measured" if measured is None else "reported" if bound is None
                   else "met" if (measured <= bound if "=" in goal else measured < bound) else "MISSED")
        lines.append(f"  {name:<58}{goal:>8}{'-' if measured is None else f'{measured:.2f}':>10}  {verdict}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    for rows in args.rows:
        print(f"benchmark: {rows:,} rows", flush=True)
        print(report(bench_size(rows, args)), flush=True)
    for rows in args.daily_rows:
        print(f"benchmark: one day added to {rows:,} rows", flush=True)
        print(report(bench_daily(rows, args)), flush=True)
    results = {r["rows"]: r
               for r in (json.loads(p.read_text()) for p in sorted((args.data / "results").glob("*.json")))}
    print("targets (every size measured so far, data/bench/results):")
    print(targets_table(results))
    if args.plot:
        benchmark.plot(list(results.values()), args.plot)
        print(f"wrote {args.plot} ({len(results)} sizes)")


if __name__ == "__main__":
    main()
