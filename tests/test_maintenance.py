"""Table maintenance (lastfm/storage/maintenance.py, jobs/maintain.py): each table compacted and
vacuumed, its rows and properties unchanged, the files older than the retention gone from disk,
and the refusals (short retention, no warehouse, a table's own longer retention, a conflict).

The tests build the warehouse with small Delta writes of their own (several appends after an
overwrite, the way daily runs leave `plays`): what maintenance sees is the tables' files and
commits, whatever wrote them, and the counts are then known by hand. Maintenance of the job's own
warehouse between its daily runs, and the job's answer after it, are a step of a daily storyline
in tests/test_daily_runs.py."""

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions import captured

from lastfm.errors import ConcurrentRunError, UsageError
from lastfm.storage import maintenance
from lastfm.storage.maintenance import LISTING_PARALLELISM, MIN_FILE_SIZE, RETENTION_ARGUMENT, RETENTION_CHECK, maintain
from lastfm.storage.writing import commit_conflict

REPO = Path(__file__).resolve().parent.parent
SCHEMA = "user_id string, play long"
# plays: created, overwritten (its first files removed), then three daily appends
FIRST = [("u0", 0), ("u0", 1), ("u9", 2), ("u9", 3)]
OVERWRITE = [("u1", 10), ("u1", 11), ("u2", 12), ("u2", 13)]
DAYS = [[("u1", 20), ("u3", 21)], [("u2", 30), ("u4", 31)], [("u1", 40), ("u5", 41)]]
PLAYS_PROPERTIES = {"delta.logRetentionDuration": "interval 60 days", "delta.enableChangeDataFeed": "true"}


def delta_error(spark, java_class: str, message: str) -> Exception:
    """The Python error raised where a call into the JVM throws an exception of `java_class` (built
    with `message`): pyspark's handling of every failed call, with what the line's Delta adds to it
    (its own Python types on Delta 3.3 and 4.4; on 4.0 the Py4JJavaError that carries the JVM's)."""
    java = functools.reduce(getattr, java_class.split("."), spark._jvm)(message)

    def failing_call():
        raise Py4JJavaError("An error occurred while calling o1.save.\n", java)

    with pytest.raises(Exception) as raised:
        captured.capture_sql_exception(failing_call)()
    return raised.value


def write(spark, rows, uri, mode="append", properties=None):
    """`rows` as two files (a daily run's small appends) in one commit."""
    writer = spark.createDataFrame(spark.sparkContext.parallelize(rows, 2), SCHEMA).write.format("delta").mode(mode)
    for key, value in (properties or {}).items():
        writer = writer.option(key, value)
    writer.save(uri)


def parquet_files(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.parquet")}


@pytest.fixture
def warehouse(spark, tmp_path):
    """plays (v0 created, v1 overwrite, v2-v4 appends: 8 files), rejects (one commit, 2 files),
    runs (two appends of a row); no other table. Returns (the warehouse, plays' files of v0)."""
    root = tmp_path / "wh"
    write(spark, FIRST, str(root / "plays"), "overwrite", PLAYS_PROPERTIES)
    first_files = parquet_files(root / "plays")
    write(spark, OVERWRITE, str(root / "plays"), "overwrite")
    for day in DAYS:
        write(spark, day, str(root / "plays"))
    write(spark, [("bad line", 1), ("worse line", 2)], str(root / "rejects"))
    for n in range(2):
        spark.createDataFrame([(f"run{n}", n)], SCHEMA).write.format("delta").mode("append").save(str(root / "runs"))
    assert len(first_files) == 2 and len(parquet_files(root / "plays")) == 10  # 8 in the table
    return root, first_files


def session_settings(spark) -> dict:
    """The settings maintenance changes while it runs, as the session has them (None: unset)."""
    settings = {}
    for key in (RETENTION_CHECK, RETENTION_ARGUMENT, LISTING_PARALLELISM, MIN_FILE_SIZE):
        try:
            settings[key] = spark.conf.get(key)
        except Exception:  # a key this Delta does not know, unset
            settings[key] = None
    return settings


def properties(spark, uri):
    return DeltaTable.forPath(spark, uri).detail().select("properties").head()[0]


def operations(spark, uri, last):
    rows = DeltaTable.forPath(spark, uri).history(last).select("operation").collect()
    return [r[0] for r in rows]


def test_maintenance_compacts_vacuums_and_keeps_rows_and_properties(spark, warehouse):
    root, first_files = warehouse
    plays = str(root / "plays")
    settings_before = session_settings(spark)
    properties_before = {name: properties(spark, str(root / name)) for name in ("plays", "rejects", "runs")}

    done = maintain(spark, str(root), retention_hours=0, allow_short_retention=True)

    assert list(done) == ["plays", "rejects", "runs"]  # the absent tables skipped
    result = done["plays"]
    assert (result.version_before, result.version_after) == (4, 7)  # OPTIMIZE, VACUUM START, VACUUM END
    assert (result.files_before, result.files_after, result.files_compacted, result.files_written) == (8, 1, 8, 1)
    assert result.files_vacuumed == 10  # the 8 compacted and the 2 the overwrite removed
    assert (done["runs"].files_before, done["runs"].files_after) == (2, 1)
    for name in done:
        assert operations(spark, str(root / name), 3) == ["VACUUM END", "VACUUM START", "OPTIMIZE"], name
        assert properties(spark, str(root / name)) == properties_before[name], name  # never changed
    assert properties_before["plays"] == PLAYS_PROPERTIES
    # the rows, as written (by hand, not read back before)
    expected = spark.createDataFrame(OVERWRITE + [row for day in DAYS for row in day], SCHEMA)
    assert_df_equality(spark.read.format("delta").load(plays), expected, ignore_row_order=True)
    # on disk: the one compacted file, nothing else; the overwritten files are gone
    (live,) = spark.read.format("delta").load(plays).inputFiles()
    assert parquet_files(root / "plays") == {live.rsplit("/", 1)[1]}
    assert not first_files & parquet_files(root / "plays")
    # a version older than the retention lost its files: no time travel to it
    with pytest.raises(Exception, match="(?i)not.exist|FileNotFound|FILE_NOT_EXIST"):
        spark.read.format("delta").option("versionAsOf", 1).load(plays).collect()
    # the session's settings are as they were
    assert session_settings(spark) == settings_before


def test_compaction_leaves_the_files_above_its_threshold_as_they_are(spark, tmp_path):
    """A full parse's large files stay; only the small ones the daily runs add are rewritten."""
    plays = tmp_path / "wh" / "plays"
    big = [(f"user_{i:06d}", i * 7919 % 1_000_003) for i in range(30_000)]  # one file of ~200 KB
    spark.createDataFrame(big, SCHEMA).coalesce(1).write.format("delta").save(str(plays))
    (big_file,) = parquet_files(plays)
    for day in DAYS:
        write(spark, day, str(plays))
    sizes = sorted(p.stat().st_size for p in plays.glob("*.parquet"))
    assert sizes[-1] > 100_000 > sizes[-2]  # the threshold below parts them: 6 small files, 1 big

    done = maintain(spark, str(tmp_path / "wh"), tables=["plays"], compact_below_bytes=100_000)["plays"]

    assert (done.files_before, done.files_compacted, done.files_written, done.files_after) == (7, 6, 1, 2)
    assert big_file in {uri.rsplit("/", 1)[1] for uri in spark.read.format("delta").load(str(plays)).inputFiles()}
    assert spark.read.format("delta").load(str(plays)).count() == 30_000 + 6


def test_the_default_retention_keeps_the_files_of_the_last_seven_days(spark, warehouse):
    root, first_files = warehouse
    done = maintain(spark, str(root), tables=["plays"])
    assert list(done) == ["plays"] and done["plays"].retention_hours == 168
    assert (done["plays"].files_after, done["plays"].files_vacuumed) == (1, 0)
    assert first_files <= parquet_files(root / "plays")  # removed minutes ago: kept
    # every version still readable: v1 is the overwrite alone
    again = spark.read.format("delta").option("versionAsOf", 1).load(str(root / "plays"))
    assert_df_equality(again, spark.createDataFrame(OVERWRITE, SCHEMA), ignore_row_order=True)


@pytest.mark.parametrize("hours, allow, message", [
    (0, False, "below Delta's safety check \\(168 h\\).*--allow-short-retention"),
    (167, False, "below Delta's safety check"),
    (-1, True, "--retention-hours must be a whole number of hours >= 0"),
    (0.5, True, "--retention-hours must be a whole number of hours >= 0"),
    (float("nan"), True, "--retention-hours must be a whole number of hours >= 0"),
])
def test_a_short_or_impossible_retention_is_refused_before_anything_is_touched(spark, tmp_path, hours, allow, message):
    with pytest.raises(UsageError, match=message):
        maintain(spark, str(tmp_path / "nowhere"), retention_hours=hours, allow_short_retention=allow)


def test_a_missing_or_empty_warehouse_and_an_unknown_table_are_usage_errors(spark, tmp_path):
    with pytest.raises(UsageError, match="warehouse not found: .*nowhere"):
        maintain(spark, str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no Delta table in .*empty"):
        maintain(spark, str(tmp_path / "empty"))
    with pytest.raises(UsageError, match="unknown table songs"):
        maintain(spark, str(tmp_path / "empty"), tables=["plays", "songs"])


def test_a_table_keeping_its_files_longer_than_the_retention_is_refused_and_left_so(spark, tmp_path):
    uri = str(tmp_path / "wh" / "top_tracks")
    write(spark, OVERWRITE, uri, "overwrite", {"delta.deletedFileRetentionDuration": "interval 30 days"})
    write(spark, DAYS[0], uri)
    with pytest.raises(UsageError, match="top_tracks: --retention-hours 168 is shorter than the table's own "
                                         "delta.deletedFileRetentionDuration \\(720 h\\)"):
        maintain(spark, str(tmp_path / "wh"))
    assert properties(spark, uri) == {"delta.deletedFileRetentionDuration": "interval 30 days"}
    assert "VACUUM START" not in operations(spark, uri, 5)


def test_a_concurrent_commit_stops_maintenance_with_exit_4(spark, warehouse, monkeypatch):
    """Delta 4.4's words for a conflicting append do not name the exception (its type does)."""
    root, _ = warehouse
    conflict = delta_error(spark, "io.delta.exceptions.ConcurrentAppendException",
                           "[DELTA_CONCURRENT_APPEND.WITHOUT_HINT] Transaction conflict detected. "
                           "a concurrent WRITE added data to table delta.`plays`")

    class Conflicting:
        def executeCompaction(self):
            raise conflict

    monkeypatch.setattr(maintenance.DeltaTable, "optimize", lambda table: Conflicting())
    with pytest.raises(ConcurrentRunError, match="plays: another run changed this table during its maintenance "
                                                 "\\(ConcurrentAppendException\\).*run it again") as raised:
        maintain(spark, str(root))
    assert raised.value.exit_code == 4
    assert operations(spark, str(root / "plays"), 1) == ["WRITE"]


@pytest.mark.parametrize("java_class, name", [
    ("io.delta.exceptions.ConcurrentAppendException", "ConcurrentAppendException"),
    ("io.delta.exceptions.ConcurrentDeleteReadException", "ConcurrentDeleteReadException"),
    ("io.delta.exceptions.MetadataChangedException", "MetadataChangedException"),
    ("io.delta.exceptions.ProtocolChangedException", "ProtocolChangedException"),
    ("java.lang.IllegalStateException", None),
])
def test_commit_conflicts_are_found_by_their_type(spark, java_class, name):
    """A conflict is known by its type on every line (Python's where the line's Delta converts it,
    else the JVM's); an error that only speaks of one is not one."""
    assert commit_conflict(delta_error(spark, java_class, "conflict detected")) == name
    assert commit_conflict(Exception(f"{java_class}: a message that names a conflict")) is None


# --- through spark-submit --------------------------------------------------------------------


def submit(*args):
    """jobs/maintain.py as a user runs it: spark-submit from the repo root, the venv's bin on PATH."""
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    command = [str(bin_dir / "spark-submit"), "--conf", "spark.ui.enabled=false", "jobs/maintain.py", *args]
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=600)


def error_lines(result) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


@pytest.mark.slow
def test_the_command_line_maintains_each_table_and_refuses_with_one_line(warehouse, tmp_path):
    root, first_files = warehouse
    refused = submit("--warehouse", str(root), "--retention-hours", "0")
    assert refused.returncode == 2, refused.stderr[-2000:]
    (line,) = error_lines(refused)
    assert "--retention-hours 0 is below Delta's safety check (168 h)" in line and "--allow-short-retention" in line
    assert first_files <= parquet_files(root / "plays")  # nothing was touched

    missing = submit("--warehouse", str(tmp_path / "nowhere"))
    assert missing.returncode == 2, missing.stderr[-2000:]
    assert error_lines(missing) == [f"error: warehouse not found: {tmp_path / 'nowhere'}"]

    done = submit("--warehouse", str(root), "--retention-hours", "0", "--allow-short-retention")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    (plays,) = [line for line in lines if line.startswith("plays ")]
    assert plays.split() == ["plays", "v4", "->", "v7", "files", "8", "->", "1", "(compacted", "8", "files", "into",
                             "1);", "VACUUM", "deleted", "10", "files", "removed", "more", "than", "0", "h", "ago"]
    assert len([line for line in lines if line.startswith(("rejects ", "runs "))]) == 2
    assert "no table (skipped): sessions, top_sessions, top_tracks, files, quarantine" in lines
    assert parquet_files(root / "plays").isdisjoint(first_files) and len(parquet_files(root / "plays")) == 1
