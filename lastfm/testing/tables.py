"""The job's Delta tables as another engine reads them: delta-rs (`deltalake`, a test and bench
dependency), for the tests and the benchmark."""

from __future__ import annotations


def delta_rs_rows(uri: str, storage_options: dict[str, str] | None = None):
    """The rows of the Delta table at `uri` as a pyarrow Table, read by delta-rs through its
    DataFusion reader, which applies deletion vectors (`sessions` has them; delta-rs's
    `to_pyarrow_table` refuses such a table)."""
    import pyarrow
    from deltalake import DeltaTable, QueryBuilder

    table = DeltaTable(uri, storage_options=storage_options)
    return pyarrow.table(QueryBuilder().register("t", table).execute("SELECT * FROM t").read_all())
