"""Input listing: exactly the files Spark reads; a Delta table's latest commit; a run's cached frames."""

from contextlib import ExitStack

import pytest
from delta.tables import DeltaTable

from lastfm.errors import UsageError
from lastfm.storage.reading import cached, input_files, latest_commit, read_lines


def test_input_files_are_the_files_spark_reads(spark, tmp_path):
    source = tmp_path / "in"
    files = {"a.tsv": "1\n2\n", "day=2/b.tsv": "3\n", "_SUCCESS": "", "_temporary/0/c.tsv": "4\n",
             ".hidden/d.tsv": "5\n", "day=3/.e.tsv": "6\n", "day=3/_f.tsv": "7\n"}
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    listed = input_files(spark, str(source))
    assert sorted(path.rsplit("/in/", 1)[1] for path, _, _ in listed) == ["a.tsv", "day=2/b.tsv"]
    assert sum(size for _, size, _ in listed) == 6
    assert sorted(r.value for r in read_lines(spark, str(source)).collect()) == ["1", "2", "3"]


def test_a_folder_of_only_hidden_files_is_empty(spark, tmp_path):
    (tmp_path / "in" / "_temporary").mkdir(parents=True)
    (tmp_path / "in" / "_temporary" / "part.tsv").write_text("u\t2009-01-01T00:00:00Z\t\tA\t\tB\n")
    with pytest.raises(UsageError, match="input is empty"):
        input_files(spark, str(tmp_path / "in"))


def test_the_latest_commit_is_what_deltas_history_says(spark, tmp_path):
    uri = str(tmp_path / "t")
    assert latest_commit(spark, uri) is None

    def deltas_own():
        last = DeltaTable.forPath(spark, uri).history(1).head()
        return {"version": last["version"], "userMetadata": last["userMetadata"],
                "rows": int(last["operationMetrics"]["numOutputRows"])}

    spark.range(5).write.format("delta").option("delta.checkpointInterval", "2").save(uri)
    assert latest_commit(spark, uri) == deltas_own() == {"version": 0, "userMetadata": None, "rows": 5}
    spark.range(3).write.format("delta").mode("append").option("userMetadata", "a note").save(uri)
    assert latest_commit(spark, uri) == deltas_own() == {"version": 1, "userMetadata": "a note", "rows": 3}
    table = DeltaTable.forPath(spark, uri)
    table.alias("t").merge(spark.range(4, 9).alias("s"), "t.id = s.id").whenNotMatchedInsertAll().execute()
    assert latest_commit(spark, uri) == deltas_own() == {"version": 2, "userMetadata": None, "rows": 4}
    # what Delta's log cleanup leaves: a checkpoint and the commits after it, not the ones before
    log = tmp_path / "t" / "_delta_log"
    assert (log / f"{2:020d}.checkpoint.parquet").exists()
    for old in (0, 1):
        (log / f"{old:020d}.json").unlink()
    spark.range(2).write.format("delta").mode("append").save(uri)
    assert latest_commit(spark, uri) == deltas_own() == {"version": 3, "userMetadata": None, "rows": 2}


def test_a_cached_frame_is_released_when_its_run_ends_even_by_an_error(spark):
    with pytest.raises(OSError), ExitStack() as held:
        frame = cached(spark.range(5), held)
        assert frame.is_cached and frame.count() == 5
        raise OSError("a stage failed")
    assert not frame.is_cached
