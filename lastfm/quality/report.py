"""report.html: four pictures of a run, drawn with matplotlib from small aggregated tables.

Inputs are plain Python values already aggregated by Spark (a histogram, 24 hourly counts,
the top songs, the top sessions), never row-level data: all of them are in the run's
run_summary.json and profile.json, so `render_run` draws the same page during the run or
later, anywhere (scripts/render_report.py). The page is self-contained: every image is a
base64 PNG inside the HTML, so it can be mailed or opened offline.

matplotlib is the one package the job uses beyond PySpark and Delta, and only here: it is
imported when a page is drawn, so a driver without it (a managed platform's bare Python) runs
everything else: `render_run` raises ModuleNotFoundError, and `draw_report`, the run's call,
logs REPORT_SKIPPED and returns None.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from datetime import datetime, timezone

from lastfm.summary import ISO, RunSummary

log = logging.getLogger(__name__)

FIGSIZE = (9, 4.5)
# Fonts with Chinese, Japanese and Korean glyphs, by family name, in order of preference: the real
# file names many CJK artists and songs, and matplotlib's own DejaVu Sans draws them as empty
# boxes. `make setup` installs Debian's fonts-wqy-microhei (`make fonts`).
CJK_FAMILIES = ("Noto Sans CJK JP", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on a driver or CI
    import matplotlib.pyplot as plt

    # a glyph DejaVu Sans lacks is taken from the next family that has it (matplotlib >= 3.6)
    plt.rcParams["font.family"] = ["DejaVu Sans", *_cjk_families()]
    return plt


def _cjk_families() -> list[str]:
    """The CJK_FAMILIES matplotlib knows."""
    from matplotlib import font_manager

    known = {font.name for font in font_manager.fontManager.ttflist}
    return [family for family in CJK_FAMILIES if family in known]


def refresh_fonts() -> list[str]:
    """The CJK families matplotlib knows, after listing the system's fonts again when it knows
    none: it lists them once per user and caches the list, so a font installed later goes unseen.
    Run by `make fonts`."""
    from matplotlib import font_manager

    if not _cjk_families():
        # matplotlib's own rebuild (what it does when the cache is missing), which rewrites the cache
        font_manager.fontManager = font_manager._load_fontmanager(try_read_cache=False)
    return _cjk_families()


def _png(figure) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def session_length_figure(histogram: list[tuple[int, int]]) -> str:
    """Log-log scatter: session length in plays -> number of sessions of that length."""
    figure, axes = _pyplot().subplots(figsize=FIGSIZE)
    axes.scatter([length for length, _ in histogram], [n for _, n in histogram], s=8, color="#1f77b4")
    axes.set(xscale="log", yscale="log", xlabel="session length (plays)", ylabel="sessions",
             title="Distribution of session lengths (log-log)")
    axes.grid(True, which="both", alpha=0.3)
    return _png(figure)


def hour_of_day_figure(plays_by_hour: list[int]) -> str:
    figure, axes = _pyplot().subplots(figsize=FIGSIZE)
    axes.bar(range(24), plays_by_hour, color="#2ca02c")
    axes.set(xticks=range(24), xlabel="hour of day (UTC)", ylabel="plays", title="Plays by hour of day (UTC)")
    return _png(figure)


def top_songs_figure(top_tracks: list[dict]) -> str:
    """Horizontal bars, best at the top, labelled `artist - track`."""
    figure, axes = _pyplot().subplots(figsize=FIGSIZE)
    labels = [f"{r['artist_name']} - {r['track_name']}" for r in top_tracks][::-1]
    counts = [r["play_count"] for r in top_tracks][::-1]
    axes.barh(range(len(counts)), counts, color="#d62728")
    axes.set_yticks(range(len(counts)), labels, parse_math=False)  # names are data: `$_$` stays `$_$`
    axes.set(xlabel="plays in the top sessions", title=f"Top {len(counts)} songs in the longest sessions")
    return _png(figure)


def sessions_timeline_figure(top_sessions: list[dict]) -> str:
    """One row per user; each top session a bar from its first to its last play (widened to be
    visible at this scale), its marker sized by its number of plays."""
    import matplotlib.dates as mdates

    users = sorted({s["user_id"] for s in top_sessions})
    row = {user: i for i, user in enumerate(users)}
    figure, axes = _pyplot().subplots(figsize=(FIGSIZE[0], max(2.5, 0.35 * len(users) + 1.5)))
    for s in top_sessions:
        start, end = mdates.date2num(s["session_start"]), mdates.date2num(s["session_end"])
        axes.plot([start, max(end, start + 2)], [row[s["user_id"]]] * 2, color="#9467bd", linewidth=4, alpha=0.6)
        axes.scatter([start], [row[s["user_id"]]], s=10 + s["play_count"] / 10, color="#9467bd", zorder=3)
    axes.set_yticks(range(len(users)), users, parse_math=False)
    axes.xaxis_date()
    axes.set(xlabel="time (UTC)", title=f"Timeline of the top {len(top_sessions)} sessions, by user")
    axes.grid(True, axis="x", alpha=0.3)
    return _png(figure)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}}
img{{max-width:100%;display:block;margin:0.5em 0 2em}}td,th{{padding:0.15em 0.8em;text-align:left}}</style>
</head><body>
<h1>{title}</h1>
<p>{subtitle}</p>
<table>{facts}</table>
{figures}
</body></html>
"""


def render(profile: dict, histogram: list[tuple[int, int]], top_tracks: list[dict], top_sessions: list[dict],
           input_name: str, generated: datetime) -> str:
    """The whole page as one HTML string."""
    figures = [
        ("session-lengths", "Session lengths", session_length_figure(histogram)),
        ("plays-by-hour", "Plays by hour of day", hour_of_day_figure(profile["plays_by_hour_utc"])),
        ("top-songs", "Top songs", top_songs_figure(top_tracks)),
        ("sessions-timeline", "Top sessions", sessions_timeline_figure(top_sessions)),
    ]
    rows = profile["rows"]
    facts = {
        "rows read / valid / rejected": f"{rows['read']:,} / {rows['valid']:,} / {rows['rejected']:,}",
        "users": f"{profile['users']:,}",
        "time range (UTC)": f"{profile['time_range']['first']} .. {profile['time_range']['last']}",
        "sessions": f"{profile['sessions']['count']:,}",
        "longest session (plays)": f"{profile['sessions']['length_plays']['max']:,}",
    }
    esc = html.escape
    return PAGE.format(
        title="Last.fm top tracks: run report",
        subtitle=esc(f"input {input_name}, generated {generated:%Y-%m-%d %H:%M} UTC"),
        facts="".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts.items()),
        figures="\n".join(
            f'<h2>{esc(title)}</h2>\n<img id="{key}" alt="{esc(title)}" src="data:image/png;base64,{data}">'
            for key, title, data in figures
        ),
    )


def _instant(iso: str) -> datetime:
    return datetime.strptime(iso, ISO).replace(tzinfo=timezone.utc)


def render_run(summary: RunSummary, profile: dict) -> str:
    """The page of one run from its run summary and profile.json, as parsed JSON."""
    top_sessions = [{**s, "session_start": _instant(s["session_start"]), "session_end": _instant(s["session_end"])}
                    for s in summary.top_sessions]
    histogram = [(length, sessions) for length, sessions in summary.session_length_histogram]
    return render(profile, histogram, summary.top_tracks, top_sessions, summary.input, _instant(summary.run_at))


def draw_report(summary: RunSummary, profile: dict) -> str | None:
    """report.html's page, drawn from what run_summary.json and profile.json hold; None, with the
    reason logged, where the driver has no matplotlib."""
    try:
        return render_run(summary, profile)
    except ModuleNotFoundError as missing:
        if missing.name != "matplotlib":
            raise
        log.warning("%s", REPORT_SKIPPED)
        return None


REPORT_SKIPPED = ("report.html not drawn: matplotlib is not installed on the driver; every other file is written, "
                  "and `python scripts/render_report.py <folder of run_summary.json and profile.json>` draws it later")
