"""The warehouse's tables: their names and order, constraints and properties."""

import pytest

from lastfm import tables
from lastfm.errors import DataQualityError
from lastfm.storage.writing import write_table


def test_the_warehouse_is_the_answer_tables_then_the_bookkeeping_tables():
    assert list(tables.ANSWER_TABLES) == ["plays", "rejects", "sessions", "top_sessions", "top_tracks"]
    assert list(tables.BOOKKEEPING_TABLES) == ["runs", "files", "quarantine"]
    assert list(tables.WAREHOUSE) == [*tables.ANSWER_TABLES, *tables.BOOKKEEPING_TABLES]
    assert all(name == table.name for name, table in tables.WAREHOUSE.items())


def test_plays_keeps_statistics_on_columns_it_has():
    columns = tables.PLAYS.properties["delta.dataSkippingStatsColumns"].split(",")
    assert columns == ["user_id", "ts", "batch"] and set(columns) <= set(tables.PLAYS.schema.fieldNames())


def test_delta_check_constraint_failure_is_a_data_quality_error(spark, tmp_path):
    uri = str(tmp_path / "top_tracks")
    constraints, schema = tables.TOP_TRACKS.constraints, tables.TOP_TRACKS.schema
    first = write_table(spark.createDataFrame([(1, "A", "a", 3)], schema), uri, constraints=constraints)
    with pytest.raises(DataQualityError) as error:
        write_table(spark.createDataFrame([(1, "A", "a", 0)], schema), uri, constraints=constraints)
    assert str(error.value) == (f"{uri}: [DELTA_VIOLATE_CONSTRAINT_WITH_VALUES] CHECK constraint plays_positive "
                                "(play_count > 0) violated by row with values: play_count : 0")
    assert "\n" not in str(error.value)
    table = spark.read.format("delta").load(uri)
    assert first.version == 0 and table.collect()[0]["play_count"] == 3  # the failed write left no trace
    properties = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{uri}`").collect()}
    assert properties["delta.constraints.plays_positive"] == "play_count > 0"
