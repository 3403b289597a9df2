"""The run's plan as plain values (planning.py): which files each batch takes and how, `plays`
appended to, rebuilt or reused, `sessions` reused, updated or built anew. No SparkSession."""

import pytest
from test_record import row

from lastfm.config import JobConfig
from lastfm.errors import UsageError
from lastfm.planning import BUILD, COMPUTE, REUSE, UPDATE, Batch, Held, files_to_take, plan
from lastfm.question.parsing import PARSE_VERSION
from lastfm.question.sessions import rules
from lastfm.storage.record import Claimed, record_of

RULES = rules(1200)  # the default 20-minute gap
DAILY = JobConfig(input="in", output="out/top.tsv", warehouse="wh", incremental=True)
FULL = JobConfig(input="in", output="out/top.tsv", warehouse="wh")

# batches 0 and 1 complete: day1 and day2 counted, bad refused
DAYS = [row("day1", 0, "pending", reason="new"), row("day1", 1, "admitted", plays_batch=0, parse_version=PARSE_VERSION),
        row("day2", 2, "pending", reason="new"), row("bad", 2, "pending", reason="new"),
        row("day2", 3, "admitted", plays_batch=1, parse_version=PARSE_VERSION),
        row("bad", 3, "quarantined", reason="too many rejects", content_id="x")]
LISTED = [("bad", 10, 1), ("day1", 10, 1), ("day2", 10, 1)]


def held(rows=DAYS, sessions=(1, RULES), **more):
    return Held(files=record_of(rows), sessions=sessions, plays_exist=bool(rows), **more)


def kinds(the_plan):
    return [[(c.path, c.kind) for c in b.files] for b in the_plan.batches]


def test_an_empty_warehouse_takes_every_file_as_batch_0_and_builds_the_sessions():
    the_plan = plan(held([], None), [("b", 5, 2), ("a", 3, 1)], DAILY)
    assert kinds(the_plan) == [[("a", "new"), ("b", "new")]]
    assert the_plan.batches[0].number == 0 and the_plan.batches[0].rewrite and the_plan.answers_from == 0
    assert (the_plan.sessions, the_plan.sessions_from) == (BUILD, None)


def test_nothing_new_takes_no_file_and_reuses_the_sessions():
    the_plan = plan(held(), LISTED, DAILY)
    assert the_plan.batches == () and the_plan.takes_nothing and the_plan.answers_from == 1
    assert (the_plan.sessions, the_plan.sessions_from) == (REUSE, 1)
    assert the_plan.lines()[-1].startswith("answer: the last one, when the output is still the one it wrote")


def test_a_new_day_and_a_re_delivered_file_are_judged_by_their_content_and_update_the_sessions():
    listing = [*LISTED[:2], ("day2", 12, 5), ("day3", 10, 1)]
    the_plan = plan(held(), listing, DAILY)
    assert kinds(the_plan) == [[("day2", "touched"), ("day3", "new")]]
    batch = the_plan.batches[0]
    assert (batch.number, batch.rewrite, batch.replaced, the_plan.answers_from) == (2, False, (), 2)
    assert (the_plan.sessions, the_plan.sessions_from) == (UPDATE, 1)
    text = "\n".join(the_plan.lines())
    assert "new day3: parsed, then admitted, skipped (a repeat of a counted file) or quarantined by its content" in text
    assert "touched day2: counted, its size or time changed" in text
    assert "sessions: updated with the plays of batches 2-2" in text


def test_a_refused_file_changed_since_is_judged_again_and_an_unchanged_one_is_left():
    assert kinds(plan(held(), [*LISTED[1:], ("bad", 11, 2)], DAILY)) == [[("bad", "new")]]
    assert plan(held(), LISTED, DAILY).batches == ()


def test_a_full_run_over_the_counted_input_reuses_the_tables():
    the_plan = plan(held(), LISTED[1:], FULL)
    assert the_plan.reuse and the_plan.batches == () and the_plan.sessions == REUSE
    assert not plan(held(), LISTED, FULL).reuse  # a refused file is judged again by every full run
    assert "plays: reused as they are" in "\n".join(the_plan.lines())
    # parsed by an older parse: taken again, `plays` rewritten, the sessions built anew
    older = [{**r, "parse_version": PARSE_VERSION - 1} if r["status"] == "admitted" else r for r in DAYS]
    again = plan(held(older), LISTED[1:], FULL)
    assert not again.reuse and kinds(again) == [[("day1", "reparse"), ("day2", "reparse")]]
    assert again.batches[0].rewrite and again.sessions == BUILD


def test_a_full_run_over_a_changed_input_rewrites_plays_and_builds_the_sessions():
    the_plan = plan(held(), [*LISTED, ("day3", 10, 1)], FULL)
    assert kinds(the_plan) == [[("bad", "new"), ("day1", "reparse"), ("day2", "reparse"), ("day3", "new")]]
    assert the_plan.batches[0].rewrite and (the_plan.sessions, the_plan.answers_from) == (BUILD, 2)
    # with the sessions up to date, a full run still builds them: its batch rewrote every play
    assert plan(held(sessions=(1, RULES)), [*LISTED, ("day3", 10, 1)], FULL).sessions == BUILD


def test_a_forgotten_file_needs_to_be_asked_for_and_another_input_drops_the_first_ones_files():
    with pytest.raises(UsageError, match=r"1 counted input file\(s\) no longer in the input, e.g. day2"):
        plan(held(), LISTED[:2], FULL)
    forgotten = plan(held(), LISTED[:2], JobConfig(input="in", output="o.tsv", warehouse="wh",
                                                  forget_missing_files=True))
    assert kinds(forgotten) == [[("bad", "new"), ("day1", "reparse"), ("day2", "forget")]]
    assert "forget day2: gone from the input: its plays dropped" in "\n".join(forgotten.lines())
    other = plan(held(), [("file:/other/x", 5, 1)], FULL, input_root="file:/other")
    assert kinds(other) == [[("file:/other/x", "new"), ("day1", "forget"), ("day2", "forget")]]


def test_a_re_admission_appends_a_refused_file_and_replaces_a_changed_ones_rows():
    readmit = plan(held(), LISTED, JobConfig(input="in", output="o.tsv", warehouse="wh", incremental=True,
                                             readmit=("bad",)))
    assert kinds(readmit) == [[("bad", "readmit")]] and readmit.batches[0].replaced == ()
    assert readmit.sessions == UPDATE
    changed = [*DAYS, row("day2", 4, "pending", reason="touched", size=12),
               row("day2", 5, "changed", reason="content changed", size=12, plays_batch=1)]
    again = plan(held(changed, (2, RULES)), [*LISTED[:2], ("day2", 12, 1)],
                 JobConfig(input="in", output="o.tsv", warehouse="wh", incremental=True, readmit=("day2",)))
    assert again.batches[0].replaced == ("day2",) and not again.batches[0].rewrite
    assert again.sessions == BUILD  # rows of a counted file replaced: what the sessions held is gone
    # that re-admission killed after its claim: the retry's batch still replaces the old rows
    resumed = plan(held([*changed, row("day2", 6, "pending", reason="readmit", size=12)]),
                   [*LISTED[:2], ("day2", 12, 1)],
                   JobConfig(input="in", output="o.tsv", warehouse="wh", incremental=True, readmit=("day2",)))
    assert resumed.batches[0].resumed and resumed.batches[0].replaced == ("day2",)
    with pytest.raises(UsageError, match="--readmit day1: not a refused file"):
        plan(held(), LISTED, JobConfig(input="in", output="o.tsv", warehouse="wh", readmit=("day1",)))


def test_the_retry_of_a_re_admission_resumes_its_claim_or_finds_it_done():
    readmit = JobConfig(input="in", output="o.tsv", warehouse="wh", incremental=True, readmit=("bad",))
    claimed = [*DAYS, row("bad", 4, "pending", reason="readmit")]  # killed after its claim
    resumed = plan(held(claimed), LISTED, readmit)
    assert kinds(resumed) == [[("bad", "readmit")]] and resumed.batches[0].resumed and resumed.replan
    # killed after its outcome: the retry's replan, or a later retry
    done = [*claimed, row("bad", 5, "admitted", reason="re-admitted (--readmit)", plays_batch=2,
                          parse_version=PARSE_VERSION)]
    again = plan(held(done, (1, RULES)), LISTED, readmit)
    assert again.batches == () and (again.sessions, again.sessions_from) == (UPDATE, 1)
    assert plan(held(done, (2, RULES)), LISTED, readmit).sessions == REUSE


def test_a_change_of_rules_builds_the_sessions_anew_even_with_nothing_new():
    the_plan = plan(held(), LISTED, JobConfig(input="in", output="o.tsv", warehouse="wh", incremental=True,
                                              session_gap_minutes=30))
    assert the_plan.batches == () and the_plan.sessions == BUILD
    assert plan(held(sessions=None), LISTED, DAILY).sessions == BUILD  # no sessions, or not matching plays


def test_a_batch_a_dead_run_left_is_completed_first_then_the_input_planned_again():
    dead = [*DAYS, row("day3", 4, "pending", reason="new"), row("gone", 4, "pending", reason="new")]
    first = plan(held(dead, gone=frozenset({"gone"})), [*LISTED, ("day3", 10, 1), ("day4", 10, 1)], DAILY)
    assert first.replan and kinds(first) == [[("day3", "new")]] and first.batches[0].resumed
    assert first.lines()[-1] == "then the input is planned again, from the record that batch leaves"
    # the batch completed: day3 admitted; day4 is the next batch's
    after = record_of([*dead[:-1], row("day3", 5, "admitted", plays_batch=2)])
    second = plan(Held(files=after, sessions=(1, RULES), plays_exist=True),
                  [*LISTED, ("day3", 10, 1), ("day4", 10, 1)], DAILY, taken=first.batches)
    assert kinds(second) == [[("day3", "new")], [("day4", "new")]] and not second.replan
    assert [b.number for b in second.batches] == [2, 3] and (second.sessions, second.sessions_from) == (UPDATE, 1)
    # a dead full run's batch rewrote plays: the sessions are built anew whatever they held
    rewritten = plan(Held(files=after, sessions=(1, RULES), plays_exist=True), LISTED + [("day3", 10, 1)], DAILY,
                     taken=(Batch(2, (), resumed=True, rewrite=True),))
    assert rewritten.sessions == BUILD


def test_an_incremental_run_refuses_plays_without_a_record_and_an_as_of_run_computes_its_sessions():
    with pytest.raises(UsageError, match="has no record of the files it holds"):
        plan(Held(plays_exist=True), LISTED, DAILY)
    as_of = plan(Held(), [], JobConfig(input="in", output="o.tsv", warehouse="wh", as_of_version=3))
    assert as_of.sessions == COMPUTE and as_of.batches == () and "no table written" in as_of.lines()[0]


# how each file is taken, over every state a file can be in
STATE = [row("kept", 1, "admitted", plays_batch=0), row("moved", 1, "admitted", plays_batch=0),
         row("refused", 3, "quarantined"), row("dup", 3, "duplicate"), row("changed", 3, "changed", plays_batch=0)]


def test_a_daily_run_takes_new_files_and_counted_ones_that_changed():
    listing = [("kept", 10, 1), ("moved", 10, 2), ("refused", 10, 1), ("dup", 11, 1), ("changed", 10, 1),
               ("fresh", 1, 1)]
    claims = files_to_take(record_of(STATE), listing, full=False)
    assert claims == [Claimed("dup", 11, 1, "new"), Claimed("fresh", 1, 1, "new"), Claimed("moved", 10, 2, "touched")]
    # nothing changed: nothing to do
    assert files_to_take(record_of(STATE), [("kept", 10, 1), ("refused", 10, 1)], full=False) == []


def test_a_full_run_takes_every_file_again_and_refuses_to_drop_missing_ones():
    listing = [("kept", 10, 1), ("moved", 10, 1), ("refused", 10, 1), ("dup", 10, 1), ("changed", 10, 1)]
    claims = files_to_take(record_of(STATE), listing, full=True)
    assert [(c.path, c.kind) for c in claims] == [("changed", "keep"), ("dup", "new"), ("kept", "reparse"),
                                                  ("moved", "reparse"), ("refused", "new")]
    with pytest.raises(UsageError,
                       match=r"1 counted input file\(s\) no longer in the input, e.g. moved.*--forget-missing-files"):
        files_to_take(record_of(STATE), [f for f in listing if f[0] != "moved"], full=True)
    forgotten = files_to_take(record_of(STATE), [f for f in listing if f[0] != "moved"], full=True, forget_missing=True)
    assert Claimed("moved", 10, 1, "forget") in forgotten
    # a full run pointed at another input answers from it: the files of the first input are dropped
    # without being told to, those gone from under this input still need it
    other = [("file:/other/x", 5, 1)]
    assert [(c.path, c.kind) for c in files_to_take(record_of(STATE), other, full=True, input_root="file:/other")] == [
        ("file:/other/x", "new"), *[(p, "forget") for p in ("changed", "kept", "moved")]]
    with pytest.raises(UsageError, match="e.g. file:/in/gone"):
        files_to_take(record_of([*STATE, row("file:/in/gone", 1, "admitted", plays_batch=0)]), [("file:/in/x", 5, 1)],
                    full=True, input_root="file:/in/")
    # a daily run does not notice a deletion
    assert files_to_take(record_of(STATE), [f for f in listing if f[0] != "moved"], full=False) == []


def test_readmit_takes_only_refused_files():
    listing = [("kept", 10, 1), ("refused", 10, 1), ("changed", 10, 1)]
    claims = files_to_take(record_of(STATE), listing, full=False, readmit=("refused", "changed"))
    assert claims == [Claimed("changed", 10, 1, "readmit"), Claimed("refused", 10, 1, "readmit")]
    with pytest.raises(UsageError, match="--readmit kept: not a refused file"):
        files_to_take(record_of(STATE), listing, full=False, readmit=("kept",))


