"""Raw lines -> typed plays, and the lines that are refused, with a reason.

A valid line has exactly six tab-separated fields, a non-empty user id, and a timestamp
`YYYY-MM-DDTHH:MM:SSZ` that names a real UTC instant. Fields are never unquoted: a `"` is part of
a name. Line ends (LF, CRLF or a lone CR) are the reader's business: Spark's text reader ends a
line at any of them and keeps none.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lastfm.schemas import (
    ARTIST_ID,
    ARTIST_NAME,
    LINE,
    RAW_FIELDS,
    REASON,
    TRACK_ID,
    TRACK_NAME,
    TS,
    USER_ID,
)

# What a play is and how a line is read: bump it with any change to this module that can change
# the rows a line gives, so that a full run parses every file again (storage/record.py notes the
# version each file was parsed with). tests/test_parsing.py pins it to a digest of the code it
# covers, and fails on a change of that code until it is bumped or judged unchanged and re-pinned.
PARSE_VERSION = 1

# Reject reasons, checked in this order; a line gets the first that applies.
WRONG_FIELD_COUNT = "wrong_field_count"
EMPTY_USER_ID = "empty_user_id"
BAD_TIMESTAMP = "bad_timestamp"
REJECT_REASONS = (WRONG_FIELD_COUNT, EMPTY_USER_ID, BAD_TIMESTAMP)

FIELD_COUNT = len(RAW_FIELDS)
TIMESTAMP_SHAPE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


def _parse_timestamp(text: Column) -> Column:
    # Once the shape is checked, Spark's cast reads the trailing Z as UTC (whatever the session
    # time zone) and refuses days, hours or seconds that do not exist, exactly like
    # try_to_timestamp(text, "yyyy-MM-dd'T'HH:mm:ssX") but ~10x cheaper (no DateTimeFormatter);
    # try_ because Spark 4's ANSI mode throws on a timestamp that does not parse. Without a
    # format, try_to_timestamp is that cast, and unlike Column.try_cast it exists in Spark 3.5.
    return F.when(text.rlike(TIMESTAMP_SHAPE), F.try_to_timestamp(text))


def parse_lines(lines: DataFrame) -> DataFrame:
    """Split raw text lines (column `value`) into the six typed fields plus `line` and `reason`,
    and any other columns of `lines` (where each line came from, say) as they are.

    `reason` is null for a valid line and one of REJECT_REASONS otherwise. Empty MBIDs become
    null; names are kept verbatim, empty or not.
    """
    # Stacked selects, so the split and the timestamp parse run once per line in the projection:
    # Spark does not collapse a select into one that would repeat a costly expression (the
    # split). One select with six `split(...)` took 3.5x the CPU (measured).
    fields = "_fields"
    field = lambda i: F.get(F.col(fields), i)  # noqa: E731 - null past the end, even under ANSI
    # when(<> ''), not F.nullif: Spark 3.5's Python nullif fails to resolve ("Invalid call to
    # dataType on unresolved object")
    mbid = lambda i: F.when(field(i) != "", field(i))  # noqa: E731
    extra = [c for c in lines.columns if c != "value"]
    typed = lines.select(F.col("value").alias(LINE), *extra).select(
        LINE, *extra, F.split(LINE, "\t", -1).alias(fields)
    ).select(
        field(0).alias(USER_ID),
        _parse_timestamp(field(1)).alias(TS),
        mbid(2).alias(ARTIST_ID),
        field(3).alias(ARTIST_NAME),
        mbid(4).alias(TRACK_ID),
        field(5).alias(TRACK_NAME),
        LINE,
        *extra,
        (F.size(fields) != FIELD_COUNT).alias(WRONG_FIELD_COUNT),
    )
    reason = (
        F.when(F.col(WRONG_FIELD_COUNT), F.lit(WRONG_FIELD_COUNT))
        .when(F.col(USER_ID) == "", F.lit(EMPTY_USER_ID))
        .when(F.col(TS).isNull(), F.lit(BAD_TIMESTAMP))
    )
    return _evaluated_once(typed.select(*RAW_FIELDS, LINE, reason.alias(REASON), *extra))


def _evaluated_once(parsed: DataFrame) -> DataFrame:
    """`parsed` as the output of a generator, so that `valid_plays` and `rejected_lines` filter
    rows already parsed. A filter on a projection is pushed below it with the projection's
    expressions copied in (here the split and the timestamp parse, evaluated twice per line:
    2x the CPU, measured); Spark cannot push a filter below a generator."""
    return parsed.select(F.inline(F.array(F.struct(*parsed.columns))))


def valid_plays(parsed: DataFrame) -> DataFrame:
    """The valid rows of `parse_lines`: the six fields."""
    return parsed.where(F.col(REASON).isNull()).select(*RAW_FIELDS)


def rejected_lines(parsed: DataFrame) -> DataFrame:
    """The refused rows of `parse_lines`: the line as read and the reason."""
    return parsed.where(F.col(REASON).isNotNull()).select(LINE, REASON)
