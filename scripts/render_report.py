"""Draw report.html for a finished run from the files it wrote (run_summary.json, profile.json).

    render_report.py FOLDER [--output FILE]

For a run whose driver had no matplotlib (its run summary says `report_skipped`): copy the two
files from beside its deliverable to any machine with matplotlib (`pip install
'lastfm-top-tracks[report]'` or the project's venv) and run this on their folder. Writes
FOLDER/report.html unless --output says otherwise: the same page the run would have drawn.
"""

import argparse
import json
import sys
from pathlib import Path

from lastfm.quality.report import render_run
from lastfm.summary import RunSummary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="holds run_summary.json and profile.json")
    parser.add_argument("--output", type=Path, help="default: FOLDER/report.html")
    args = parser.parse_args(argv)
    try:
        summary, profile = (json.loads((args.folder / name).read_text(encoding="utf-8"))
                            for name in ("run_summary.json", "profile.json"))
        page = render_run(RunSummary.from_json(summary), profile)
    except (OSError, ValueError, KeyError, TypeError, ModuleNotFoundError) as error:
        print(f"error: cannot draw the report from {args.folder}: {error!r}", file=sys.stderr)
        return 1
    output = args.output or args.folder / "report.html"
    output.write_text(page, encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
