"""Zip the `lastfm` package for spark-submit --py-files (see lastfm.platforms.cluster.build_zip)."""

import argparse
from pathlib import Path

from lastfm.platforms.cluster import build_zip

PACKAGE = Path(__file__).resolve().parent.parent / "lastfm"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("dist/lastfm.zip"))
    args = parser.parse_args(argv)
    names = build_zip(PACKAGE, args.output)
    print(f"wrote {args.output} ({len(names)} modules)")


if __name__ == "__main__":
    main()
