"""spark-submit entrypoint: the top songs in the longest Last.fm listening sessions.

    spark-submit jobs/top_tracks.py --input PATH --output FILE.tsv --warehouse DIR [OPTIONS]

The arguments (`--help`), what it prints and its exit codes: lastfm/commands/top_tracks.py.
"""

import sys

from lastfm.commands.top_tracks import main

if __name__ == "__main__":
    sys.exit(main())
