"""The per-file checks: the verdicts on plain values, and the facts Spark computes, by hand."""

from datetime import datetime, timezone

from pyspark.sql import functions as F

from lastfm.config import JobConfig
from lastfm.quality import admission, profiling
from lastfm.question.parsing import parse_lines, valid_plays
from lastfm.storage.record import Claimed

CONFIG = JobConfig("in", "out.tsv", "wh", max_reject_fraction=0.1, max_repeat_fraction=0.5)


def facts(**values):
    return {"lines": 10, "plays": 10, "rejected": 0, "repeated": 0, "future": 0, "content_id": "new", "last": 0,
            **values}


def verdict(kind="new", counted=None, ids=None, config=CONFIG, **values):
    return admission.judge(Claimed("p", 1, 1, kind), facts(**values), counted, ids or {}, config, batch=7)


def test_the_rules_in_order():
    assert verdict().status == "admitted"
    assert verdict(lines=0, plays=0).status == "admitted"  # empty: nothing to count, never a duplicate
    assert verdict(ids={"new": "q"}) == admission.Verdict("duplicate", "same content as q")
    assert verdict(ids={"new": "q"}, repeated=10).status == "duplicate"  # the same content first
    partial = verdict(repeated=6)
    assert partial.status == "quarantined" and "6 of its 10 plays repeat plays already held" in partial.reason
    assert verdict(repeated=5).status == "admitted"  # at the bound: admitted
    rejects = verdict(rejected=2, plays=8)
    assert rejects.status == "quarantined" and "2 of 10 lines rejected (20.0000%)" in rejects.reason
    assert verdict(rejected=1, plays=9).status == "admitted"
    assert "1 plays after the run's start" in verdict(future=1).reason


def test_warn_only_admits_bad_data_but_never_a_second_count():
    lenient = JobConfig("in", "out.tsv", "wh", max_reject_fraction=0.1, warn_only=True)
    assert verdict(rejected=5, plays=5, config=lenient).status == "admitted"
    assert verdict(future=3, config=lenient).status == "admitted"
    assert verdict(repeated=9, config=lenient).status == "quarantined"
    assert verdict(ids={"new": "q"}, config=lenient).status == "duplicate"


def test_a_counted_file_parsed_again_keeps_its_status_or_is_changed():
    counted = {"content_id": "old", "status": "admitted", "reason": None, "plays_batch": 3}
    assert verdict("touched", counted, content_id="old").status == "admitted"
    changed = verdict("reparse", counted, content_id="new")
    assert changed.status == "changed" and "batch 3" in changed.reason and "batch 7" in changed.reason
    assert verdict("readmit", counted, content_id="new", repeated=10, future=2).status == "admitted"


def lines_frame(spark, files):
    rows = [(line, path) for path, lines in files.items() for line in lines]
    lines = spark.createDataFrame(rows, "value string, source_file string")
    return lines.withColumns({**admission.line_hashes(lines.value), **profiling.replaced(lines.value, lines.value)})


A = ["u1\t2009-01-01T10:00:00Z\t\tA\t\tx", "u1\t2009-01-01T10:05:00Z\t\tA\t\ty", "bad line"]


def test_content_identity_is_the_multiset_of_lines(spark):
    found = {f["path"]: f for f in admission.file_facts(lines_frame(spark, {
        "a": A, "reordered": list(reversed(A)), "one_more": A + A[:1],
        "other": A[:2] + ["bad  line"]}).transform(parse_lines),
        now_epoch_seconds=int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()))}
    assert found["a"]["content_id"] == found["reordered"]["content_id"]
    assert len({found[p]["content_id"] for p in ("a", "one_more", "other")}) == 3
    assert (found["a"]["lines"], found["a"]["plays"], found["a"]["rejected"], found["a"]["future"]) == (3, 2, 1, 0)


def test_future_plays_are_counted_against_the_runs_start(spark):
    (fact,) = admission.file_facts(lines_frame(spark, {"a": A}).transform(parse_lines),
                                   now_epoch_seconds=int(datetime(2009, 1, 1, 10, 1, tzinfo=timezone.utc).timestamp()))
    assert fact["future"] == 1  # the 10:05 play


def test_repeats_count_plays_held_before_a_file_not_inside_it(spark):
    history = valid_plays(spark.createDataFrame([(A[0],)], "value string").transform(parse_lines))
    # first: A[0] is held, A[1] twice in the file is no repeat; second: A[1] is in the earlier file
    batch = lines_frame(spark, {"first": [A[0], A[1], A[1]], "second": [A[1], "u2\t2009-01-01T10:05:00Z\t\tA\t\ty"]}) \
        .transform(parse_lines).where(F.col("reason").isNull())
    assert admission.repeats(batch, history, ["first", "second"]) == {"first": 1, "second": 1}
    assert admission.repeats(batch, history.limit(0), ["second", "first"]) == {"first": 2, "second": 0}


def test_a_file_with_no_line_gets_the_facts_and_profile_of_nothing(spark):
    (fact,) = admission.file_facts(lines_frame(spark, {"a": A}).transform(parse_lines).limit(0),
                                   now_epoch_seconds=0, paths=["empty"])
    assert (fact["path"], fact["lines"], fact["plays"], fact["rejected"], fact["future"]) == ("empty", 0, 0, 0, 0)
    assert fact["content_id"] == admission.content_id(0, 0, 0, 0)
    profile = profiling.input_profile(fact)
    assert profile["rows"] == {"read": 0, "valid": 0, "rejected": 0, "rejected_by_reason": {},
                               "with_replacement_character": 0}
    assert profile["time_range"] == {"first": None, "last": None} and sum(profile["plays_by_hour_utc"]) == 0
    assert set(profiling.sketches(fact)) == {"artist_name", "track_name"}  # sketches of no name
