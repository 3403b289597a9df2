"""The record of input files: what the warehouse ingested, skipped or refused, kept as data.

The `files` Delta table beside the others (schemas.FILES) is appended to, one row per file per
event, and never rewritten by the job; the latest row of a path (highest `seq`) is its state.
Nothing here lives in a table's commit history, so Delta's log cleanup, checkpoints, OPTIMIZE,
VACUUM, RESTORE of another table or a property change leave it whole, and reading it costs in
proportion to the files (a few rows each), not to the commits.

A run that has files to parse takes them as one batch B (the next number):
1. claim: a `pending` row per file at seq 2B, appended under the Delta transaction
   (`lastfm-record`, 2B), so no two runs can claim B: the second's append is skipped or conflicts,
   it finds the claim not its own (the table's latest commit is not its append, and the rows of
   seq 2B are not its run's) and stops (ConcurrentRunError, exit 4) having written nothing;
2. the batch's rows go to `plays`, `rejects` and `quarantine`, each write replacing whatever rows
   of batches >= B are there (left by a run that died in B): appends that are idempotent;
3. outcome: a row per file at seq 2B + 1 (transaction 2B + 1) with its status, the batch whose
   rows of it `plays` holds, its facts, content identity and input profile.
A claim with no outcome is a batch a run died in: the next run parses the same files again as
batch B, which writes the same rows, and completes it before anything else. So a file is counted
once whatever is killed when, and the record and `plays` agree once a run has finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lastfm.errors import ConcurrentRunError
from lastfm.schemas import BATCH, FILES
from lastfm.storage.reading import read_table
from lastfm.storage.writing import TableVersion, write_table

TRANSACTION = "lastfm-record"

# A file's state
PENDING = "pending"  # claimed by a batch that has no outcome yet
ADMITTED = "admitted"  # its plays are in `plays`
DUPLICATE = "duplicate"  # its content equals a counted file's: not ingested again
QUARANTINED = "quarantined"  # refused by the per-file checks: its lines are in `quarantine`
CHANGED = "changed"  # counted, then changed: the plays of the content counted stay, the new content is refused
FORGOTTEN = "forgotten"  # counted, then gone from the input; a full run told to drop its plays did
STATUSES = (PENDING, ADMITTED, DUPLICATE, QUARANTINED, CHANGED, FORGOTTEN)
COUNTED = (ADMITTED, CHANGED)  # the files whose plays `plays` holds
REFUSED = (QUARANTINED, CHANGED)  # the files an operator has to look at (unresolved quarantine)

# How a claimed file is to be taken (the `reason` of a pending row)
NEW = "new"  # never counted: checked, then admitted, skipped as a duplicate or quarantined
TOUCHED = "touched"  # counted, size or time changed since: the same content (kept) or changed
READMIT = "readmit"  # refused before; an operator re-admits it (--readmit): no refusal checks
REPARSE = "reparse"  # a full run parses a counted file again
KEEP = "keep"  # a full run keeps the plays of a file that changed after it was counted
FORGET = "forget"  # a full run drops the plays of a counted file gone from the input
PARSED = (NEW, TOUCHED, READMIT, REPARSE)
READMITTED = "re-admitted (--readmit)"  # the reason of a file an operator had admitted as it is


@dataclass(frozen=True)
class Claimed:
    """A file of a batch and how it is to be taken."""

    path: str
    size: int
    modified: int
    kind: str


@dataclass
class Record:
    """The state of every file the warehouse knows of (`read_record`)."""

    state: dict[str, dict] = field(default_factory=dict)  # path -> its latest row
    # path -> its latest row but a claim of the pending batch: its state before that batch
    settled: dict[str, dict] = field(default_factory=dict)
    last_batch: int | None = None  # the highest batch claimed
    pending: list[Claimed] = field(default_factory=list)  # the files of that batch, if it has no outcome
    first_seen: dict[str, datetime] = field(default_factory=dict)  # path -> when it was first claimed
    # batch -> {path -> why}: the files each batch refused that were not refused before with the
    # same content (`_refused_afresh`): what the runs that took them exit 3 with
    refused_in: dict[int, dict[str, str]] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)  # the rows it was made of (`record_of`)

    @property
    def next_batch(self) -> int:
        return 0 if self.last_batch is None else self.last_batch + 1

    @property
    def completed_batch(self) -> int | None:
        """The latest batch with an outcome: `plays` holds the rows of batches up to it."""
        if self.last_batch is None:
            return None
        return self.last_batch - 1 if self.pending else self.last_batch

    def with_status(self, *statuses: str) -> dict[str, dict]:
        """The files of these statuses, by their latest outcome: a claim a dead run left changes no
        file's status (its batch counts nothing until it is completed)."""
        return {path: row for path, row in self.settled.items() if row["status"] in statuses}

    @property
    def refused_last(self) -> dict[str, str]:
        """The refusals of the latest completed batch: what the run that took it, and every
        retry of that run, exits 3 with."""
        return self.refused_in.get(self.completed_batch, {})

    @property
    def counted(self) -> dict[str, dict]:
        return self.with_status(*COUNTED)

    @property
    def readmitted(self) -> dict[str, dict]:
        """The counted files an operator had admitted as they are (--readmit): the run's reject
        fraction leaves their lines out, and a --readmit of one of them again (a retry's) has
        nothing left to do."""
        return {path: row for path, row in self.counted.items() if row["reason"] == READMITTED}

    @property
    def unresolved(self) -> list[str]:
        """The files an operator has to look at: refused, or changed after they were counted."""
        return sorted(self.with_status(*REFUSED))


def record_of(rows: list[dict]) -> Record:
    """The record that rows of the `files` table make (any order): those read, and those a run
    appended since (`claim`, `complete`), so that a run reads the record once."""
    # PySpark gives a timestamp as the driver's local time, without a zone; a run's own rows say UTC
    rows = [{**r, "recorded_at": r["recorded_at"].astimezone(timezone.utc)} for r in rows]
    record = Record(rows=rows)
    if not rows:
        return record
    last = max(r["seq"] for r in rows)
    judged = {}  # path -> its latest row so far, claims aside
    for row in sorted(rows, key=lambda r: r["seq"]):
        if row["seq"] % 2 and row["status"] in REFUSED and _refused_afresh(judged.get(row["path"]), row):
            record.refused_in.setdefault(row["seq"] // 2, {})[row["path"]] = row["reason"]
        if row["status"] != PENDING:
            judged[row["path"]] = row
        if row["seq"] != last or last % 2:  # a claim of the batch still pending changes no file's status
            record.settled[row["path"]] = row
        record.state[row["path"]] = row
        record.first_seen.setdefault(row["path"], row["recorded_at"])
    record.last_batch = last // 2
    if last % 2 == 0:  # a claim without its outcome
        record.pending = [Claimed(r["path"], r["size"], r["modified"], r["reason"])
                          for r in sorted(rows, key=lambda r: r["path"]) if r["seq"] == last]
    return record


def _refused_afresh(before: dict | None, outcome: dict) -> bool:
    """Whether a refusal is news: not a file refused before with the same content (a full run judges
    every refused file again), nor a changed file whose counted plays a full run keeps (its
    verdict stands from the batch that found the change)."""
    if before is None:
        return True
    if outcome["status"] == CHANGED:
        same_file = (before["size"], before["modified"]) == (outcome["size"], outcome["modified"])
        return before["status"] != CHANGED or not same_file
    return not (before["status"] == QUARANTINED and before["content_id"] == outcome["content_id"])


def read_record(spark: SparkSession, uri: str) -> Record:
    """The record at `uri` (an empty one where there is no table yet)."""
    if not DeltaTable.isDeltaTable(spark, uri):
        return Record()
    return record_of([row.asDict() for row in read_table(spark, uri).collect()])


def claim(spark: SparkSession, uri: str, batch: int, claims: list[Claimed], run_id: str) -> list[dict]:
    """Append the batch's claim (see the module docstring) and return its rows; ConcurrentRunError
    when another run claimed this batch first."""
    now = datetime.now(timezone.utc)
    rows = [_row(path=c.path, size=c.size, modified=c.modified, seq=2 * batch, batch=batch, status=PENDING,
                 reason=c.kind, run_id=run_id, recorded_at=now) for c in claims]
    note = f"claim of batch {batch} by run {run_id}"
    # Delta skips an append whose transaction version the table has seen, and fails one that a
    # concurrent commit carried too: the claim is ours when it made a commit
    if not append(spark, uri, rows, 2 * batch, note).committed:
        raise ConcurrentRunError(f"{uri}: another run claimed batch {batch} at the same time; this run stopped "
                                 "without adding anything: run it again")
    return rows


def complete(spark: SparkSession, uri: str, batch: int, outcomes: list[dict], run_id: str) -> list[dict]:
    """Append the batch's outcome and return its rows: `outcomes` are rows of schemas.FILES without
    the bookkeeping fields (seq, batch, run, time), which this fills in."""
    now = datetime.now(timezone.utc)
    rows = [_row(**{**o, "seq": 2 * batch + 1, BATCH: batch, "run_id": run_id, "recorded_at": now}) for o in outcomes]
    append(spark, uri, rows, 2 * batch + 1)
    return rows


def append(spark: SparkSession, uri: str, rows: list[dict], seq: int, note: str | None = None) -> TableVersion:
    frame = spark.createDataFrame([tuple(r[f] for f in FILES.fieldNames()) for r in rows], FILES)
    return write_table(frame, uri, note, append=True, transaction=(TRANSACTION, seq))


def _row(**values) -> dict:
    return {name: values.get(name) for name in FILES.fieldNames()}


def profile_of(row: dict) -> dict:
    return json.loads(row["profile"])


def sketches_of(row: dict) -> dict:
    return json.loads(row["sketches"])
