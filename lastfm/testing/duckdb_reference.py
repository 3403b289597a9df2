"""The same question answered by DuckDB's SQL, independently of the Spark job.

An oracle for the tests and the other side of the benchmark: it shares no code with the job
(its own reader, its own parsing, its own window), only the rules in the README.
"""

from __future__ import annotations

import duckdb

QUERY = r"""
WITH raw AS (
    SELECT * FROM read_csv(
        $path, delim = '\t', header = false, quote = '', escape = '', auto_detect = false,
        ignore_errors = true, null_padding = false, parallel = true,
        columns = {'user_id': 'VARCHAR', 'ts': 'VARCHAR', 'artist_id': 'VARCHAR',
                   'artist_name': 'VARCHAR', 'track_id': 'VARCHAR', 'track_name': 'VARCHAR'})
),
plays AS (
    SELECT user_id, epoch(try_strptime(ts, '%Y-%m-%dT%H:%M:%SZ')) AS t,
           coalesce(artist_name, '') AS artist_name, coalesce(track_name, '') AS track_name
    FROM raw
    WHERE coalesce(user_id, '') <> ''
      AND regexp_full_match(ts, '\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z')
      AND try_strptime(ts, '%Y-%m-%dT%H:%M:%SZ') IS NOT NULL
),
marked AS (
    SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY user_id ORDER BY t) <= $gap THEN 0 ELSE 1 END AS starts
    FROM plays
),
numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY user_id ORDER BY t
                                RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session
    FROM marked
),
longest AS (
    SELECT user_id, session FROM numbered GROUP BY user_id, session
    ORDER BY count(*) DESC, min(t), user_id LIMIT $top_sessions
)
SELECT artist_name, track_name, count(*) AS play_count
FROM numbered JOIN longest USING (user_id, session)
GROUP BY artist_name, track_name
ORDER BY play_count DESC, artist_name, track_name
LIMIT $top_tracks
"""


def top_tracks(path: str, gap_seconds: int = 1200, top_sessions: int = 50, top_tracks: int = 10,
               threads: int | None = None) -> list[tuple[str, str, int]]:
    """(artist_name, track_name, play_count) rows, best first, for the raw TSV at `path`."""
    with duckdb.connect() as db:
        if threads:
            db.execute(f"SET threads = {int(threads)}")
        params = {"path": path, "gap": gap_seconds, "top_sessions": top_sessions, "top_tracks": top_tracks}
        return [tuple(row) for row in db.execute(QUERY, params).fetchall()]


def read_tsv(path: str) -> list[tuple[str, str, int]]:
    """The job's deliverable as rows, header dropped, counts as ints (read with plain Python)."""
    with open(path, encoding="utf-8", newline="") as handle:
        lines = handle.read().split("\n")
    assert lines[0] == "artist_name\ttrack_name\tplay_count" and lines[-1] == "", lines[:1]
    return [(a, t, int(c)) for a, t, c in (line.split("\t") for line in lines[1:-1])]
