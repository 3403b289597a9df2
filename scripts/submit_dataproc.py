"""Submit the job to a Google Cloud Dataproc cluster with `gcloud` (conf/spark-defaults.conf +
conf/dataproc.conf).

    submit_dataproc.py --cluster NAME --region REGION --code-uri gs://BUCKET/lastfm/code [--dry-run] \
        -- --input gs://... --output gs://.../top.tsv --warehouse gs://...

Copies dist/lastfm.zip and jobs/top_tracks.py to --code-uri (`gcloud storage cp`), then runs
`gcloud dataproc jobs submit pyspark`, which waits and streams the driver's output. --dry-run
prints both commands instead of running them. Credentials: gcloud's own (`gcloud auth login`).
"""

import argparse
import subprocess
import sys
from pathlib import Path

from lastfm.cloud import dataproc_command, gcs_upload_command, shell_line
from lastfm.targets import target_properties

REPO = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--code-uri", required=True, help="gs:// prefix to copy the code to")
    parser.add_argument("--package", type=Path, default=REPO / "dist" / "lastfm.zip")
    parser.add_argument("--entrypoint", type=Path, default=REPO / "jobs" / "top_tracks.py")
    parser.add_argument("--conf-dir", type=Path, default=REPO / "conf")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("job_args", nargs="*", help="after --: the job's own arguments")
    args = parser.parse_args(argv)
    properties = target_properties(args.conf_dir, "dataproc")
    commands = [
        gcs_upload_command(args.package, args.entrypoint, args.code_uri),
        dataproc_command(args.cluster, args.region, args.code_uri, args.package, args.entrypoint,
                         properties, args.job_args),
    ]
    for command in commands:
        print(shell_line(command), flush=True)
        if not args.dry_run:
            result = subprocess.run(command)
            if result.returncode != 0:
                return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
