"""Compact and vacuum the warehouse's Delta tables (table maintenance): the command line of jobs/maintain.py.

    spark-submit jobs/maintain.py --warehouse DIR [--retention-hours 168] [--allow-short-retention]

For each of the job's tables present under --warehouse: OPTIMIZE (compaction of the daily appends'
small files), then VACUUM (deletes the files no version of the last --retention-hours needs);
prints one line per table. Versions older than the retention can no longer be read
(`--as-of-version`); no table property is changed (lastfm/storage/maintenance.py,
docs/scheduling.md "Maintenance"). Run it when no job uses the warehouse.

Exit codes: 0 success, 2 bad usage (no warehouse or no table there, a retention below Delta's
168 h without --allow-short-retention), 4 another run changed a table during maintenance (run
again), 1 anything else.
The master and cluster settings come from spark-submit, never from this file.
"""

from __future__ import annotations

import argparse
import logging

from lastfm.commands import ArgumentParser, one_line, print_error
from lastfm.errors import JobError
from lastfm.platforms.session import build_spark
from lastfm.storage.maintenance import DEFAULT_RETENTION_HOURS, Maintained, maintain
from lastfm.tables import WAREHOUSE

log = logging.getLogger("maintain")


def parse_args(argv=None) -> argparse.Namespace:
    """warehouse, retention_hours, allow_short_retention."""
    parser = ArgumentParser(prog="maintain", description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", required=True, help="the folder of the Delta tables (any Hadoop URI)")
    parser.add_argument("--retention-hours", type=float, default=DEFAULT_RETENTION_HOURS,
                        help="VACUUM keeps the files of the versions of this many hours (Delta's default, 7 days)")
    parser.add_argument("--allow-short-retention", action="store_true",
                        help="allow a retention below 168 h (lifts Delta's safety check for this run only): "
                             "only when nothing else reads or writes the warehouse")
    return parser.parse_args(argv)


def report_line(done: Maintained) -> str:
    """What maintenance did to one table, in one line."""
    compaction = (f"compacted {done.files_compacted} files into {done.files_written}" if done.files_compacted
                  else "nothing to compact")
    vacuum = ("VACUUM deleted (not logged on this file system)" if done.files_vacuumed is None
              else f"VACUUM deleted {done.files_vacuumed} file{'' if done.files_vacuumed == 1 else 's'}")
    return (f"{done.table:<13} v{done.version_before} -> v{done.version_after}  files {done.files_before} -> "
            f"{done.files_after} ({compaction}); {vacuum} removed more than {done.retention_hours:g} h ago")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("lastfm").setLevel(logging.INFO)  # each table's steps, as progress
    options = None
    try:
        options = parse_args(argv)
        spark = build_spark("lastfm-maintenance")
        try:
            done = maintain(spark, options.warehouse, options.retention_hours,
                            allow_short_retention=options.allow_short_retention)
        finally:
            spark.stop()
    except JobError as error:
        print_error(f"error: {error}")
        return error.exit_code
    except Exception as error:  # a storage error, a bug: one line here, the trace in the log
        log.exception("maintenance failed")
        print_error(f"error: {one_line(error, {'warehouse': options.warehouse} if options else {})}")
        return 1
    print("\n".join(report_line(table) for table in done.values()))
    absent = [name for name in WAREHOUSE if name not in done]
    if absent:
        print(f"no table (skipped): {', '.join(absent)}")
    return 0
