"""Download the Last.fm 1K dataset, verify its MD5s, extract the two TSVs, optionally upload to S3.

    python scripts/fetch_dataset.py [--url URL] [--dest data/real] [--keep-archive] \
        [--upload s3://bucket/prefix] [--expect NAME=MD5 ...]

Safe to run again: verified files are kept, a cut download resumes. Exit 1 with one line on
stderr on any failure (network, checksum, truncated archive, full disk, upload).
"""

import argparse
import os
import sys
from pathlib import Path

from lastfm.platforms.dataset import EXPECTED_MD5, OFFICIAL_URL, FetchError, fetch, upload


def _expectation(text: str) -> tuple[str, str]:
    name, sep, md5 = text.partition("=")
    if not sep or len(md5) != 32:
        raise argparse.ArgumentTypeError(f"want NAME=MD5, got {text}")
    return name, md5.lower()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("LASTFM_1K_URL", OFFICIAL_URL),
                        help="archive URL (default: $LASTFM_1K_URL or the official one)")
    parser.add_argument("--dest", type=Path, default=Path("data/real"), help="folder for the TSVs")
    parser.add_argument("--keep-archive", action="store_true", help="keep the .tar.gz after extraction")
    parser.add_argument("--upload", metavar="S3_URI", help="also put the TSVs under s3://bucket/prefix")
    parser.add_argument("--expect", type=_expectation, action="append", metavar="NAME=MD5",
                        help="files to extract and their MD5s (default: the two official TSVs)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    expected = dict(args.expect) if args.expect else EXPECTED_MD5
    try:
        files = fetch(args.url, args.dest, expected, keep_archive=args.keep_archive, progress=not args.no_progress)
        for path in files.values():
            print(f"verified {path}")
        if args.upload:
            for uri in upload(list(files.values()), args.upload, progress=not args.no_progress):
                print(f"uploaded {uri}")
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
