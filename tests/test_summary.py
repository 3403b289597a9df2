"""The run summary: run_summary.json's keys, its rows of the top tracks and sessions, the
deliverable's text, and the lines printed at the end of a run."""

import json
from datetime import datetime

from pyspark.sql import types as T

from lastfm.summary import RunSummary, iso_instant, ranked_rows, report_lines, top_session_rows, tsv_text

TOP = [{"artist_name": "Cake", "track_name": "Jolene", "play_count": 12},
       {"artist_name": "Abba", "track_name": "S\"O\"S", "play_count": 3}]
# run_summary.json as the job writes it, key for key and in order
ON_DISK = {
    "run_at": "2026-01-01T12:00:00Z", "run_id": "r1", "mode": "full", "input": "in.tsv", "batch": 1,
    "input_files_ingested": ["file:/in.tsv"], "input_files_duplicate": {}, "input_files_quarantined": {},
    "quarantine_unresolved": [], "rows_added": 16, "plays_reused": False, "sessions_reused": False,
    "top_tracks_reused": False, "rows_read": 16, "rows_valid": 15, "rows_rejected": 1,
    "rows_with_replacement_character": 0, "sessions": 1234, "users": 2, "duplicate_plays": 0,
    "config": {"top_sessions": 50, "warehouse": "wh"}, "stage_seconds": {"parse": 1.5, "sessions": 2.0},
    "output": "out/top.tsv", "output_sha256": "0" * 64, "top_tracks": TOP, "top_sessions": [],
    "session_length_histogram": [[1, 2]], "expectation_warnings": ["careful"], "known_answer": {"checked": False},
    "profile": "out/profile.json", "report": "out/report.html", "run_summary": "out/run_summary.json",
    "tables": {"plays": {"path": "wh/plays", "version": 0}},
}


def test_the_file_reads_back_to_the_same_keys_in_the_same_order():
    summary = RunSummary.from_json(json.loads(json.dumps(ON_DISK)))
    assert list(summary.to_json().items()) == list(ON_DISK.items())
    skipped = RunSummary.from_json({**ON_DISK, "report": None, "report_skipped": "no matplotlib"}).to_json()
    assert list(skipped)[-2:] == ["report_skipped", "tables"] and skipped["report"] is None
    assert list(RunSummary.from_json({**ON_DISK, "nothing_new": True}).to_json())[-1] == "nothing_new"
    assert RunSummary.from_json({"mode": "as_of"}).mode == "as_of"  # an older job's file: what it lacks is None


def test_report_lines_say_the_answer_and_where_everything_is():
    summary = RunSummary.from_json(ON_DISK)
    assert report_lines(summary) == [
        "top 2 songs in the 50 longest sessions (15 plays, 1 rejected line, 1,234 sessions, 4 s):",
        "  plays  song",
        "     12  Cake - Jolene",
        "      3  Abba - S\"O\"S",
        "warning: careful",
        "answer       out/top.tsv",
        "run summary  out/run_summary.json",
        "report       out/report.html",
        "tables       wh",
    ]
    summary.nothing_new, summary.report, summary.rows_rejected = True, None, 2
    lines = report_lines(summary)
    assert lines[0] == "nothing new since the last run: tables and answer unchanged"
    assert "2 rejected lines" in lines[1] and lines[-2] == "report       not drawn (no matplotlib on the driver)"


def test_tsv_text_is_the_deliverable_with_its_header():
    assert tsv_text(TOP) == "artist_name\ttrack_name\tplay_count\nCake\tJolene\t12\nAbba\tS\"O\"S\t3\n"
    assert tsv_text([]) == "artist_name\ttrack_name\tplay_count\n"


def test_iso_instant_is_utc_to_the_second():
    assert iso_instant(0) == "1970-01-01T00:00:00Z" and iso_instant(1_230_804_000) == "2009-01-01T10:00:00Z"


def test_ranked_rows_and_top_session_rows_are_in_rank_order(spark):
    tracks = spark.createDataFrame([("Abba", "SOS", 3, 2), ("Cake", "Jolene", 12, 1)],
                                   "artist_name string, track_name string, play_count long, rank int")
    assert ranked_rows(tracks) == [{"artist_name": "Cake", "track_name": "Jolene", "play_count": 12},
                                   {"artist_name": "Abba", "track_name": "SOS", "play_count": 3}]
    schema = T.StructType([T.StructField("user_id", T.StringType()), T.StructField("session_start", T.TimestampType()),
                           T.StructField("session_end", T.TimestampType()), T.StructField("play_count", T.LongType()),
                           T.StructField("rank", T.IntegerType())])
    sessions = spark.createDataFrame([("u2", datetime(2009, 1, 2, 23, 30), datetime(2009, 1, 2, 23, 40), 3, 2),
                                      ("u1", datetime(2009, 1, 1, 10), datetime(2009, 1, 1, 11), 6, 1)], schema)
    assert top_session_rows(sessions) == [
        {"user_id": "u1", "session_start": "2009-01-01T10:00:00Z", "session_end": "2009-01-01T11:00:00Z",
         "play_count": 6, "rank": 1},
        {"user_id": "u2", "session_start": "2009-01-02T23:30:00Z", "session_end": "2009-01-02T23:40:00Z",
         "play_count": 3, "rank": 2},
    ]
