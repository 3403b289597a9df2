"""Submit the job to Amazon EMR: a step on a running cluster, or an EMR Serverless job run.

    submit_emr.py [--platform emr-7] --code-uri s3://BUCKET/lastfm/code --cluster-id j-XXXX \
        -- --input ... --output ... --warehouse ...
    submit_emr.py [--platform emr-8] --code-uri s3://BUCKET/lastfm/code --application-id APP --role-arn ARN \
        [--log-uri s3://...] -- ...

--platform is the cluster's or application's EMR release line: emr-7 (Spark 3.5, Delta 3.x) or
emr-8 (Spark 4.0, Delta 4.0). Uploads dist/lastfm.zip, jobs/top_tracks.py and the merged conf
(conf/spark-defaults.conf + conf/<platform>.conf) under --code-uri, submits, then polls until the
run ends, printing each state change, the final state and where the output is. Exit 0 only when
the run succeeded.
Credentials, region and endpoint: the standard AWS environment / profile (boto3's chain).
"""

import argparse
import sys
from pathlib import Path

import boto3

from lastfm.platforms.cloud import (
    JOB_RUN_DONE,
    STEP_DONE,
    SUCCEEDED,
    add_step,
    emr_step,
    job_output,
    job_run_state,
    serverless_job_driver,
    start_job_run,
    step_state,
    upload_bundle,
    wait,
)
from lastfm.platforms.targets import PLATFORMS, target_properties

REPO = Path(__file__).resolve().parent.parent
EMR_PLATFORMS = tuple(p for p in PLATFORMS if p.startswith("emr-"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--platform", choices=EMR_PLATFORMS, default=EMR_PLATFORMS[0],
                        help="the EMR release line of the cluster or application (conf/<platform>.conf)")
    parser.add_argument("--code-uri", required=True, help="s3:// prefix to upload the code and conf to")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--cluster-id", help="a running EMR on EC2 cluster (adds a step)")
    where.add_argument("--application-id", help="an EMR Serverless application (starts a job run)")
    parser.add_argument("--role-arn", help="EMR Serverless execution role")
    parser.add_argument("--log-uri", help="EMR Serverless: s3:// prefix for driver/executor logs")
    parser.add_argument("--name", default="lastfm-top-tracks")
    parser.add_argument("--package", type=Path, default=REPO / "dist" / "lastfm.zip")
    parser.add_argument("--entrypoint", type=Path, default=REPO / "jobs" / "top_tracks.py")
    parser.add_argument("--conf-dir", type=Path, default=REPO / "conf")
    parser.add_argument("--poll-seconds", type=float, default=30)
    parser.add_argument("--timeout-seconds", type=float, default=6 * 3600)
    parser.add_argument("job_args", nargs="*", help="after --: the job's own arguments")
    args = parser.parse_args(argv)
    if args.application_id and not args.role_arn:
        parser.error("--application-id needs --role-arn")
    if not args.package.exists():
        parser.error(f"{args.package} not found: run `make package`")

    properties = target_properties(args.conf_dir, args.platform)
    bundle = upload_bundle(boto3.client("s3"), args.code_uri, args.package, args.entrypoint, properties,
                           conf_name=f"{args.platform}.conf")
    print(f"uploaded {bundle.package_uri}, {bundle.entrypoint_uri}, {bundle.conf_uri}", flush=True)
    report = lambda line: print(line, flush=True)  # noqa: E731
    if args.cluster_id:
        emr = boto3.client("emr")
        step_id = add_step(emr, args.cluster_id, emr_step(args.name, bundle, properties, args.job_args))
        print(f"added step {step_id} to cluster {args.cluster_id}", flush=True)
        state = wait(step_state(emr, args.cluster_id, step_id), STEP_DONE, report, args.poll_seconds,
                     args.timeout_seconds)
    else:
        serverless = boto3.client("emr-serverless")
        driver = serverless_job_driver(bundle, properties, args.job_args)
        run_id = start_job_run(serverless, args.application_id, args.role_arn, args.name, driver, args.log_uri)
        print(f"started job run {run_id} on application {args.application_id}", flush=True)
        state = wait(job_run_state(serverless, args.application_id, run_id), JOB_RUN_DONE, report,
                     args.poll_seconds, args.timeout_seconds)
    print(f"final state: {state}")
    if state in SUCCEEDED:
        print(f"output: {job_output(args.job_args)}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
