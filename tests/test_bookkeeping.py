import json

from lastfm.bookkeeping import answer_to_keep, last_answer, quarantine_alert, refusals_to_report
from lastfm.config import JobConfig
from lastfm.storage.record import Record

CONFIG = JobConfig(input="in", output="out/top.tsv", warehouse="wh", top_sessions=50, top_tracks=10)


def row(run_id, status="succeeded", tables=("plays", "sessions", "top_sessions", "top_tracks"), batch=3,
        rules="gap=1200", **options):
    config = {"top_sessions": 50, "top_tracks": 10, "warn_only": False, **options}
    return {"run_id": run_id, "status": status, "table_versions": {name: 1 for name in tables},
            "config": json.dumps(config), "sessions_batch": batch, "sessions_rules": rules}


def test_the_answer_kept_is_the_last_one_written_by_a_run_that_passed_its_checks_on_the_same_question():
    state = (3, "gap=1200")
    nothing_new = row("n", status="nothing_new", tables=())
    assert answer_to_keep([nothing_new, row("a"), row("b")], CONFIG, state)["run_id"] == "a"  # the last to write it
    assert answer_to_keep([row("a", status="failed"), row("b")], CONFIG, state) is None  # not the older one either
    # refused a file, checks passed
    assert answer_to_keep([row("a", status="quarantined")], CONFIG, state)["run_id"] == "a"
    assert answer_to_keep([row("a", warn_only=True)], CONFIG, state) is None  # its checks may have failed
    assert answer_to_keep([row("a", top_tracks=5)], CONFIG, state) is None  # another question
    assert answer_to_keep([row("a", top_sessions=40)], CONFIG, state) is None
    assert answer_to_keep([row("a", batch=2)], CONFIG, state) is None  # from other sessions
    assert answer_to_keep([row("a", rules="gap=1800")], CONFIG, state) is None
    assert answer_to_keep([row("a", tables=("plays", "top_sessions"))], CONFIG, state) is None  # no answer written
    assert answer_to_keep([], CONFIG, state) is None


def test_the_last_answer_is_the_latest_finished_run_that_recorded_its_summary():
    older = {**row("a"), "summary": "{}"}
    assert last_answer([row("f", status="failed"), {**row("n", status="nothing_new"), "summary": "{}"}, older]) \
        is older
    assert last_answer([{**row("q", status="quarantined"), "summary": "{}"}, older])["run_id"] == "q"
    assert last_answer([row("old")]) is None  # a row of an older version of the job: no summary
    assert last_answer([]) is None


def test_a_refusal_is_reported_by_the_run_that_took_its_batch_its_retries_and_else_the_next_run():
    took = Record(last_batch=4, refused_in={4: {"x": "too many rejects"}})
    assert refusals_to_report(took, []) == {"x": "too many rejects"}  # the run that took batch 4
    reported = [{"batch": 4, "input_files_quarantined": ["x"]}]
    assert refusals_to_report(took, reported) == {"x": "too many rejects"}  # a retry, nothing new: again
    later = Record(last_batch=5, refused_in=took.refused_in)
    assert refusals_to_report(later, reported) == {}  # the next run that takes a batch: reported already
    # the run that took batch 4 was killed before its row: the next run reports it, whatever it took
    assert refusals_to_report(later, [{"batch": 3, "input_files_quarantined": []}]) == {"x": "too many rejects"}
    # a file refused again later, with another content, is reported again
    again = Record(last_batch=7, refused_in={4: {"x": "too many rejects"}, 6: {"x": "future plays"}})
    assert refusals_to_report(again, reported) == {"x": "future plays"}
    line = quarantine_alert({"x": "too many rejects", "y": "future plays"}, CONFIG)
    assert line.startswith("input file x refused: too many rejects (and 1 more)") and "--readmit x" in line
    assert quarantine_alert({}, CONFIG) is None
    assert quarantine_alert({"x": "why"}, JobConfig(**{**vars(CONFIG), "warn_only": True})) is None
