"""The job against DuckDB's SQL on the same generated input, alternating runs (`make bench`).

    python scripts/benchmark.py [--rows 19150868 ...] [--runs 3] [--plot docs/benchmark.png]

For each size: generate the input once (cached under data/bench, git-ignored), then per round
run DuckDB (lastfm/duckdb_reference.py), the job cold (fresh warehouse, all Delta tables
written) and the job again on that warehouse with another --session-gap-minutes (the input is
unchanged, so `plays` is reused); with `--bare`, also scripts/spark_bare.py (the job's transforms
with no Delta table, check or profile: what Spark alone costs here). Every answer is checked against DuckDB's. Prints medians,
ratios, peak memory and the job's median stage timings; keeps them in
data/bench/results/<rows>.json, which `--plot` draws (every size measured so far).
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
    parser.add_argument("--rows", type=int, nargs="+", default=[FULL], help="input sizes (default: the real file's)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each engine per size (alternating)")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--driver-memory", default="1g")
    parser.add_argument("--rerun-gap-minutes", type=float, default=30,
                        help="--session-gap-minutes of the re-run that reuses plays")
    parser.add_argument("--bare", action="store_true",
                        help="also run scripts/spark_bare.py (the job's transforms, no writes) each round")
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


def bench_size(rows: int, args) -> dict:
    data = args.data.resolve()
    path = sample(data, rows)
    warehouse, output = data / f"warehouse-{rows}", data / "out" / f"top-{rows}.tsv"
    output.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYSPARK_PYTHON": sys.executable}
    spark_submit = str(Path(sys.executable).parent / "spark-submit")
    job = lambda *extra: benchmark.job_command(  # noqa: E731
        spark_submit, str(REPO / "jobs" / "top_tracks.py"), str(path), str(output), str(warehouse), args.driver_memory, extra)
    rerun_gap = round(args.rerun_gap_minutes * 60)
    expected = {
        "default": benchmark.printed_rows(checked(benchmark.measure("duckdb", benchmark.duckdb_command(str(path)), env, str(REPO))).stdout),
        "rerun": benchmark.printed_rows(checked(benchmark.measure("duckdb", benchmark.duckdb_command(str(path), rerun_gap), env, str(REPO))).stdout),
    }  # also warms the page cache for both engines alike
    bare = benchmark.spark_command(spark_submit, str(REPO / "scripts" / "spark_bare.py"), (str(path),), args.driver_memory)
    runs = {"duckdb": [], "job_cold": [], "job_reuse": [], **({"spark_bare": []} if args.bare else {})}
    summaries = {"job_cold": [], "job_reuse": []}
    for round_ in range(1, args.runs + 1):
        runs["duckdb"].append(checked(benchmark.measure("duckdb", benchmark.duckdb_command(str(path)), env, str(REPO))))
        assert benchmark.printed_rows(runs["duckdb"][-1].stdout) == expected["default"], "DuckDB is not deterministic"
        if args.bare:
            runs["spark_bare"].append(checked(benchmark.measure("spark_bare", bare, env, str(REPO))))
            if benchmark.printed_rows(runs["spark_bare"][-1].stdout) != expected["default"]:
                sys.exit(f"spark_bare round {round_}: its answer differs from DuckDB's")
        shutil.rmtree(warehouse, ignore_errors=True)
        for name, extra, answer in (("job_cold", (), "default"),
                                    ("job_reuse", ("--session-gap-minutes", str(args.rerun_gap_minutes)), "rerun")):
            measurement = checked(benchmark.measure(name, job(*extra), env, str(REPO)))
            summary = benchmark.run_summary(measurement.stderr + measurement.stdout)
            if read_tsv(str(output)) != expected[answer]:
                sys.exit(f"{name} round {round_}: the job's answer differs from DuckDB's:\n"
                         f"job    {read_tsv(str(output))}\nduckdb {expected[answer]}")
            if summary["plays_reused"] != (name == "job_reuse"):
                sys.exit(f"{name} round {round_}: plays_reused is {summary['plays_reused']}")
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
    result["ratio_job_duckdb"] = round(result["job_cold_median_s"] / result["duckdb_median_s"], 2)
    result["ratio_reuse_cold"] = round(result["job_reuse_median_s"] / result["job_cold_median_s"], 2)
    if args.bare:
        result["ratio_bare_duckdb"] = round(result["spark_bare_median_s"] / result["duckdb_median_s"], 2)
    for name, items in summaries.items():
        result[f"{name}_stage_median_s"] = benchmark.median_stage_seconds(items)
    results = data / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{rows}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def report(result: dict) -> str:
    lines = [
        f"rows {result['rows']:,} ({result['input_bytes'] / 1e9:.2f} GB), {result['runs']} alternating runs each, "
        f"{result['cores']} cores, spark.driver.memory={result['driver_memory']}, "
        f"load (1-min) {min(result['load_1min']):.1f}..{max(result['load_1min']):.1f}",
        f"  {'engine':<34}{'median s':>9}   {'runs s':<24}{'peak RSS':>9}{'CPU s':>8}",
    ]
    for name, label in (("duckdb", "DuckDB SQL"), ("job_cold", "Spark job, cold"),
                        ("job_reuse", "Spark job, re-run (plays reused)"), ("spark_bare", "Spark bare (no writes, no checks)")):
        if f"{name}_s" not in result:
            continue
        runs = " ".join(f"{s:.1f}" for s in result[f"{name}_s"])
        lines.append(f"  {label:<34}{result[f'{name}_median_s']:>9.1f}   {runs:<24}{result[f'{name}_peak_rss_mb']:>6} MB{result[f'{name}_cpu_median_s']:>8.0f}")
    lines += [
        f"  job / DuckDB: {result['ratio_job_duckdb']:.2f} (target <= 3.0); "
        f"re-run / cold: {result['ratio_reuse_cold']:.2f} (target <= 0.5); answers identical: yes"
        + (f"; bare Spark / DuckDB: {result['ratio_bare_duckdb']:.2f}" if "ratio_bare_duckdb" in result else ""),
        "  job stages, cold (median s): " + ", ".join(f"{k} {v}" for k, v in result["job_cold_stage_median_s"].items()),
        "  job stages, re-run (median s): " + ", ".join(f"{k} {v}" for k, v in result["job_reuse_stage_median_s"].items()),
    ]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    for rows in args.rows:
        print(f"benchmark: {rows:,} rows", flush=True)
        print(report(bench_size(rows, args)), flush=True)
    if args.plot:
        results = [json.loads(p.read_text()) for p in sorted((args.data / "results").glob("*.json"))]
        benchmark.plot(results, args.plot)
        print(f"wrote {args.plot} ({len(results)} sizes)")


if __name__ == "__main__":
    main()
