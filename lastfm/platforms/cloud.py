"""Submitting the job to Amazon EMR (a step on a running cluster, or EMR Serverless) and Google
Cloud Dataproc, with the settings of conf/<target>.conf.

AWS calls go through boto3 clients the caller builds, so credentials, region and endpoint come
from the standard provider chain and environment (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL...),
never from code or conf/.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from lastfm.platforms.targets import PY_FILES, conf_flags, py_files

STEP_DONE = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
JOB_RUN_DONE = ("SUCCESS", "FAILED", "CANCELLED")
SUCCEEDED = ("COMPLETED", "SUCCESS")


@dataclass(frozen=True)
class Bundle:
    """Where the uploaded package zip, entrypoint and settings live."""

    package_uri: str
    entrypoint_uri: str
    conf_uri: str


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("s3", "s3a", "gs") or not parsed.netloc:
        raise ValueError(f"not an object store URI: {uri!r}")
    return parsed.netloc, parsed.path.strip("/")


def join_uri(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def format_properties(properties: dict[str, str]) -> str:
    """The spark-defaults text of `properties`, one `key value` per line."""
    return "".join(f"{key} {value}\n" for key, value in properties.items())


def upload_bundle(s3, base_uri: str, package: Path, entrypoint: Path, properties: dict[str, str],
                  conf_name: str = "spark.conf") -> Bundle:
    """Upload the zip, the entrypoint and the merged settings under `base_uri` (s3://bucket/prefix)."""
    bucket, prefix = split_uri(base_uri)
    key = lambda name: f"{prefix}/{name}" if prefix else name  # noqa: E731
    s3.upload_file(str(package), bucket, key(Path(package).name))
    s3.upload_file(str(entrypoint), bucket, key(Path(entrypoint).name))
    s3.put_object(Bucket=bucket, Key=key(conf_name), Body=format_properties(properties).encode())
    base = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return Bundle(join_uri(base, Path(package).name), join_uri(base, Path(entrypoint).name), join_uri(base, conf_name))


def spark_submit_args(bundle: Bundle, properties: dict[str, str], job_args: list[str]) -> list[str]:
    """The spark-submit arguments (without the command itself) for a YARN cluster-mode run."""
    return [
        "--deploy-mode", "cluster",
        *conf_flags(properties),
        "--py-files", ",".join(py_files(bundle.package_uri, properties)),
        bundle.entrypoint_uri, *job_args,
    ]


def emr_step(name: str, bundle: Bundle, properties: dict[str, str], job_args: list[str]) -> dict:
    """An EMR step running spark-submit through command-runner.jar."""
    return {
        "Name": name,
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar",
                          "Args": ["spark-submit", *spark_submit_args(bundle, properties, job_args)]},
    }


def serverless_job_driver(bundle: Bundle, properties: dict[str, str], job_args: list[str]) -> dict:
    """The `jobDriver` of an EMR Serverless start_job_run.

    sparkSubmitParameters is one space-separated string, so no value may hold whitespace.
    """
    flags = [*conf_flags(properties), "--py-files", ",".join(py_files(bundle.package_uri, properties))]
    spaced = [flag for flag in flags if any(c.isspace() for c in flag)]
    if spaced:
        raise ValueError(f"EMR Serverless cannot pass values with whitespace: {spaced}")
    return {"sparkSubmit": {"entryPoint": bundle.entrypoint_uri, "entryPointArguments": list(job_args),
                            "sparkSubmitParameters": " ".join(flags)}}


def add_step(emr, cluster_id: str, step: dict) -> str:
    return emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[step])["StepIds"][0]


def start_job_run(serverless, application_id: str, role_arn: str, name: str, job_driver: dict,
                  log_uri: str | None = None) -> str:
    request = {"applicationId": application_id, "executionRoleArn": role_arn, "name": name, "jobDriver": job_driver}
    if log_uri:
        request["configurationOverrides"] = {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": log_uri}}}
    return serverless.start_job_run(**request)["jobRunId"]


def wait(poll: Callable[[], tuple[str, str]], done: tuple[str, ...], report: Callable[[str], None],
         poll_seconds: float, timeout: float) -> str:
    """Call `poll` -> (state, detail) until the state is in `done`; report each change; return it."""
    deadline = time.monotonic() + timeout
    start = time.monotonic()
    last = None
    while True:
        state, detail = poll()
        if state != last:
            report(f"[{time.monotonic() - start:6.0f} s] {state}{': ' + detail if detail else ''}")
            last = state
        if state in done:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {state} after {timeout:.0f} s")
        time.sleep(poll_seconds)


def step_state(emr, cluster_id: str, step_id: str) -> Callable[[], tuple[str, str]]:
    def poll():
        status = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]
        reason = (status.get("FailureDetails", {}).get("Reason")
                  or status.get("StateChangeReason", {}).get("Message", ""))
        return status["State"], reason or ""

    return poll


def job_run_state(serverless, application_id: str, job_run_id: str) -> Callable[[], tuple[str, str]]:
    def poll():
        run = serverless.get_job_run(applicationId=application_id, jobRunId=job_run_id)["jobRun"]
        return run["state"], run.get("stateDetails") or ""

    return poll


def job_output(job_args: list[str]) -> str | None:
    """The --output value among the job's arguments (where the deliverable will be)."""
    for i, arg in enumerate(job_args):
        if arg == "--output" and i + 1 < len(job_args):
            return job_args[i + 1]
        if arg.startswith("--output="):
            return arg.split("=", 1)[1]
    return None


def gcs_upload_command(package: Path, entrypoint: Path, base_uri: str) -> list[str]:
    split_uri(base_uri)  # validate
    return ["gcloud", "storage", "cp", str(package), str(entrypoint), base_uri.rstrip("/") + "/"]


def _gcloud_pyspark_flags(base_uri: str, package: Path, properties: dict[str, str]) -> list[str]:
    """`--py-files` and `--properties` of a gcloud pyspark job or batch for the bundle at `base_uri`."""
    others = {k: v for k, v in properties.items() if k != PY_FILES}
    # gcloud splits --properties on commas unless another delimiter is declared as ^D^
    delimiter = "#" if any("," in v for v in others.values()) else ","
    listed = delimiter.join(f"{k}={v}" for k, v in others.items())
    flags = [f"--py-files={','.join(py_files(join_uri(base_uri, Path(package).name), properties))}"]
    if listed:
        flags.append(f"--properties={'^#^' if delimiter == '#' else ''}{listed}")
    return flags


def dataproc_command(cluster: str, region: str, base_uri: str, package: Path, entrypoint: Path,
                     properties: dict[str, str], job_args: list[str]) -> list[str]:
    """`gcloud dataproc jobs submit pyspark` for the bundle uploaded to `base_uri` (gs://...)."""
    return ["gcloud", "dataproc", "jobs", "submit", "pyspark", join_uri(base_uri, Path(entrypoint).name),
            f"--cluster={cluster}", f"--region={region}", *_gcloud_pyspark_flags(base_uri, package, properties),
            "--", *job_args]


def dataproc_batch_command(runtime: str, region: str, base_uri: str, package: Path, entrypoint: Path,
                           properties: dict[str, str], job_args: list[str]) -> list[str]:
    """`gcloud dataproc batches submit pyspark` (Dataproc Serverless, runtime `runtime`, e.g. 3.0)
    for the bundle uploaded to `base_uri` (gs://...)."""
    return ["gcloud", "dataproc", "batches", "submit", "pyspark", join_uri(base_uri, Path(entrypoint).name),
            f"--version={runtime}", f"--region={region}", *_gcloud_pyspark_flags(base_uri, package, properties),
            "--", *job_args]


def shell_line(command: list[str]) -> str:
    return shlex.join(command)
