"""The top songs in the longest Last.fm listening sessions: the command line of jobs/top_tracks.py.

    spark-submit jobs/top_tracks.py --input PATH --output FILE.tsv --warehouse DIR \
        [--session-gap-minutes 20] [--top-sessions 50] [--top-tracks 10] \
        [--max-reject-fraction 0.001] [--max-duplicate-fraction 0.01] [--warn-only] [--verbose] \
        [--incremental | --as-of-version N [--replace-output]] [--max-repeat-fraction 0.5] \
        [--readmit PATH]... [--forget-missing-files] [--max-days-without-new-files 3] [--plan]

Prints the run's plan and the stages as they run, then the top songs and where the files are; the
whole run summary is in run_summary.json beside the output (printed too with --verbose). With
--plan it prints the plan the run would carry out now, and writes nothing.

Exit codes: 0 success, 2 bad usage or unusable input, 3 data-quality failure (an input file
refused, and ingested around; no new file for too long), 4 another run changed the warehouse at
the same time (run again), 1 anything else. docs/scheduling.md's runbook says what to do for each.
The master and cluster settings come from spark-submit, never from this file.
"""

from __future__ import annotations

import json
import logging
import sys

from lastfm.commands import ArgumentParser, one_line, print_error
from lastfm.config import JobConfig
from lastfm.errors import JobError
from lastfm.pipeline import plan_of, run
from lastfm.platforms.session import build_spark
from lastfm.summary import report_lines

log = logging.getLogger("top_tracks")


def argument_parser() -> ArgumentParser:
    """The job's options (the README's table of them is checked against this)."""
    parser = ArgumentParser(prog="top_tracks", description=__doc__.split("\n")[0])
    # one add_argument per option, in the order of the usage above (alike in shape, not repeated code)
    parser.add_argument("--input", required=True, help="raw TSV file or folder (any Hadoop URI)")
    parser.add_argument("--output", required=True, help="the single TSV file to write")
    parser.add_argument("--warehouse", required=True, help="folder for the Delta tables")
    parser.add_argument("--session-gap-minutes", type=float, default=20)
    parser.add_argument("--top-sessions", type=int, default=50)
    parser.add_argument("--top-tracks", type=int, default=10)
    parser.add_argument("--max-reject-fraction", type=float, default=0.001)
    parser.add_argument("--max-duplicate-fraction", type=float, default=0.01,
                        help="most rows allowed to repeat an earlier (user, timestamp, artist, track)")
    parser.add_argument("--warn-only", action="store_true",
                        help="log failed data expectations as warnings instead of failing with exit 3")
    parser.add_argument("--incremental", action="store_true",
                        help="ingest only the files under --input that the warehouse has not ingested yet")
    parser.add_argument("--as-of-version", type=int, default=None, metavar="N",
                        help="rebuild the deliverable from the plays table as of its version N (no table written)")
    parser.add_argument("--max-repeat-fraction", type=float, default=0.5,
                        help="a new file with more of its plays repeating plays already held is quarantined "
                             "(a partial re-delivery)")
    parser.add_argument("--readmit", action="append", default=[], metavar="PATH",
                        help="ingest this refused input file as it is (its full path, as the run summary names it); "
                             "repeatable")
    parser.add_argument("--forget-missing-files", action="store_true",
                        help="a full run drops the plays of counted files that are no longer in the input")
    parser.add_argument("--max-days-without-new-files", type=float, default=3,
                        help="an incremental run fails when no new input file has landed for this many days (0: never)")
    parser.add_argument("--replace-output", action="store_true",
                        help="let --as-of-version write over the output of the runs that ingest")
    parser.add_argument("--plan", action="store_true",
                        help="print what the run would do now (files to take, sessions, answer) and write nothing")
    parser.add_argument("--verbose", action="store_true",
                        help="every library's INFO log lines, and the run summary printed as JSON")
    return parser


def parse_command_line(argv=None) -> tuple[JobConfig, bool, bool]:
    """(the run's configuration, --verbose, --plan)."""
    options = vars(argument_parser().parse_args(argv))
    verbose, show_plan = options.pop("verbose"), options.pop("plan")
    options["readmit"] = tuple(options["readmit"])
    return JobConfig(**options), verbose, show_plan


def parse_args(argv=None) -> JobConfig:
    return parse_command_line(argv)[0]


def main(argv=None) -> int:
    config, verbose = None, "--verbose" in (sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format=("%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose
                                else "%(asctime)s %(message)s"),
                        datefmt=None if verbose else "%H:%M:%S")
    logging.getLogger("lastfm").setLevel(logging.INFO)  # the stages, as progress
    try:
        config, verbose, show_plan = parse_command_line(argv)
        spark = build_spark("lastfm-top-tracks")
        try:
            if show_plan:
                print("\n".join(plan_of(spark, config).lines()))
                return 0
            summary = run(spark, config)
        finally:
            spark.stop()
    except JobError as error:
        print_error(f"error: {error}")
        return error.exit_code
    except Exception as error:  # anything else (a storage error, a bug): one line here, the trace in the log
        log.exception("run failed")
        paths = {"input": config.input, "output": config.output, "warehouse": config.warehouse} if config else {}
        print_error(f"error: {one_line(error, paths)}")
        return 1
    if verbose:
        print(json.dumps(summary.to_json(), default=str))
    print("\n".join(report_lines(summary)))
    return 0
