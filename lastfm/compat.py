"""What differs between the Spark lines the job runs on (3.5, 4.0, 4.1): the one place that asks."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

try:  # Delta 3.3 and 4.4 turn a JVM commit conflict into one of these Python types; Delta 4.0's package has none
    from delta.exceptions import (
        ConcurrentAppendException,
        ConcurrentDeleteDeleteException,
        ConcurrentDeleteReadException,
        ConcurrentTransactionException,
        ConcurrentWriteException,
        DeltaConcurrentModificationException,
        MetadataChangedException,
        ProtocolChangedException,
    )

    DELTA_CONFLICTS: tuple[type, ...] = (
        ConcurrentAppendException, ConcurrentDeleteDeleteException, ConcurrentDeleteReadException,
        ConcurrentTransactionException, ConcurrentWriteException, DeltaConcurrentModificationException,
        MetadataChangedException, ProtocolChangedException)
except ImportError:
    DELTA_CONFLICTS = ()


def valid_utf8(text: Column) -> Column:
    """`text` with every byte sequence that is not UTF-8 replaced by U+FFFD. Spark's text reader
    passes a file's bytes through unchecked, and a string column holding such bytes breaks other
    readers of the tables (Arrow, delta-rs, DuckDB). Spark 4 has make_valid_utf8; 3.5's decode
    replaces what it cannot read (Spark 4's raises instead)."""
    if hasattr(F, "make_valid_utf8"):
        return F.make_valid_utf8(text)
    return F.decode(text.cast("binary"), "UTF-8")
