"""What the job expects of its input and its output, and the checks that say so.

Two tools, each where it fits, both part of every run on any platform (plain Python and Spark,
no package beyond PySpark and Delta):
- Delta CHECK constraints (each table's `constraints`, lastfm/tables.py) for invariants the job
  guarantees by construction (a play has a user and a time; a session has plays). Delta enforces
  them inside every write, at no extra cost, and keeps them with the table for any later writer;
  a violation is a bug, so it always fails the run, `--warn-only` or not.
- Expectations (named values against bounds) for what depends on the data, judged on the few
  values the driver already holds: one row of input facts taken from the profile (time range,
  reject and duplicate fractions, users), the deliverable's rows with their order and
  membership flags (at most M rows) and its row count; and the plays table's schema (schema
  only, no scan).
A failed expectation raises DataQualityError (exit 3) with one line naming every failure, or,
with `--warn-only`, is logged and returned for the run summary. The checks of a run, as the
pipeline calls them, are at the end: check_reject_fraction, check_input, check_output.
"""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lastfm.config import JobConfig
from lastfm.errors import DataQualityError, UsageError
from lastfm.question.rankings import plays_in_sessions, song_play_counts
from lastfm.schemas import ARTIST_NAME, PLAY_COUNT, PLAYS, RANK, SESSION_END, SESSION_START, TRACK_NAME, TS, USER_ID
from lastfm.storage.reading import recorded_or_computed_md5

log = logging.getLogger(__name__)

# Audioscrobbler, Last.fm's scrobbling service, started in 2002: an earlier play is a bad clock.
EARLIEST_PLAY = datetime(2002, 1, 1, tzinfo=timezone.utc)

# The real file: 19,150,868 lines and this MD5 (lastfm/platforms/dataset.py); the answer published for it
# by seven independent solutions (see the README), for the default question only.
REAL_FILE_LINES = 19_150_868
REAL_FILE_MD5 = "64747b21563e3d2aa95751e0ddc46b68"
KNOWN_ANSWER = (
    ("Cake", "Jolene", 1214),
    ("The Knife", "Heartbeats", 868),
    ("Jeff Buckley & Gary Lucas", "How Long Will It Take", 726),
    ("Broken Social Scene", "Anthems For A Seventeen Year Old Girl", 659),
    ("Elliott Smith", "St. Ides Heaven", 646),
    ("The Killers", "Bonus Track", 634),
    ("2Pac", "Starin' Through My Rear View", 617),
    ("The Rolling Stones", "Beast Of Burden", 613),
    ("Everclear", "The Swing", 604),
    ("Kanye West", "See You In My Nightmares", 536),
)
KNOWN_ANSWER_QUESTION = {"session_gap_minutes": 20, "top_sessions": 50, "top_tracks": 10}


@dataclass(frozen=True)
class Expect:
    """`name` (a fact, or a column of checked rows) must satisfy `check` against `bound`; a
    failure reads `<what>.<name>=<value> fails <check>(<bound>)`."""

    name: str
    check: str
    bound: Any

    CHECKS = {"greater_than": operator.gt, "greater_than_or_equal_to": operator.ge,
              "less_than_or_equal_to": operator.le, "equal_to": operator.eq}

    def holds(self, value) -> bool:
        return value is not None and self.CHECKS[self.check](value, self.bound)

    def __str__(self) -> str:
        return f"{self.check}({self.bound})"


def input_facts(profile: dict) -> dict:
    """The numbers the input expectations judge, taken from a profile (profiling.py)."""
    rows = profile["rows"]
    return {
        "rows_valid": rows["valid"],
        "users": profile["users"],
        "duplicate_fraction": profile["duplicate_plays"] / rows["valid"] if rows["valid"] else 0.0,
        "first_play": _instant(profile["time_range"]["first"]),
        "last_play": _instant(profile["time_range"]["last"]),
    }


def _instant(iso: str) -> datetime:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def input_expectations(config: JobConfig, now: datetime) -> tuple[Expect, ...]:
    """The input facts must show a usable input: valid rows and users, at most the allowed
    fraction of duplicated rows, and every play between 2002 and `now`. (The rejected fraction is
    checked as soon as the parse is written, by check_reject_fraction.)"""
    return (
        Expect("rows_valid", "greater_than", 0),
        Expect("users", "greater_than", 0),
        Expect("duplicate_fraction", "less_than_or_equal_to", config.max_duplicate_fraction),
        Expect("first_play", "greater_than_or_equal_to", EARLIEST_PLAY),
        Expect("last_play", "less_than_or_equal_to", now),
    )


# Each row of `checked_output`: a rank and a positive count, names present, in order, and a
# song of the top sessions played there as often as it says.
OUTPUT_ROW_EXPECTATIONS = (
    Expect(RANK, "greater_than_or_equal_to", 1),
    Expect(PLAY_COUNT, "greater_than", 0),
    Expect("in_order", "equal_to", True),
    Expect("in_top_sessions", "equal_to", True),
    Expect("count_matches", "equal_to", True),
)


def output_expectations(config: JobConfig) -> tuple[Expect, ...]:
    """The expectations of the deliverable's size (`output_facts`): at most M rows, and fewer
    only when the top sessions hold fewer than M songs."""
    return (
        Expect("rows", "less_than_or_equal_to", config.top_tracks),
        Expect("row_shortfall", "equal_to", 0),
    )


def checked_output(top_tracks: DataFrame, plays: DataFrame, top_sessions: DataFrame) -> DataFrame:
    """The top_tracks rows plus `in_order` (each row ranks after the one before under the
    documented order: play_count desc, artist_name asc, track_name asc), `in_top_sessions` (the
    song is played in one of the top sessions) and `count_matches` (its play_count is its number
    of plays there). Both are recounted from `plays` for these songs alone, by an expression of
    their own, not from the frame the ranking came from."""
    by_rank = Window.orderBy(RANK)
    before = lambda c: F.lag(c).over(by_rank)  # noqa: E731
    follows = (
        (before(PLAY_COUNT) > F.col(PLAY_COUNT))
        | ((before(PLAY_COUNT) == F.col(PLAY_COUNT)) & (before(ARTIST_NAME) < F.col(ARTIST_NAME)))
        | ((before(PLAY_COUNT) == F.col(PLAY_COUNT)) & (before(ARTIST_NAME) == F.col(ARTIST_NAME))
           & (before(TRACK_NAME) < F.col(TRACK_NAME)))
    )
    songs = top_tracks.select(ARTIST_NAME, TRACK_NAME)
    users = [row[USER_ID] for row in top_sessions.select(USER_ID).distinct().collect()]
    bounds = top_sessions.select(USER_ID, SESSION_START, SESSION_END)
    recount = (
        plays.where(F.col(USER_ID).isin(users))
        .join(F.broadcast(songs), [ARTIST_NAME, TRACK_NAME], "left_semi")
        .join(F.broadcast(bounds), USER_ID)
        .where((F.col(TS) >= F.col(SESSION_START)) & (F.col(TS) <= F.col(SESSION_END)))
        .groupBy(ARTIST_NAME, TRACK_NAME).agg(F.count(F.lit(1)).alias("recounted"))
    )
    recounted = F.coalesce("recounted", F.lit(0))
    return (
        top_tracks.select(RANK, ARTIST_NAME, TRACK_NAME, PLAY_COUNT)
        .withColumn("in_order", F.coalesce(follows, F.row_number().over(by_rank) == 1))
        .join(recount, [ARTIST_NAME, TRACK_NAME], "left")
        .select(RANK, ARTIST_NAME, TRACK_NAME, PLAY_COUNT, "in_order", (recounted > 0).alias("in_top_sessions"),
                (recounted == F.col(PLAY_COUNT)).alias("count_matches"))
    )


def output_facts(rows: int, songs_in_top_sessions: int, config: JobConfig) -> dict:
    return {"rows": rows, "row_shortfall": min(config.top_tracks, songs_in_top_sessions) - rows}


def _show(value) -> str:
    return (value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime)
            else f"{value:.6g}" if isinstance(value, float) else str(value))


def validate_facts(what: str, expectations: tuple[Expect, ...], facts: dict) -> list[str]:
    """One text per expectation that the named values in `facts` fail (empty when all pass)."""
    return [f"{what}.{e.name}={_show(facts[e.name])} fails {e}" for e in expectations if not e.holds(facts[e.name])]


def validate_output(checked: DataFrame) -> list[str]:
    """The rows of `checked_output` (at most M: collected) against OUTPUT_ROW_EXPECTATIONS and
    present names; one text per failed check, however many rows fail it."""
    rows = [row.asDict() for row in checked.collect()]
    found = [f"output.{e.name} fails {e}" for e in OUTPUT_ROW_EXPECTATIONS if not all(e.holds(r[e.name]) for r in rows)]
    found += [f"output.{name} fails not_null" for name in (ARTIST_NAME, TRACK_NAME)
              if any(r[name] is None for r in rows)]
    return found


def validate_plays_schema(plays: DataFrame) -> list[str]:
    """The plays table has exactly the columns of schemas.PLAYS, in any order, with their
    types (nullability is Delta's CHECK constraints' job); schema only, no scan."""
    expected = {field.name: field.dataType for field in PLAYS.fields}
    found_types = {field.name: field.dataType for field in plays.schema.fields}
    found = [f"plays: column '{name}' not expected" for name in found_types if name not in expected]
    found += [f"plays.{name} missing" for name in expected if name not in found_types]
    found += [f"plays.{name} is {found_types[name].simpleString()}, expected {kind.simpleString()}"
              for name, kind in expected.items() if name in found_types and found_types[name] != kind]
    return found


def enforce(found: list[str], what: str, warn_only: bool) -> list[str]:
    """Raise DataQualityError listing `found`, or with `warn_only` log them; return them."""
    if found and not warn_only:
        raise DataQualityError(f"{what} expectations failed: {'; '.join(found)}")
    for failure in found:
        log.warning("%s expectation failed (--warn-only): %s", what, failure)
    return found


def is_real_file(rows_read: int, md5) -> bool:
    """True for the real Last.fm 1K file. The line count (free: the job counts lines) is checked
    first, so the MD5 (`md5()`, which may hash the whole file) is only asked for a likely match."""
    return rows_read == REAL_FILE_LINES and md5() == REAL_FILE_MD5


def known_answer_check(config: JobConfig, rows_read: int, md5, top_rows: list[dict]) -> dict:
    """Compare the answer with the published one when the input is the real file."""
    question = {name: getattr(config, name) for name in KNOWN_ANSWER_QUESTION}
    if question != KNOWN_ANSWER_QUESTION:
        return {"checked": False, "reason": "not the default question"}
    if not is_real_file(rows_read, md5):
        return {"checked": False, "reason": "input is not the real Last.fm 1K file"}
    got = tuple((r[ARTIST_NAME], r[TRACK_NAME], r[PLAY_COUNT]) for r in top_rows)
    wrong = [f"#{i + 1} {g} != {k}" for i, (g, k) in enumerate(zip(got, KNOWN_ANSWER)) if g != k]
    if len(got) != len(KNOWN_ANSWER):
        wrong.append(f"{len(got)} rows != {len(KNOWN_ANSWER)}")
    return {"checked": True, "matches": not wrong, "differences": wrong}


# --- the checks of a run, as the pipeline calls them ----------------------------------------------


def check_reject_fraction(valid: int, rejected: int, config: JobConfig, rejects_path: str,
                          readmitted: tuple[int, int] = (0, 0)) -> list[str]:
    """Raise if the input is unusable (no valid row) or rejects too many lines; with --warn-only
    the second is logged and returned, for the run summary. `readmitted`: the (valid, rejected)
    lines of files an operator had admitted as they are (--readmit), which the fraction leaves out."""
    total = valid + rejected
    if valid == 0:
        raise UsageError(f"no valid rows in input {config.input}: all {total} lines rejected (see {rejects_path})")
    valid, rejected = valid - readmitted[0], rejected - readmitted[1]
    total = valid + rejected
    if not total or rejected / total <= config.max_reject_fraction:
        return []
    fraction = rejected / total
    aside = " (the files re-admitted as they are aside)" if any(readmitted) else ""
    message = (f"{rejected} of {total} lines rejected ({fraction:.4%}) in {config.input}{aside}, above "
               f"--max-reject-fraction {config.max_reject_fraction} (see {rejects_path})")
    if not config.warn_only:
        raise DataQualityError(message)
    log.warning("%s (--warn-only)", message)
    return [message]


def check_parse(counts: dict, config: JobConfig, readmitted: list[dict] = ()) -> list[str]:
    """The checks of the parse's counts (the profile's `rows`): the reject fraction
    (check_reject_fraction) but over the files re-admitted as they are (`readmitted`: their
    profiles' `rows`), and a warning where input lines held bytes that are not UTF-8."""
    exempt = tuple(sum(rows[k] for rows in readmitted) for k in ("valid", "rejected"))
    warnings = check_reject_fraction(counts["valid"], counts["rejected"], config, config.table_path("rejects"), exempt)
    if counts.get("with_replacement_character"):
        warnings.append(f"{counts['with_replacement_character']} input lines held bytes that are not UTF-8, read as "
                        "U+FFFD (rows.with_replacement_character in the profile)")
    return warnings


def check_input(plays, profile: dict, config: JobConfig) -> list[str]:
    """The input expectations (quality/py) on the plays table and its profile; the failures
    are raised, or with --warn-only returned."""
    found = validate_plays_schema(plays)
    found += validate_facts("input", input_expectations(config, datetime.now(timezone.utc)),
                                    input_facts(profile))
    return enforce(found, "input", config.warn_only)


def check_output(top, top_rows: list[dict], plays, longest, config: JobConfig, rows_read: int,
                 checked_before: bool = False) -> tuple[list[str], dict]:
    """The output expectations on the top tracks (`top`, at most M rows, and the same as
    `top_rows`: what the top_tracks table and the deliverable get), their songs recounted from
    `plays` in the `longest` sessions, and the known-answer check when the input is the real
    file: (failures, known-answer result). With `checked_before` (an earlier run's answer, kept:
    `kept_answer`) the expectations passed on the same plays of the same sessions then, and are
    not recounted."""
    found = []
    if not checked_before:
        found += validate_output(checked_output(top, plays, longest))
        # fewer than M rows is right only when the top sessions hold fewer than M songs: counted
        # then, and only then (M rows leave no shortfall to find)
        songs = config.top_tracks if len(top_rows) == config.top_tracks else \
            plays.transform(plays_in_sessions(longest)).transform(song_play_counts).count()
        found += validate_facts("output", output_expectations(config),
                                        output_facts(len(top_rows), songs, config))
    answer = known_answer_check(
        config, rows_read, lambda: recorded_or_computed_md5(top.sparkSession, config.input), top_rows)
    if answer["checked"] and not answer["matches"]:
        found.append(f"not the published answer for the real file: {'; '.join(answer['differences'])}")
    return enforce(found, "output", config.warn_only), answer
