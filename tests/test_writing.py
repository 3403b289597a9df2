import os
import uuid
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lastfm.errors import DataQualityError
from lastfm.schemas import TOP_TRACKS
from lastfm.storage.reading import recorded_or_computed_md5
from lastfm.storage.writing import (
    constraint_violated,
    constraint_violation,
    replace_rows,
    write_single_tsv,
    write_table,
    write_text,
)

ROWS = [(1, 'Johnny "Hammond" Smith', '"Heroes"', 12), (2, "坂本龍一", "Кино", 7), (3, "Cake", "", 1)]


def test_single_tsv_is_verbatim_utf8_with_header_in_rank_order(spark, tmp_path):
    target = tmp_path / "out" / "top.tsv"
    ranked = spark.createDataFrame(list(reversed(ROWS)), TOP_TRACKS).repartition(3)
    write_single_tsv(ranked, str(target))
    expected = (
        "artist_name\ttrack_name\tplay_count\n"
        'Johnny "Hammond" Smith\t"Heroes"\t12\n'
        "坂本龍一\tКино\t7\n"
        "Cake\t\t1\n"
    )
    assert target.read_bytes() == expected.encode("utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["top.tsv"]  # no staging left


def test_a_failed_write_leaves_the_earlier_file_untouched(spark, tmp_path):
    target = tmp_path / "top.tsv"
    target.write_text("earlier good answer\n")
    failing = spark.createDataFrame(ROWS, TOP_TRACKS).withColumn(
        "artist_name", F.when(F.col("rank") == 2, F.raise_error(F.lit("disk on fire"))).otherwise(F.col("artist_name"))
    )
    with pytest.raises(Exception, match="disk on fire"):
        write_single_tsv(failing, str(target))
    assert target.read_text() == "earlier good answer\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["top.tsv"]


def test_write_table_overwrites_with_one_new_version_per_write(spark, tmp_path):
    path = str(tmp_path / "t")
    first = write_table(spark.range(5), path)
    second = write_table(spark.range(3), path)
    assert (first.version, first.rows, second.version, second.rows) == (0, 5, 1, 3)
    assert spark.read.format("delta").load(path).count() == 3


def test_replace_rows_deletes_what_matches_and_adds_rows_in_one_commit_marking_files_not_rewriting_them(
        spark, tmp_path):
    path = str(tmp_path / "t")
    rows = [(user, n) for user in ("a", "b", "c") for n in range(1, 5)]
    write_table(spark.createDataFrame(rows, "user string, n int").repartition(2), path,
                constraints={"n_positive": "n > 0"}, properties={"delta.enableDeletionVectors": "true"})
    # a's rows from 3 on and b's from 4 on are replaced; c's are kept
    cut = spark.createDataFrame([("a", 3), ("b", 4)], "user string, _from int")
    condition = (F.col("t.user") == F.col("s.user")) & (F.col("t.n") >= F.col("s._from"))
    added = spark.createDataFrame([("a", 3), ("b", 40), ("d", 1)], "user string, n int")
    version = replace_rows(path, added, cut, condition)
    assert (version.version, version.rows) == (1, 3)
    table = spark.read.format("delta").load(path)
    assert sorted(map(tuple, table.collect())) == sorted(
        [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 3), ("b", 40), ("c", 1), ("c", 2), ("c", 3), ("c", 4),
         ("d", 1)])
    metrics = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()["operationMetrics"]
    # the files that lost rows got deletion vectors; none was copied
    assert int(metrics["numTargetDeletionVectorsAdded"]) >= 1 and int(metrics["numTargetRowsDeleted"]) == 3
    assert int(metrics["numTargetRowsCopied"]) == 0
    with pytest.raises(DataQualityError, match="n_positive"):  # the table's constraints hold for what it adds
        replace_rows(path, spark.createDataFrame([("e", 0)], "user string, n int"), cut, condition)
    assert spark.read.format("delta").load(path).count() == 12


def test_a_constraint_violation_is_known_by_the_jvm_class_it_carries_not_by_its_text():
    # the real violation: test_quality.py::test_delta_check_constraint_failure_is_a_data_quality_error
    assert not constraint_violated(ValueError("org.apache.spark.sql.delta.schema.DeltaInvariantViolationException"))


def test_a_constraint_violation_in_other_wording_still_gives_one_line():
    # the handler used to split on Delta's class name and index the result: IndexError otherwise
    assert constraint_violation("CHECK constraint p (x > 0) violated by row with values:\n - x : 0") == (
        "CHECK constraint p (x > 0) violated by row with values: x : 0")
    assert constraint_violation("org.apache.spark.SomethingNew: rows refused\n\tat line 1") == (
        "org.apache.spark.SomethingNew: rows refused at line 1")
    assert constraint_violation("") == "constraint violated"


def test_row_counts_without_delta_commit_metrics(spark, tmp_path):
    uri = str(tmp_path / "t")
    spark.conf.set("spark.databricks.delta.history.metricsEnabled", "false")
    try:
        written = [write_table(spark.createDataFrame(ROWS[:n], TOP_TRACKS), uri) for n in (3, 2)]
    finally:
        spark.conf.unset("spark.databricks.delta.history.metricsEnabled")
    assert [(w.version, w.rows) for w in written] == [(0, 3), (1, 2)]


@pytest.fixture
def viewfs(spark, tmp_path):
    """A Hadoop file system that is neither local nor an object store, as HDFS is: viewfs://<name>/
    mounting a local folder (links resolve through Hadoop, not the driver's own file calls)."""
    name = f"lastfm{uuid.uuid4().hex[:8]}"
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    conf.set(f"fs.viewfs.mounttable.{name}.link./data", mounted.as_uri())
    return f"viewfs://{name}/data", mounted


@pytest.mark.parametrize("where", ["local", "viewfs"])
def test_replacing_the_deliverable_never_rewrites_the_old_file_in_place(spark, tmp_path, viewfs, where):
    # a reader holding the old file (here: a hard link to it) keeps it whole; a copy with
    # overwrite (what non-local file systems got) truncates and rewrites that same file
    base, folder = (str(tmp_path), tmp_path) if where == "local" else viewfs
    (folder / "top.tsv").write_text("old answer\n")
    os.link(folder / "top.tsv", tmp_path / "reader-holds")
    write_single_tsv(spark.createDataFrame(ROWS, TOP_TRACKS), f"{base}/top.tsv")
    write_text(spark, "new side file\n", f"{base}/run_summary.json")
    assert (folder / "top.tsv").read_text(encoding="utf-8").startswith("artist_name\ttrack_name\tplay_count\n")
    assert (folder / "run_summary.json").read_text() == "new side file\n"
    assert (tmp_path / "reader-holds").read_text() == "old answer\n"
    assert not [p.name for p in folder.iterdir() if "staging" in p.name or "partial" in p.name]


def test_a_path_with_no_scheme_is_on_the_default_file_system_for_side_files_too(spark, viewfs):
    # on EMR and Dataproc fs.defaultFS is HDFS: /out/x means hdfs:///out/x for Spark, and so for
    # the side files and the MD5 sidecar, never the driver's own /out
    base, folder = viewfs
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    default = conf.get("fs.defaultFS")
    conf.set("fs.defaultFS", base.rsplit("/", 1)[0] + "/")
    try:
        write_text(spark, "profile\n", "/data/profile.json")
        (folder / "in.tsv").write_text("x\n")
        (folder / "in.tsv.md5").write_text("0123456789abcdef0123456789abcdef  in.tsv\n")
        md5 = recorded_or_computed_md5(spark, "/data/in.tsv")
    finally:
        conf.set("fs.defaultFS", default)
    assert (folder / "profile.json").read_text() == "profile\n"
    assert not Path("/data/profile.json").exists()
    assert md5 == "0123456789abcdef0123456789abcdef"


def test_a_failed_write_on_a_non_local_file_system_keeps_the_earlier_deliverable(spark, viewfs):
    base, folder = viewfs
    (folder / "top.tsv").write_text("earlier good answer\n")
    failing = spark.createDataFrame(ROWS, TOP_TRACKS).withColumn(
        "play_count", F.raise_error(F.lit("disk gone")).cast("long"))
    with pytest.raises(Exception, match="disk gone"):
        write_single_tsv(failing, f"{base}/top.tsv")
    assert (folder / "top.tsv").read_text() == "earlier good answer\n"
    assert sorted(p.name for p in folder.iterdir()) == ["top.tsv"]  # no staging left behind


def test_a_failed_replace_leaves_no_staging_folder(spark, tmp_path):
    (tmp_path / "top.tsv").mkdir()  # the target is a folder: the final rename fails, after staging
    (tmp_path / "top.tsv" / "keep").write_text("x")
    with pytest.raises(OSError):
        write_single_tsv(spark.createDataFrame(ROWS, TOP_TRACKS), str(tmp_path / "top.tsv"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["top.tsv"]
