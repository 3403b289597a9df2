"""The README's snippets that need no cluster, run as a user would run them."""

import re
from pathlib import Path

import pytest

from lastfm.storage.reading import read_table
from lastfm.tables import WAREHOUSE

README = Path(__file__).resolve().parent.parent / "README.md"
# a warehouse an earlier version of the job wrote: `sessions` with deletion vectors, `runs` with arrays
WAREHOUSE_DIR = Path(__file__).resolve().parent / "fixtures" / "warehouse-2026-12-05" / "tables"


def snippet(heading: str) -> str:
    """The first ```python block after the README heading `heading`."""
    text = README.read_text(encoding="utf-8")
    after = text[text.index(f"### {heading}\n"):]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


@pytest.mark.parametrize("table", sorted(name for name in WAREHOUSE if (WAREHOUSE_DIR / name).exists()))
def test_the_pandas_snippet_reads_every_table_as_spark_does(spark, table):
    code = snippet("Reading the tables with pandas (no Spark)")
    assert '"data/out/warehouse/sessions"' in code  # the path the README shows, replaced below
    names = {}
    exec(code.replace('"data/out/warehouse/sessions"', repr(str(WAREHOUSE_DIR / "sessions"))), names)
    frame = names["read_delta"](str(WAREHOUSE_DIR / table))
    spark_rows = read_table(spark, str(WAREHOUSE_DIR / table))
    assert len(frame) == spark_rows.count() and list(frame.columns) == spark_rows.columns
    if table == "sessions":  # the rows the deletion vectors mark are not read
        assert frame["play_count"].sum() == spark_rows.groupBy().sum("play_count").first()[0]
