"""The warehouse's tables: their names and order, constraints and properties."""

from lastfm import tables


def test_the_warehouse_is_the_answer_tables_then_the_bookkeeping_tables():
    assert list(tables.ANSWER_TABLES) == ["plays", "rejects", "sessions", "top_sessions", "top_tracks", "profile"]
    assert list(tables.BOOKKEEPING_TABLES) == ["runs", "files", "quarantine"]
    assert list(tables.WAREHOUSE) == [*tables.ANSWER_TABLES, *tables.BOOKKEEPING_TABLES]
    assert all(name == table.name for name, table in tables.WAREHOUSE.items())
