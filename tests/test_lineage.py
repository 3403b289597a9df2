import os

from lastfm import parsing, schemas
from lastfm.config import JobConfig
from lastfm.duckdb_reference import read_tsv
from lastfm.duckdb_reference import top_tracks as duckdb_top_tracks
from lastfm.lineage import commit_note, input_fingerprint, noted_fingerprint
from lastfm.pipeline import run
from lastfm.sample_data import write_sample

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

    stat = os.stat(source)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same bytes, another time
    touched = run(spark, config)
    assert not touched["plays_reused"] and touched["tables"]["plays"]["version"] == 1
    assert read_tsv(config.output) == duckdb_top_tracks(str(source))
