"""Is the `plays` table still the parse of this input? A fingerprint that says so.

Parsing the raw TSV is the most expensive stage, and a re-run that only changes the question
(`--session-gap-minutes`, `--top-sessions`, `--top-tracks`) does not need it. Each parse commit
of `plays` and `rejects` carries, in its Delta `userMetadata`, a fingerprint of:
- every input file's path, size and modification time (a file listing, no read of the data),
- everything that decides what a play is, how the input is read and written and what the parse
  observes (pipeline.PARSE_CODE: the parsing, schema, profiling, reading and writing modules,
  the parse itself, and the plays and rejects tables' constraints and properties).
The rejects commit, written last, also carries the input profile observed during the parse
(profiling.observe_input). The next run reuses both tables, and that profile, when the latest
commit of each holds the fingerprint of the current input and the rows each wrote are the rows
the parse observed (a parse that failed that check is never reused); anything else (another file, a
rewritten or touched file, a changed parser, a missing table, a run that died between the two
writes) parses again.

The same kind of note on each `sessions` commit (pipeline.sessions_fingerprint: the plays table's
path and version, the gap, and the code that shapes sessions) lets a re-run that only asks for
another top-N reuse the sessions too.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from types import FunctionType, ModuleType

NOTE_KEY = "input_fingerprint"
PROFILE_KEY = "input_profile"


def input_fingerprint(files: list[tuple[str, int, int]], code: tuple = ()) -> str:
    """sha256 hex of the (path, size, modification time) of `files` and of `code`: the source of
    each module or function in it, the repr of any other value (settings)."""
    source = hashlib.sha256("".join(_source(part) for part in code).encode("utf-8"))
    payload = json.dumps({"files": sorted([list(f) for f in files]), "code": source.hexdigest()})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _source(part) -> str:
    if not isinstance(part, (ModuleType, FunctionType)):
        return repr(part)
    try:
        return inspect.getsource(part)  # also from a --py-files zip
    except (OSError, TypeError):  # shipped without sources: code changes go unnoticed
        return f"{part.__module__}.{part.__qualname__}" if isinstance(part, FunctionType) else part.__name__


def commit_note(fingerprint: str | None, input_profile: dict | None = None, **more) -> str:
    """The `userMetadata` a commit carries: the fingerprint, the input profile of a parse, and
    any `more` (the ledger of an ingest, incremental.py)."""
    note = {NOTE_KEY: fingerprint, **more}
    if input_profile is not None:
        note[PROFILE_KEY] = input_profile
    return json.dumps(note)


def noted(note: str | None, key: str):
    """The value of `key` in a commit's `userMetadata`, or None."""
    return _noted(note).get(key)


def _noted(note: str | None) -> dict:
    try:
        value = json.loads(note or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def noted_fingerprint(note: str | None) -> str | None:
    """The fingerprint in a commit's `userMetadata`, or None when it holds none."""
    return _noted(note).get(NOTE_KEY)


def noted_profile(note: str | None) -> dict | None:
    """The input profile in a commit's `userMetadata`, or None when it holds none."""
    return _noted(note).get(PROFILE_KEY)
