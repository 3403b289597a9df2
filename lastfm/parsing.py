"""Raw lines -> typed plays, and the lines that are refused, with a reason.

A valid line has exactly six tab-separated fields (after one trailing carriage return is
dropped), a non-empty user id, and a timestamp `YYYY-MM-DDTHH:MM:SSZ` that names a real UTC
instant. Fields are never unquoted: a `"` is part of a name.
"""

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

# Reject reasons, checked in this order; a line gets the first that applies.
WRONG_FIELD_COUNT = "wrong_field_count"
EMPTY_USER_ID = "empty_user_id"
BAD_TIMESTAMP = "bad_timestamp"
REJECT_REASONS = (WRONG_FIELD_COUNT, EMPTY_USER_ID, BAD_TIMESTAMP)

FIELD_COUNT = len(RAW_FIELDS)
TIMESTAMP_SHAPE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
# `X` reads the literal Z as UTC, so the instant does not depend on any time zone setting;
# try_ because Spark 4's ANSI mode throws on a timestamp that does not parse.
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ssX"


def _parse_timestamp(text: Column) -> Column:
    return F.when(text.rlike(TIMESTAMP_SHAPE), F.try_to_timestamp(text, F.lit(TIMESTAMP_FORMAT)))


def parse_lines(lines: DataFrame) -> DataFrame:
    """Split raw text lines (column `value`) into the six typed fields plus `line` and `reason`.

    `reason` is null for a valid line and one of REJECT_REASONS otherwise. Empty MBIDs become
    null; names are kept verbatim, empty or not.
    """
    line = F.regexp_replace(F.col("value"), r"\r$", "")
    fields = F.split(line, "\t", -1)
    field = lambda i: F.get(fields, i)  # noqa: E731 - null past the end, even under ANSI
    ts = _parse_timestamp(field(1))
    reason = (
        F.when(F.size(fields) != FIELD_COUNT, F.lit(WRONG_FIELD_COUNT))
        .when(field(0) == "", F.lit(EMPTY_USER_ID))
        .when(ts.isNull(), F.lit(BAD_TIMESTAMP))
    )
    return lines.select(
        field(0).alias(USER_ID),
        ts.alias(TS),
        F.nullif(field(2), F.lit("")).alias(ARTIST_ID),
        field(3).alias(ARTIST_NAME),
        F.nullif(field(4), F.lit("")).alias(TRACK_ID),
        field(5).alias(TRACK_NAME),
        line.alias(LINE),
        reason.alias(REASON),
    )


def valid_plays(parsed: DataFrame) -> DataFrame:
    """The valid rows of `parse_lines`, as the `plays` schema."""
    return parsed.where(F.col(REASON).isNull()).select(*RAW_FIELDS)


def rejected_lines(parsed: DataFrame) -> DataFrame:
    """The refused rows of `parse_lines`: the line as read and the reason."""
    return parsed.where(F.col(REASON).isNotNull()).select(LINE, REASON)
