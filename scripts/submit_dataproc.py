"""Submit the job to Google Cloud Dataproc with `gcloud`: a job on a cluster (images 2.2 / 2.3,
--platform dataproc-2) or a Dataproc Serverless batch (runtime 3.0, --platform
dataproc-serverless-3.0), with conf/spark-defaults.conf + conf/<platform>.conf.

    submit_dataproc.py [--platform dataproc-2] --cluster NAME --region REGION --code-uri gs://BUCKET/lastfm/code \
        [--dry-run] -- --input gs://... --output gs://.../top.tsv --warehouse gs://...
    submit_dataproc.py --platform dataproc-serverless-3.0 --region REGION --code-uri gs://BUCKET/lastfm/code -- ...

Copies dist/lastfm.zip and jobs/top_tracks.py to --code-uri (`gcloud storage cp`), then runs
`gcloud dataproc jobs submit pyspark` (or `batches submit pyspark`), which waits and streams the
driver's output. --dry-run prints both commands instead of running them. Credentials: gcloud's
own (`gcloud auth login`).
"""

import argparse
import subprocess
import sys
from pathlib import Path

from lastfm.platforms.cloud import dataproc_batch_command, dataproc_command, gcs_upload_command, shell_line
from lastfm.platforms.targets import PLATFORMS, target_properties

REPO = Path(__file__).resolve().parent.parent
DATAPROC_PLATFORMS = tuple(p for p in PLATFORMS if p.startswith("dataproc-"))
SERVERLESS = "dataproc-serverless-"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--platform", choices=DATAPROC_PLATFORMS, default=DATAPROC_PLATFORMS[0],
                        help="a cluster's image line, or a Serverless runtime (conf/<platform>.conf)")
    parser.add_argument("--cluster", help="the cluster (not with a Serverless platform)")
    parser.add_argument("--region", required=True)
    parser.add_argument("--code-uri", required=True, help="gs:// prefix to copy the code to")
    parser.add_argument("--package", type=Path, default=REPO / "dist" / "lastfm.zip")
    parser.add_argument("--entrypoint", type=Path, default=REPO / "jobs" / "top_tracks.py")
    parser.add_argument("--conf-dir", type=Path, default=REPO / "conf")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("job_args", nargs="*", help="after --: the job's own arguments")
    args = parser.parse_args(argv)
    serverless = args.platform.startswith(SERVERLESS)
    if serverless == bool(args.cluster):
        parser.error(f"--cluster is {'not ' if serverless else ''}for --platform {args.platform}")
    properties = target_properties(args.conf_dir, args.platform)
    bundle = (args.code_uri, args.package, args.entrypoint, properties, args.job_args)
    submit = (dataproc_batch_command(args.platform.removeprefix(SERVERLESS), args.region, *bundle) if serverless
              else dataproc_command(args.cluster, args.region, *bundle))
    for command in (gcs_upload_command(args.package, args.entrypoint, args.code_uri), submit):
        print(shell_line(command), flush=True)
        if not args.dry_run:
            result = subprocess.run(command)
            if result.returncode != 0:
                return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
