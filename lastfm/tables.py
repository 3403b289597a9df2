"""Every Delta table of the warehouse, each described once: its name (its folder,
`<warehouse>/<name>`, config.JobConfig.table_path), its schema (the StructType of schemas.py), its
Delta CHECK constraints and its other table properties. The writers pass a table's constraints and
properties to writing.write_table, which sets them in the same commit as the rows.

The answer tables come in the order a run writes them, then the bookkeeping tables beside them;
maintenance takes them in that order (storage/maintenance.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql.types import StructType

from lastfm import schemas


@dataclass(frozen=True)
class Table:
    """One Delta table of the warehouse."""

    name: str  # its folder under the warehouse
    schema: StructType  # its rows
    constraints: Mapping[str, str] = field(default_factory=dict)  # Delta CHECK constraints: name -> SQL boolean
    properties: Mapping[str, str] = field(default_factory=dict)  # other Delta table properties (`delta.*`)


# The constraints hold what the job guarantees by construction (quality/checks.py: how they and the
# expectations share the checking). Expressed as CHECKs, NOT NULL included: an overwrite with
# overwriteSchema replaces the column nullability flags, but keeps the table's constraints.
PLAYS = Table(
    "plays", schemas.PLAYS,
    constraints={"user_id_present": "user_id IS NOT NULL AND user_id <> ''", "ts_present": "ts IS NOT NULL"},
    # Delta keeps per-file min/max statistics of the first 32 columns by default; plays is only ever
    # filtered on these (the top sessions' users and times, a batch's plays): statistics on the names
    # and MBIDs cost ~15% of the parse's CPU (measured).
    properties={"delta.dataSkippingStatsColumns": f"{schemas.USER_ID},{schemas.TS},{schemas.BATCH}"},
)
REJECTS = Table("rejects", schemas.REJECTS, constraints={"reason_present": "reason IS NOT NULL"})
SESSIONS = Table(
    "sessions", schemas.SESSIONS_TABLE,
    constraints={"plays_positive": "play_count > 0", "ends_after_start": "session_end >= session_start",
                 "number_positive": "session_number >= 1"},
    # Deletion vectors (Delta 2.4+; a table feature: reader 3, writer 7, which Delta 3.3, 4.0, 4.4 and
    # delta-rs 1.x read): an update's MERGE marks the replaced sessions in a bitmap instead of
    # rewriting the files that hold them.
    properties={"delta.enableDeletionVectors": "true"},
)
TOP_SESSIONS = Table("top_sessions", schemas.TOP_SESSIONS,
                     constraints={"rank_positive": "rank >= 1", "plays_positive": "play_count > 0"})
TOP_TRACKS = Table("top_tracks", schemas.TOP_TRACKS,
                   constraints={"rank_positive": "rank >= 1", "plays_positive": "play_count > 0"})

RUNS = Table("runs", schemas.RUNS)  # the log of runs (bookkeeping.py)
FILES = Table("files", schemas.FILES)  # the record of input files (storage/record.py)
QUARANTINE = Table("quarantine", schemas.QUARANTINE)  # the lines of refused files

# name -> Table
ANSWER_TABLES: Mapping[str, Table] = {t.name: t for t in (PLAYS, REJECTS, SESSIONS, TOP_SESSIONS, TOP_TRACKS)}
BOOKKEEPING_TABLES: Mapping[str, Table] = {t.name: t for t in (RUNS, FILES, QUARANTINE)}
WAREHOUSE: Mapping[str, Table] = {**ANSWER_TABLES, **BOOKKEEPING_TABLES}  # every table, in that order
