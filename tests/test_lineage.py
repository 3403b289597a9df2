import os
from datetime import datetime

from lastfm import schemas
from lastfm.question import parsing
from lastfm.storage import reading, writing
from lastfm.config import JobConfig
from lastfm.testing.duckdb_reference import read_tsv
from lastfm.testing.duckdb_reference import top_tracks as duckdb_top_tracks
from lastfm.storage.lineage import commit_note, input_fingerprint, noted_fingerprint
from lastfm.question.parsing import parse_lines
from lastfm.pipeline import PARSE_CODE, PLAYS_PROPERTIES, parse_input, reusable_parse, run
from lastfm.quality.checks import TABLE_CONSTRAINTS
from lastfm.storage.reading import read_lines
from lastfm.testing.sample_data import write_sample
from lastfm.schemas import PLAYS, REJECTS
from lastfm.storage.writing import write_table

FILES = [("file:/data/plays.tsv", 2_400_000_000, 1_700_000_000_000)]


def test_fingerprint_is_stable_and_sees_path_size_time_and_code():
    same = input_fingerprint(list(FILES), code=(parsing,))
    assert same == input_fingerprint(list(FILES), code=(parsing,))
    (path, size, mtime), = FILES
    others = {
        input_fingerprint([(path + ".2", size, mtime)], code=(parsing,)),
        input_fingerprint([(path, size + 1, mtime)], code=(parsing,)),
        input_fingerprint([(path, size, mtime + 1)], code=(parsing,)),
        input_fingerprint(list(FILES), code=(parsing, schemas)),
        input_fingerprint([*FILES, (path + ".2", size, mtime)], code=(parsing,)),
    }
    assert same not in others and len(others) == 5


def test_fingerprint_sees_functions_and_settings_and_covers_all_that_shapes_plays():
    assert input_fingerprint(FILES, code=({"a": "1"},)) != input_fingerprint(FILES, code=({"a": "2"},))
    assert input_fingerprint(FILES, code=(read_lines,)) != input_fingerprint(FILES, code=(parse_lines,))
    # the reader (its options), the parse itself, the table writer and the tables' settings
    for part in (reading, writing, parse_input, PLAYS_PROPERTIES, TABLE_CONSTRAINTS["plays"], TABLE_CONSTRAINTS["rejects"]):
        assert any(part is p for p in PARSE_CODE), part


def test_fingerprint_ignores_listing_order():
    files = [("file:/d/a", 1, 2), ("file:/d/b", 3, 4)]
    assert input_fingerprint(files) == input_fingerprint(files[::-1])


def test_commit_note_round_trip():
    assert noted_fingerprint(commit_note("abc")) == "abc"
    for note in (None, "", "not json", "[1]", '{"other": 1}'):
        assert noted_fingerprint(note) is None


def test_rerun_with_another_question_reuses_plays_and_a_touched_input_is_parsed_again(spark, tmp_path):
    source = write_sample(tmp_path / "plays.tsv", rows=3000, users=6, seed=3, malformed_every=1000)
    config = JobConfig(input=str(source), output=str(tmp_path / "out" / "top.tsv"), warehouse=str(tmp_path / "wh"))

    cold = run(spark, config)
    assert not cold["plays_reused"] and cold["tables"]["plays"]["version"] == 0

    regap = run(spark, JobConfig(**{**vars(config), "session_gap_minutes": 30}))
    assert regap["plays_reused"]
    assert regap["tables"]["plays"]["version"] == 0 and regap["tables"]["rejects"]["version"] == 0
    assert regap["tables"]["sessions"]["version"] == 1
    assert (regap["rows_valid"], regap["rows_rejected"]) == (cold["rows_valid"], cold["rows_rejected"]) == (3000, 3)
    assert read_tsv(config.output) == duckdb_top_tracks(str(source), gap_seconds=1800)
    assert not regap["sessions_reused"]

    # only the top-N differs: the sessions of that gap are reused too, the answer is the question's
    fewer = run(spark, JobConfig(**{**vars(config), "session_gap_minutes": 30, "top_sessions": 2}))
    assert fewer["plays_reused"] and fewer["sessions_reused"] and fewer["tables"]["sessions"]["version"] == 1
    assert fewer["sessions"] == regap["sessions"]
    assert read_tsv(config.output) == duckdb_top_tracks(str(source), gap_seconds=1800, top_sessions=2)

    stat = os.stat(source)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same bytes, another time
    touched = run(spark, config)
    assert not touched["plays_reused"] and touched["tables"]["plays"]["version"] == 1
    assert read_tsv(config.output) == duckdb_top_tracks(str(source))


def test_a_parse_is_reused_only_when_both_commits_are_this_inputs_and_verified(spark, tmp_path):
    plays_uri, rejects_uri = str(tmp_path / "plays"), str(tmp_path / "rejects")
    plays = spark.createDataFrame([("u1", datetime(2009, 1, 1), None, "A", None, "a")] * 3, PLAYS)
    rejects = spark.createDataFrame([("broken", "bad_timestamp")], REJECTS)
    observed = {"rows": {"read": 4, "valid": 3, "rejected": 1}}

    def parse(fingerprint, profile, plays_fingerprint=None):
        write_table(plays, plays_uri, note=commit_note(plays_fingerprint or fingerprint))
        write_table(rejects, rejects_uri, note=commit_note(fingerprint, profile))

    parse("fp-1", observed)
    reused = reusable_parse(spark, "fp-1", plays_uri, rejects_uri)
    assert reused is not None and (reused[0].rows, reused[1].rows, reused[2]) == (3, 1, observed)
    assert reusable_parse(spark, "fp-2", plays_uri, rejects_uri) is None  # another input

    # a run that died between the two writes: plays is fp-2's, rejects still fp-1's
    write_table(plays, plays_uri, note=commit_note("fp-2"))
    assert reusable_parse(spark, "fp-2", plays_uri, rejects_uri) is None
    # both commits noted, but the rows written are not the rows observed: never reused
    parse("fp-3", {"rows": {"read": 6, "valid": 5, "rejected": 1}})
    assert reusable_parse(spark, "fp-3", plays_uri, rejects_uri) is None
