"""What one run is asked to do: paths and the knobs of the question."""

from __future__ import annotations

from dataclasses import dataclass

from lastfm.errors import UsageError
from lastfm.tables import WAREHOUSE

MAX_GAP_MINUTES = 1e9  # ~1,900 years: longer than any listening history


@dataclass(frozen=True)
class JobConfig:
    input: str
    output: str
    warehouse: str
    session_gap_minutes: float = 20
    top_sessions: int = 50
    top_tracks: int = 10
    max_reject_fraction: float = 0.001
    # rows repeating an earlier (user, timestamp, artist, track): counted and kept
    max_duplicate_fraction: float = 0.01
    warn_only: bool = False  # failed data expectations are logged, not fatal
    incremental: bool = False  # ingest only the input files the warehouse has not ingested yet
    as_of_version: int | None = None  # rebuild the deliverable from `plays` as of this version
    # a file most of whose plays repeat plays already held is a partial re-delivery: quarantined
    max_repeat_fraction: float = 0.5
    readmit: tuple[str, ...] = ()  # refused files an operator re-admits as they are (their full paths)
    forget_missing_files: bool = False  # a full run may drop the plays of counted files gone from the input
    # an incremental run with no new file warns; after this many days without one it fails (0: never)
    max_days_without_new_files: float = 3
    replace_output: bool = False  # --as-of-version may write over the output the daily runs own

    def __post_init__(self):
        # `not <=`, so that nan fails too; the cap keeps the gap in seconds a 64-bit number
        if not 0 <= self.session_gap_minutes <= MAX_GAP_MINUTES:
            raise UsageError(f"--session-gap-minutes must be between 0 and {MAX_GAP_MINUTES:g}, "
                             f"got {self.session_gap_minutes}")
        for name in ("top_sessions", "top_tracks"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.max_duplicate_fraction <= 1:
            raise UsageError(
                f"--max-duplicate-fraction must be between 0 and 1, got {self.max_duplicate_fraction}"
            )
        if self.as_of_version is not None and (self.as_of_version < 0 or self.incremental):
            raise UsageError(f"--as-of-version must be >= 0 and without --incremental, got {self.as_of_version}")
        if not 0 <= self.max_repeat_fraction <= 1:
            raise UsageError(f"--max-repeat-fraction must be between 0 and 1, got {self.max_repeat_fraction}")
        if not self.max_days_without_new_files >= 0:
            raise UsageError(f"--max-days-without-new-files must be >= 0, got {self.max_days_without_new_files}")
        if self.readmit and self.as_of_version is not None:
            raise UsageError("--readmit needs a run that ingests (not --as-of-version)")
        if not 0 <= self.max_reject_fraction <= 1:
            raise UsageError(
                f"--max-reject-fraction must be between 0 and 1, got {self.max_reject_fraction}"
            )

    @property
    def mode(self) -> str:
        return "as_of" if self.as_of_version is not None else "incremental" if self.incremental else "full"

    @property
    def session_gap_seconds(self) -> int:
        return round(self.session_gap_minutes * 60)

    def table_path(self, table: str) -> str:
        """Where a Delta table of the warehouse (tables.WAREHOUSE) lives: `<warehouse>/<table>`."""
        assert table in WAREHOUSE, table
        return f"{self.warehouse.rstrip('/')}/{table}"

    def beside_output(self, name: str) -> str:
        """A file next to the deliverable: `<output folder>/<name>`."""
        parent, _, _ = self.output.rstrip("/").rpartition("/")
        return f"{parent}/{name}" if parent else name
