"""What a run will do, decided before it does any of it: pure functions of plain values, no Spark.

A run reads what the warehouse holds once, at its start (`Held`: the record of files, what
`sessions` holds), lists its input, and `plan` returns its `Plan`:
- the batch a run that died left, completed first with the files it claimed;
- this run's batch: the files to take, each with how (`files_to_take`). New files, and counted
  files whose size or time changed, are judged by their content once parsed: admitted, skipped
  as a repeat of a counted file, or quarantined (quality/admission.py's verdicts);
- `plays` appended to, rebuilt, or reused as it is (a full run over an unchanged input);
- `sessions` reused, updated with the plays of the batches since the batch it holds, or built
  anew (`sessions_action`);
- the answer: an incremental run that takes no file keeps the last one when the output is still
  the one it wrote; else an update keeps the last top tracks when the top sessions are the same
  (sessions_stage.kept_answer); else they are computed.
The stages carry the plan out; the run logs it (`Plan.lines`) and `--plan` prints it and writes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lastfm.config import JobConfig
from lastfm.errors import UsageError
from lastfm.question.parsing import PARSE_VERSION
from lastfm.question.sessions import rules
from lastfm.storage import record
from lastfm.storage.record import Claimed, Record

# What becomes of `sessions`
REUSE = "reuse"  # it holds the plays of the batch the run answers from, under the run's rules
UPDATE = "update"  # the sessions of the users with plays in the batches since it was written, recomputed
BUILD = "build"  # built anew from every play
COMPUTE = "compute"  # --as-of-version: computed from that version's plays, no table written
LATER = "later"  # decided once the batch a dead run left is complete (Plan.replan)


@dataclass(frozen=True)
class Held:
    """What the warehouse holds, read once at the run's start (pipeline.read_held)."""

    files: Record = field(default_factory=Record)
    sessions: tuple[int, str] | None = None  # (the batch through which it holds every play, its rules)
    plays_exist: bool = False  # a `plays` table, with or without a record
    gone: frozenset[str] = frozenset()  # files the unfinished batch claimed that are no longer there


@dataclass(frozen=True)
class Batch:
    """One batch the run takes."""

    number: int
    files: tuple[Claimed, ...]
    resumed: bool = False  # claimed by a run that died in it: completed, not claimed again
    rewrite: bool = False  # `plays` and `rejects` rewritten whole (a full run, or the first batch)
    replaced: tuple[str, ...] = ()  # counted files re-admitted with another content: their rows replaced


@dataclass(frozen=True)
class Plan:
    mode: str  # JobConfig.mode
    batches: tuple[Batch, ...] = ()  # in the order they are taken
    reuse: bool = False  # a full run over the input counted as it is: the tables stand
    answers_from: int | None = None  # the batch whose plays the answer counts (None: --as-of-version)
    sessions: str = COMPUTE
    sessions_from: int | None = None  # REUSE, UPDATE: the batch through which `sessions` held the plays
    # a batch a dead run left comes first: the rest of the input is planned again from the record it
    # leaves (which of its files it admitted decides how the next batch takes them)
    replan: bool = False

    @property
    def rebuilds(self) -> bool:
        """`plays` rewritten, or counted files' rows replaced: what `sessions` held no longer stands."""
        return any(b.rewrite or b.replaced for b in self.batches)

    @property
    def takes_nothing(self) -> bool:
        """An incremental run with no file to take: its answer is the last one, when the output is."""
        return self.mode == "incremental" and not self.batches

    def lines(self) -> list[str]:
        """The plan as the run logs it and --plan prints it."""
        if self.mode == "as_of":
            return ["plan: an --as-of-version run: sessions and the answer computed from that version of plays; "
                    "no table written"]
        out = [f"plan: {'an' if self.mode == 'incremental' else 'a'} {self.mode} run"]
        for batch in self.batches:
            out.append(f"batch {batch.number}: {len(batch.files)} file(s)"
                       + (" (completing the batch of a run that stopped in it)" if batch.resumed else ""))
            out += [f"  {c.kind} {c.path}: {TAKEN[c.kind]}" for c in batch.files]
        plays = "reused as they are" if self.reuse else "unchanged" if not self.batches else \
            "rewritten whole" if any(b.rewrite for b in self.batches) else \
            "the re-admitted files' rows replaced, the batch's appended" if self.rebuilds else "the batch's appended"
        if self.replan:
            return out + ["then the input is planned again, from the record that batch leaves"]
        out.append(f"plays: {plays}; the answer counts the plays of batches up to {self.answers_from}")
        out.append("sessions: " + {
            REUSE: "reused as they are",
            UPDATE: f"updated with the plays of batches {(self.sessions_from or 0) + 1}-{self.answers_from}",
            BUILD: "built anew from every play"}[self.sessions])
        out.append("answer: " + (
            "the last one, when the output is still the one it wrote; else computed" if self.takes_nothing else
            "the last top tracks, when the top sessions are the last answer's; else computed"
            if self.sessions in (REUSE, UPDATE) else "computed"))
        return out


# How each kind of file is taken, as the plan says it
TAKEN = {
    record.NEW: "parsed, then admitted, skipped (a repeat of a counted file) or quarantined by its content",
    record.TOUCHED: "counted, its size or time changed: parsed, kept when the content is the same, refused if not",
    record.READMIT: "refused before, re-admitted as it is",
    record.REPARSE: "counted: parsed again",
    record.KEEP: "changed after it was counted: the plays counted kept",
    record.FORGET: "gone from the input: its plays dropped",
}


def plan(held: Held, listing: list[tuple[str, int, int]], config: JobConfig, input_root: str = "",
         taken: tuple[Batch, ...] = ()) -> Plan:
    """The run's plan (see the module docstring). `listing`: (path, size, modification time) of
    the input's files; `input_root`: the input's qualified path; `taken`: the batches the run has
    taken already (the one a dead run left, when its plan said `replan`). UsageError for a run
    that cannot be carried out (an --incremental run on a warehouse without a record, --readmit of
    a file that is not refused, a full run that would drop files gone from the input without being
    told to)."""
    if config.as_of_version is not None:
        return Plan(mode=config.mode)
    current = held.files
    if config.incremental and current.last_batch is None and held.plays_exist:
        raise UsageError(f"{config.table_path('plays')} has no record of the files it holds "
                         f"({config.table_path('files')}; written by an older version of the job): rebuild the "
                         "warehouse with one run without --incremental")
    if current.pending:  # a claimed file gone since is left out: it stays pending, and is new if it comes back
        files = tuple(c for c in current.pending if c.kind not in record.PARSED or c.path not in held.gone)
        return Plan(mode=config.mode, batches=(batch_of(current, current.last_batch, files, resumed=True),),
                    answers_from=current.last_batch, sessions=LATER, replan=True)
    claims = files_to_take(current, listing, full=not config.incremental, readmit=config.readmit,
                           forget_missing=config.forget_missing_files, input_root=input_root)
    reuse = not config.incremental and unchanged_input(current, claims)
    batches = (*taken, batch_of(current, current.next_batch, tuple(claims))) if claims and not reuse else taken
    the_plan = Plan(mode=config.mode, batches=batches, reuse=reuse,
                    answers_from=batches[-1].number if batches else current.completed_batch)
    action, since = sessions_action(held.sessions, the_plan, rules(config.session_gap_seconds))
    return replace(the_plan, sessions=action, sessions_from=since)


def batch_of(current: Record, number: int, files: tuple[Claimed, ...], resumed: bool = False) -> Batch:
    replaced = tuple(c.path for c in files if c.kind == record.READMIT  # the state before a claim a dead run left
                     and current.settled[c.path]["status"] == record.CHANGED)
    rewrite = number == 0 or any(c.kind in (record.REPARSE, record.KEEP, record.FORGET) for c in files)
    return Batch(number, files, resumed=resumed, rewrite=rewrite, replaced=replaced)


def sessions_action(held: tuple[int, str] | None, the_plan: Plan, rules_now: str) -> tuple[str, int | None]:
    """(REUSE, UPDATE or BUILD, the batch an update starts after): `sessions` is reused when it
    holds the plays of the batch the run answers from under the run's rules; an incremental run
    updates sessions that hold an earlier batch under the same rules (the plays since were only
    appended); anything else, and any run whose batches rewrite or replace plays, builds anew."""
    if the_plan.rebuilds or held is None or held[1] != rules_now:
        return BUILD, None
    if held[0] == the_plan.answers_from:
        return REUSE, held[0]
    if the_plan.mode == "incremental" and held[0] < the_plan.answers_from:
        return UPDATE, held[0]
    return BUILD, None


def unchanged_input(current: Record, claims: list[Claimed]) -> bool:
    """A full run changes nothing when it would parse again exactly the files counted, unchanged,
    by the same parse."""
    return bool(claims) and all(
        c.kind in (record.REPARSE, record.KEEP) and current.state[c.path]["size"] == c.size
        and current.state[c.path]["modified"] == c.modified for c in claims) and all(
        row["parse_version"] == PARSE_VERSION for row in current.counted.values() if row["status"] == record.ADMITTED)


def files_to_take(current: Record, listing: list[tuple[str, int, int]], *, full: bool,
                  readmit: tuple[str, ...] = (), forget_missing: bool = False, input_root: str = "") -> list[Claimed]:
    """The files the next batch takes, each with how (record.NEW, TOUCHED, ...), in path order; []
    when there is nothing to do.

    Incremental (`full` false): files never counted, or refused or skipped before and changed since
    (NEW); counted files whose size or time changed (TOUCHED); the files named in `readmit`
    (READMIT), but those re-admitted already (the retry of a re-admission killed after its
    outcome). A full run takes every file: the refused and skipped ones judged again (NEW, under
    this run's options), every counted file parsed again (REPARSE), its plays kept as they are
    when it changed after it was counted (KEEP), dropped when it is gone from the input and
    `forget_missing` says so (FORGET; without it, UsageError). A counted file that was never under
    `input_root` (the input's qualified path; "" holds every path) is dropped by a full run
    whatever `forget_missing` says: the run was pointed at another input, and answers from it."""
    listed = {path: (size, modified) for path, size, modified in listing}
    readmit = tuple(path for path in readmit if path not in current.readmitted)  # a retry's: done already
    unknown = [path for path in readmit if path not in listed or path not in current.with_status(*record.REFUSED)]
    if unknown:
        refused = ", ".join(current.unresolved) or "none"
        raise UsageError(f"--readmit {unknown[0]}: not a refused file of the input (refused files: {refused})")
    claims = []
    for path, (size, modified) in sorted(listed.items()):
        row = current.state.get(path)
        same = row is not None and (row["size"], row["modified"]) == (size, modified)
        if path in readmit:
            kind = record.READMIT
        elif row is None or row["status"] in (record.FORGOTTEN, record.PENDING):
            kind = record.NEW
        elif row["status"] in record.COUNTED:
            if full:  # a file that changed after it was counted keeps its plays, unless it changed again
                kind = record.KEEP if row["status"] == record.CHANGED and same else record.REPARSE
            else:
                kind = None if same else record.TOUCHED
        else:  # refused or skipped: judged again once it changes, and by every full run
            kind = record.NEW if full or not same else None
        if kind is not None:
            claims.append(Claimed(path, size, modified, kind))
    if not claims and not full:
        return []
    missing = sorted(set(current.counted) - set(listed))
    root = input_root.rstrip("/")
    gone = [path for path in missing if not root or path == root or path.startswith(root + "/")]
    if full and gone and not forget_missing:
        raise UsageError(f"{len(gone)} counted input file(s) no longer in the input, e.g. {gone[0]}: a full run "
                         "would drop their plays; put them back, or run with --forget-missing-files to drop them")
    if full:
        claims += [Claimed(path, current.state[path]["size"], current.state[path]["modified"], record.FORGET)
                   for path in missing]
    return claims
