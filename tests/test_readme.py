"""The README's snippets that need no cluster, run as a user would run them; its tables of options
and exit codes against the job's own."""

import re
from pathlib import Path

import pytest

from lastfm import errors
from lastfm.commands.top_tracks import argument_parser
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


def table_rows(heading_line: str) -> list[list[str]]:
    """The cells of the rows of the first Markdown table whose header line starts `heading_line`."""
    text = README.read_text(encoding="utf-8")
    rows = text[text.index(heading_line):].split("\n\n")[0].splitlines()[2:]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]


def test_the_options_table_lists_every_option_of_the_job_with_its_default():
    documented = {}
    for names, default, _ in table_rows("| option | default |"):
        options = re.findall(r"`(--[a-z-]+)", names)
        defaults = [d.strip() for d in default.split(",")] if default else [""] * len(options)
        documented.update(zip(options, defaults, strict=True))
    actions = [a for a in argument_parser()._actions if a.option_strings != ["-h", "--help"]]
    assert set(documented) == {a.option_strings[0] for a in actions}
    for action in actions:  # a number's default as the parser has it; a flag, a list or a required option: none
        shown = documented[action.option_strings[0]]
        assert (float(shown) if shown else None) == (action.default or None), action.option_strings[0]


def test_the_exit_code_table_lists_every_exit_code_the_job_has():
    kinds = [kind for kind in vars(errors).values() if isinstance(kind, type) and issubclass(kind, errors.JobError)]
    codes = {kind.exit_code for kind in kinds}
    assert [int(row[0]) for row in table_rows("| exit | means |")] == [0, *sorted(codes - {1}), 1]
