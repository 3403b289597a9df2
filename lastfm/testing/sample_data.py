"""A deterministic, realistic stand-in for the Last.fm 1K file, of any size.

Shaped like the real file: heavy-tailed plays per user, rows grouped by user and newest first,
mostly short sessions with a few very long looping ones, empty MBIDs (~11% of tracks), names
with double quotes and in non-Latin scripts, the same title by several artists, repeated
timestamps, gaps of exactly the session gap (must join) and one second more (must split), and a
few malformed lines (well under the job's default reject threshold).

Same arguments -> byte-identical file. Used by `make run`, the tests and the benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

START = np.datetime64("2005-02-14T00:00:00", "s")
END = np.datetime64("2013-09-29T23:59:59", "s")  # the real file's span: no play after END
GAP_SECONDS = 20 * 60
# The real file: 19,150,868 plays by 992 users. Larger samples get more users rather than
# heavier ones, so that every user's plays still fit in START..END.
PLAYS_PER_USER = 19_151

_WORDS = (
    "Love Night Heart Blue Dream Fire Rain Summer Light Road Home Song Girl Boy Star Moon Sun "
    "Time World Life Day City River Ocean Wild Gold Silver Black White Red Sweet Lonely Broken "
    "Dancing Falling Running Heaven Angel Ghost Shadow Echo Paper Glass Stone Winter Spring"
).split()
_EXOTIC = (
    'Johnny "Hammond" Smith', '"Heroes"', "坂本龍一", "Кино", "Sigur Rós", "Ελευθερία",
    "فيروز", "東京事変", "Mötley Crüe", "Beyoncé", "שלום", "Björk", "Æ & Ø", "N'Dour",
)
_SHARED_TITLES = ("Bonus Track", "Intro", "Untitled", "Hidden Track", "Jolene")


@dataclass(frozen=True)
class Catalog:
    artist_name: np.ndarray
    artist_id: np.ndarray
    track_name: np.ndarray
    track_id: np.ndarray
    popularity: np.ndarray  # probability of each track in an ordinary session


def _mbid(rng: np.random.Generator, n: int, empty_fraction: float) -> np.ndarray:
    hexes = np.array([f"{a:016x}{b:016x}" for a, b in rng.integers(0, 2**63, size=(n, 2))])
    ids = np.array([f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}" for h in hexes], dtype=object)
    ids[rng.random(n) < empty_fraction] = ""
    return ids


def _name(rng: np.random.Generator, words: int) -> str:
    return " ".join(rng.choice(_WORDS, size=words))


def make_catalog(rng: np.random.Generator, artists: int = 3000) -> Catalog:
    names = [_name(rng, int(rng.integers(1, 4))) + f" {i}" for i in range(artists)]
    exotic_artists = rng.choice(np.arange(20, artists), size=len(_EXOTIC), replace=False)
    for index, name in zip(exotic_artists, _EXOTIC):
        names[index] = name
    artist_ids = _mbid(rng, artists, 0.03)
    tracks_per_artist = rng.integers(3, 25, size=artists)
    owner = np.repeat(np.arange(artists), tracks_per_artist)
    titles = np.array([_name(rng, int(rng.integers(1, 5))) for _ in owner], dtype=object)
    shared = rng.random(len(owner)) < 0.01
    titles[shared] = rng.choice(_SHARED_TITLES, size=int(shared.sum()))
    exotic_tracks = rng.choice(len(owner), size=len(_EXOTIC), replace=False)
    titles[exotic_tracks] = [f"{name} Theme" for name in _EXOTIC]
    artist_weight = 1.0 / np.arange(1, artists + 1) ** 1.1  # Zipf-like artist popularity
    weight = artist_weight[owner] / tracks_per_artist[owner]
    return Catalog(
        artist_name=np.array(names, dtype=object)[owner],
        artist_id=artist_ids[owner],
        track_name=titles,
        track_id=_mbid(rng, len(owner), 0.11),
        popularity=weight / weight.sum(),
    )


def _session_lengths(rng: np.random.Generator, plays: int) -> list[int]:
    lengths, total = [], 0
    while total < plays:
        if rng.random() < 0.01:  # a rare marathon: hundreds to thousands of plays
            length = int(min(200 * rng.pareto(1.2) + 200, 4000))
        else:
            length = int(rng.geometric(1 / 12))
        length = min(length, plays - total)
        lengths.append(length)
        total += length
    return lengths


def _user_plays(rng: np.random.Generator, catalog: Catalog, plays: int):
    """(seconds since START, track index) of one user's plays, oldest first."""
    cumulative = np.cumsum(catalog.popularity)
    draw = lambda n: np.minimum(np.searchsorted(cumulative, rng.random(n)), len(cumulative) - 1)  # noqa: E731
    favourites = draw(40)
    gaps, tracks = [], []
    for i, length in enumerate(_session_lengths(rng, plays)):
        within = rng.integers(60, 480, size=length)
        within[rng.random(length) < 0.02] = GAP_SECONDS  # exactly the gap: same session
        within[rng.random(length) < 0.002] = 0  # two plays logged in the same second
        first = GAP_SECONDS + 1 if rng.random() < 0.05 else int(rng.exponential(86400) + GAP_SECONDS + 1)
        within[0] = first if i else int(rng.integers(0, 3 * 365 * 86400))
        gaps.append(within)
        if length >= 100:  # marathons loop over a short playlist of favourites
            playlist = rng.choice(favourites, size=int(rng.integers(5, 25)), replace=False)
            tracks.append(playlist[np.arange(length) % len(playlist)])
        else:
            tracks.append(draw(length))
    return np.cumsum(_fit_in_span(gaps)), np.concatenate(tracks)


def _fit_in_span(gaps: list[np.ndarray]) -> np.ndarray:
    """The gaps of all sessions, one array; when they would run past END (a heavy listener's
    day-long pauses add up to decades), the pauses between sessions shrink by one factor, so
    that they still split sessions (> GAP_SECONDS) and the last play is by END."""
    seconds = np.concatenate(gaps)
    starts = np.cumsum([0] + [len(g) for g in gaps[:-1]])
    pauses = seconds[starts] - np.where(starts > 0, GAP_SECONDS + 1, 0)
    overflow = int(seconds.sum()) - int((END - START) / np.timedelta64(1, "s"))
    if overflow > 0 and pauses.sum() > 0:
        seconds[starts] -= np.ceil(pauses * min(1.0, overflow / pauses.sum())).astype(seconds.dtype)
    return seconds


def _plays_per_user(rng: np.random.Generator, rows: int, users: int) -> np.ndarray:
    weight = rng.lognormal(mean=0.0, sigma=1.2, size=users)
    counts = np.maximum(1, np.floor(weight / weight.sum() * rows)).astype(int)
    counts[np.argmax(counts)] += rows - counts.sum()  # exact total; the heaviest absorbs rounding
    return counts


def users_for(rows: int) -> int:
    """1000 users up to the real file's size, then one more per PLAYS_PER_USER plays."""
    return max(1000, math.ceil(rows / PLAYS_PER_USER))


MALFORMED = (
    "user_000000\t2009-05-04T23:08:57Z\tonly four fields",
    "\t2009-05-04T23:08:57Z\t\tNo User\t\tNo Track",
    "user_000000\t2009-13-45T99:99:99Z\t\tBad Time\t\tBad Time",
    "user_000000\tyesterday\t\tBad Time\t\tBad Time",
)


def write_sample(path: Path, rows: int = 1_000_000, users: int | None = None, seed: int = 1,
                 malformed_every: int = 100_000) -> Path:
    """Write about `rows` play lines (+ one malformed line per `malformed_every`) by `users`
    users (default `users_for(rows)`) to `path`."""
    users = users or users_for(rows)
    rng = np.random.default_rng(seed)
    catalog = make_catalog(rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    written = 0
    # every line ends with one of the catalog's tracks: format those tails once, not per line
    tails = [
        f"Z\t{a_id}\t{a_name}\t{t_id}\t{t_name}\n"
        for a_id, a_name, t_id, t_name in zip(catalog.artist_id, catalog.artist_name, catalog.track_id,
                                              catalog.track_name)
    ]
    with open(partial, "w", encoding="utf-8", newline="\n") as out:
        for user, plays in enumerate(_plays_per_user(rng, rows, users), start=1):
            seconds, tracks = _user_plays(rng, catalog, int(plays))
            stamps = np.datetime_as_string(START + seconds[::-1], unit="s").tolist()
            tracks = tracks[::-1].tolist()  # newest first, like the real file
            prefix = f"user_{user:06d}\t"
            lines = [prefix + stamp + tails[track] for stamp, track in zip(stamps, tracks)]
            due = range(written // malformed_every, (written + len(lines)) // malformed_every)
            out.writelines(MALFORMED[k % len(MALFORMED)] + "\n" for k in due)
            out.writelines(lines)
            written += len(lines)
    partial.replace(path)
    return path


def land(landing: Path, day: str, lines: list[str]) -> Path:
    """A day's file lands in a landing folder, one folder a day (`day=<day>/<day>.tsv`), as the
    daily runs' tests and benchmark deliver them."""
    target = landing / f"day={day}" / f"{day}.tsv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return target
