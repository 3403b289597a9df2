"""The job against Spark's own floors and DuckDB on the same generated input (`make bench`).

    python scripts/benchmark.py [--rows 100000 5000000 19150868] [--runs 3] [--plot docs/benchmark.png]

For each size: generate the input once (cached under data/bench, git-ignored), then per round,
one after another: DuckDB (lastfm/duckdb_reference.py), a spark-submit that only counts the
lines (scripts/spark_count.py: start-up and reading), the job's transforms with nothing written
(scripts/spark_bare.py), the job cold (fresh warehouse), and two re-runs on that warehouse with an
unchanged input: another --session-gap-minutes (plays reused) and then another --top-sessions
(plays and sessions reused). Every answer is checked against DuckDB's. Prints the medians and each
target's ratio next to its goal (issue 11); keeps them in data/bench/results/<rows>.json, which
`--plot` draws (every size measured so far).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from lastfm import benchmark
from lastfm.duckdb_reference import read_tsv
from lastfm.sample_data import write_sample

REPO = Path(__file__).resolve().parent.parent
FULL = 19_150_868  # lines in the real Last.fm 1K file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 5_000_000, FULL],
                        help="input sizes (default: a small run, a middle one, the real file's)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each engine per size (alternating)")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--driver-memory", default="1g")
    parser.add_argument("--rerun-gap-minutes", type=float, default=30,
                        help="--session-gap-minutes of the re-runs")
    parser.add_argument("--rerun-top-sessions", type=int, default=40, help="--top-sessions of the second re-run")
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
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYSPARK_PYTHON": sys.executable}
    spark_submit = str(Path(sys.executable).parent / "spark-submit")
    job = lambda *extra: benchmark.job_command(  # noqa: E731
        spark_submit, str(REPO / "jobs" / "top_tracks.py"), str(path), str(output), str(warehouse), args.driver_memory, extra)
    script = lambda name: benchmark.spark_command(spark_submit, str(REPO / "scripts" / name), (str(path),), args.driver_memory)  # noqa: E731
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
    results = data / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{rows}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


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
    for name, _, _ in JOB_RUNS:
        lines.append(f"  stages of {name} (median s): " + ", ".join(f"{k} {v}" for k, v in result[f"{name}_stage_median_s"].items()))
    return "\n".join(lines)


def ratio(result: dict, over: str, under: str) -> float:
    return round(result[f"{over}_median_s"] / result[f"{under}_median_s"], 2)


def targets(results: dict[int, dict]) -> list[tuple[str, str, float | None]]:
    """(target, goal, measured ratio or None when that size was not measured) for each of issue
    11's targets, from the results of every size measured so far."""
    at = results.get
    rows = [
        (f"job cold / Spark bare, {FULL:,} rows", "<= 1.3", at(FULL) and ratio(at(FULL), "job_cold", "spark_bare")),
        (f"job cold / Spark counting lines, {SMALL:,} rows", "<= 2.0", at(SMALL) and ratio(at(SMALL), "job_cold", "spark_count")),
    ]
    for size in RERUN_SIZES:
        for name, what in (("job_regap", "another gap"), ("job_retop", "another top-N")):
            rows.append((f"re-run ({what}) / cold, {size:,} rows", "<= 0.4", at(size) and ratio(at(size), name, "job_cold")))
    rows.append((f"job cold / DuckDB, {FULL:,} rows", "< 5", at(FULL) and ratio(at(FULL), "job_cold", "duckdb")))
    scale = at(SCALE) and at(FULL) and round(at(SCALE)["job_cold_median_s"] / at(FULL)["job_cold_median_s"], 2)
    rows.append((f"job cold {SCALE:,} rows / {FULL:,} rows (1g driver)", "<= 4.5", scale))
    return rows


def targets_table(results: dict[int, dict]) -> str:
    lines = [f"  {'target':<58}{'goal':>8}{'measured':>10}"]
    for name, goal, measured in targets(results):
        bound = float(goal.split()[-1])
        verdict = "not measured" if measured is None else "met" if (measured <= bound if "=" in goal else measured < bound) else "MISSED"
        lines.append(f"  {name:<58}{goal:>8}{'-' if measured is None else f'{measured:.2f}':>10}  {verdict}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    for rows in args.rows:
        print(f"benchmark: {rows:,} rows", flush=True)
        print(report(bench_size(rows, args)), flush=True)
    results = {r["rows"]: r for r in (json.loads(p.read_text()) for p in sorted((args.data / "results").glob("*.json")))}
    print("targets (issue 11; every size measured so far, data/bench/results):")
    print(targets_table(results))
    if args.plot:
        benchmark.plot(list(results.values()), args.plot)
        print(f"wrote {args.plot} ({len(results)} sizes)")


if __name__ == "__main__":
    main()
