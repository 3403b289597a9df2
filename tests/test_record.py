"""The record of files as plain values: the state its rows make, and a batch claimed by one run."""

from datetime import datetime

import pytest

from lastfm.errors import ConcurrentRunError
from lastfm.storage import record
from lastfm.storage.reading import read_table
from lastfm.storage.record import Claimed, record_of

T = datetime(2026, 11, 1)


def row(path, seq, status, size=10, modified=1, **more):
    return {"path": path, "size": size, "modified": modified, "seq": seq, "batch": seq // 2, "status": status,
            "reason": more.pop("reason", None), "plays_batch": more.pop("plays_batch", None),
            "content_id": more.pop("content_id", None), "recorded_at": more.pop("recorded_at", T), **more}


def test_the_latest_row_of_a_path_is_its_state_and_a_claim_without_outcome_is_pending():
    rows = [row("a", 0, "pending", reason="new"), row("a", 1, "admitted", plays_batch=0),
            row("b", 2, "pending", reason="new"), row("c", 2, "pending", reason="new")]
    made = record_of(list(reversed(rows)))  # any order
    assert made.state["a"]["status"] == "admitted" and made.last_batch == 1 and made.completed_batch == 0
    assert made.pending == [Claimed("b", 10, 1, "new"), Claimed("c", 10, 1, "new")]
    assert set(made.counted) == {"a"} and made.next_batch == 2
    done = record_of(rows + [row("b", 3, "quarantined"), row("c", 3, "duplicate")])
    assert done.pending == [] and done.completed_batch == 1 and done.unresolved == ["b"]
    # a full run killed after claiming every file again: each keeps its status until the outcome
    again = record_of([*done.rows, row("a", 4, "pending", reason="reparse"), row("b", 4, "pending", reason="new")])
    assert again.state["a"]["status"] == "pending" and [c.kind for c in again.pending] == ["reparse", "new"]
    assert set(again.counted) == {"a"} and again.counted["a"]["plays_batch"] == 0 and again.unresolved == ["b"]
    # completed without "a" (gone from the input): its claim stands, it counts no more
    left = record_of([*again.rows, row("b", 5, "admitted", plays_batch=2)])
    assert left.state["a"]["status"] == "pending" and set(left.counted) == {"b"} and left.unresolved == []


def test_a_batch_is_claimed_by_one_run_only(spark, tmp_path):
    uri = str(tmp_path / "files")
    first, second = [Claimed("day1.tsv", 10, 1, record.NEW)], [Claimed("day2.tsv", 20, 2, record.NEW)]
    appended = record.claim(spark, uri, 0, first, "run-a")
    with pytest.raises(ConcurrentRunError, match="another run claimed batch 0 at the same time"):
        record.claim(spark, uri, 0, second, "run-b")  # what a run that read the record before a's claim does
    assert record.read_record(spark, uri).pending == first
    appended += record.complete(spark, uri, 0, [{"path": "day1.tsv", "size": 10, "modified": 1,
                                                 "status": record.ADMITTED}], "run-a")
    appended += record.claim(spark, uri, 1, second, "run-b")
    # the rows a run appended make the record it would read back (a run reads the record once)
    derived, read = record_of(appended), record.read_record(spark, uri)
    assert sorted(derived.rows, key=lambda r: (r["seq"], r["path"])) == \
        sorted(read.rows, key=lambda r: (r["seq"], r["path"]))
    assert (derived.state, derived.pending, derived.first_seen) == (read.state, read.pending, read.first_seen)
    claims = {(r["seq"], r["path"], r["run_id"]) for r in read_table(spark, uri).where("status = 'pending'").collect()}
    assert claims == {(0, "day1.tsv", "run-a"), (2, "day2.tsv", "run-b")}


def test_the_refusals_a_retry_still_alerts_about_are_the_latest_batchs_news():
    day = [row("a", 0, "pending", reason="new"), row("a", 1, "admitted", plays_batch=0)]
    refused = day + [row("bad", 2, "pending", reason="new"),
                     row("bad", 3, "quarantined", reason="too many rejects", content_id="x")]
    assert record_of(refused).refused_last == {"bad": "too many rejects"}  # the run, and every retry of it
    # a claim without its outcome: the batch before it is the latest completed, and refused nothing
    assert record_of(refused[:3]).refused_last == {}
    # the next batch refused nothing: the alert is over
    later = refused + [row("c", 4, "pending", reason="new"), row("c", 5, "admitted", plays_batch=2)]
    assert record_of(later).refused_last == {}
    # a full run judges the refused file again: the same content refused again is no news
    again = refused + [row("bad", 4, "pending", reason="new"), row("a", 4, "pending", reason="reparse"),
                       row("bad", 5, "quarantined", reason="too many rejects", content_id="x"),
                       row("a", 5, "admitted", plays_batch=2)]
    assert record_of(again).refused_last == {}
    fixed_wrongly = [*again[:-2], row("bad", 5, "quarantined", reason="future plays", content_id="y"), again[-1]]
    assert record_of(fixed_wrongly).refused_last == {"bad": "future plays"}  # another content: news
    # a counted file that changed: news when found; a full run keeping its plays later is not
    changed = day + [row("a", 2, "pending", reason="touched", size=11),
                     row("a", 3, "changed", reason="content changed", size=11, plays_batch=0)]
    assert record_of(changed).refused_last == {"a": "content changed"}
    kept = changed + [row("a", 4, "pending", reason="keep", size=11),
                      row("a", 5, "changed", reason="content changed", size=11, plays_batch=2)]
    assert record_of(kept).refused_last == {}
