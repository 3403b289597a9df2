"""spark-submit entrypoint: compact and vacuum the warehouse's Delta tables (table maintenance).

    spark-submit jobs/maintain.py --warehouse DIR [--retention-hours 168] [--allow-short-retention]

The arguments (`--help`), what it prints and its exit codes: lastfm/commands/maintain.py.
"""

import sys

from lastfm.commands.maintain import main

if __name__ == "__main__":
    sys.exit(main())
