"""Write a deterministic sample input shaped like the Last.fm 1K file (see lastfm/testing/sample_data.py)."""

import argparse
from pathlib import Path

from lastfm.testing.sample_data import write_sample


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, help="default: 1000, more above the real file's 19.15M rows")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    write_sample(args.output, rows=args.rows, users=args.users, seed=args.seed)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
