"""report.html: self-contained, four PNG figures; and (slow) rendered by headless Chromium."""

import base64
import json
import re
import shutil
import subprocess
import warnings
from datetime import datetime

import pytest

from lastfm.quality import report
from lastfm.quality.report import render, render_run
from lastfm.summary import RunSummary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

PROFILE = {
    "rows": {"read": 12, "valid": 10, "rejected": 2},
    "users": 2,
    "time_range": {"first": "2009-01-01T10:00:00Z", "last": "2009-01-02T23:30:00Z"},
    "plays_by_hour_utc": [0] * 10 + [7, 0, 1] + [0] * 10 + [2],
    "sessions": {"count": 4, "length_plays": {"max": 6}},
}
HISTOGRAM = [(1, 2), (3, 1), (6, 1)]
TOP_TRACKS = [{"artist_name": "Cake", "track_name": "Jolene", "play_count": 6},
              {"artist_name": "Johnny \"Hammond\" Smith", "track_name": "<Ain't> & so", "play_count": 3}]
TOP_SESSIONS = [
    {"user_id": "u1", "session_start": datetime(2009, 1, 1, 10), "session_end": datetime(2009, 1, 1, 11),
     "play_count": 6},
    {"user_id": "u2", "session_start": datetime(2009, 1, 2, 23, 30), "session_end": datetime(2009, 1, 2, 23, 30),
     "play_count": 3},
]


def page() -> str:
    return render(PROFILE, HISTOGRAM, TOP_TRACKS, TOP_SESSIONS, "data/in.tsv", datetime(2026, 1, 1, 12, 0))


def test_report_is_self_contained_with_four_png_images():
    html = page()
    sources = re.findall(r'<img id="([a-z-]+)" alt="[^"]*" src="([^"]*)"', html)
    assert [key for key, _ in sources] == ["session-lengths", "plays-by-hour", "top-songs", "sessions-timeline"]
    for _, src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    assert "12 / 10 / 2" in html and "2009-01-01T10:00:00Z .. 2009-01-02T23:30:00Z" in html


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Appended to the page: after load, write each image's natural size into the DOM that
# --dump-dom prints; a broken image has naturalWidth 0.
PROBE = """<script>window.addEventListener("load", () => {
  const sizes = [...document.images].map(i => `${i.id}:${i.complete && i.naturalWidth > 0 ? i.naturalWidth : 0}`);
  const out = document.createElement("pre"); out.id = "probe"; out.textContent = sizes.join(" ");
  document.body.appendChild(out);
});</script>"""


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: run `make browser`"
    report = tmp_path / "report.html"
    report.write_text(page().replace("</body>", PROBE + "</body>"), encoding="utf-8")
    run = lambda *extra: subprocess.run(  # noqa: E731
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, report.as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = run("--virtual-time-budget=5000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    probe = re.search(r'<pre id="probe">([^<]*)</pre>', dom.stdout)
    assert probe, dom.stdout[-2000:]
    sizes = dict(item.split(":") for item in probe.group(1).split())
    assert sorted(sizes) == sorted(["session-lengths", "plays-by-hour", "top-songs", "sessions-timeline"])
    assert all(int(width) > 100 for width in sizes.values()), sizes
    shot = tmp_path / "shot.png"
    screenshot = run(f"--screenshot={shot}", "--window-size=1000,1400")
    assert screenshot.returncode == 0 and shot.read_bytes().startswith(PNG_MAGIC), screenshot.stderr[-2000:]


def test_render_run_draws_the_page_from_the_json_files_of_a_run(tmp_path):
    # what scripts/render_report.py reads: run_summary.json and profile.json, times as UTC ISO text
    summary = {"input": "data/in.tsv", "run_at": "2026-01-01T12:00:00Z", "top_tracks": TOP_TRACKS,
               "session_length_histogram": [list(pair) for pair in HISTOGRAM],
               "top_sessions": [{"user_id": "u1", "session_start": "2009-01-01T10:00:00Z",
                                 "session_end": "2009-01-01T11:00:00Z", "play_count": 6}]}
    html = render_run(RunSummary.from_json(json.loads(json.dumps(summary))), json.loads(json.dumps(PROFILE)))
    assert html.count('src="data:image/png;base64,') == 4
    assert "input data/in.tsv, generated 2026-01-01 12:00 UTC" in html


def test_names_that_look_like_math_text_are_drawn_verbatim():
    # matplotlib reads `$...$` as math text: `$_$` and `$\foo$` raised ValueError before
    songs = [{"artist_name": "$_$", "track_name": r"$\foo$", "play_count": 3},
             {"artist_name": "Ke$ha", "track_name": "$$$", "play_count": 2}]
    sessions = [dict(TOP_SESSIONS[0], user_id="$u_1$")]
    html = render(PROFILE, HISTOGRAM, songs, sessions, "in.tsv", datetime(2026, 1, 1))
    assert html.count('src="data:image/png;base64,') == 4


def test_cjk_names_are_drawn_with_their_own_glyphs():
    # the real file's Japanese, Korean and Chinese names; without a CJK font (`make fonts`)
    # matplotlib warns of each missing glyph and draws an empty box
    names = [("椎名林檎", "丸の内サディスティック", 3), ("방탄소년단", "봄날", 2), ("王菲", "红豆", 1)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report.top_songs_figure([{"artist_name": a, "track_name": t, "play_count": n} for a, t, n in names])
    assert not [str(w.message) for w in caught if "missing from font" in str(w.message)]
