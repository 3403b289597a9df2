"""EMR (step and Serverless) submission end to end against moto's server on loopback, and the
Dataproc command in dry-run mode. Expected requests are written out by hand."""

import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest
from moto.backends import get_backend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer

from lastfm.platforms.cloud import Bundle, dataproc_command, job_output, serverless_job_driver, split_uri
from lastfm.platforms.cluster import build_zip

REPO = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
JOB_ARGS = ["--input", "s3://data/in/", "--output", "s3://data/out/top.tsv", "--warehouse", "s3://data/wh"]
SPARK_DEFAULTS = "# shared\nspark.sql.session.timeZone   UTC\nspark.sql.adaptive.enabled\ttrue\n"
EMR_CONF = (
    "# emr\n"
    "spark.jars   /usr/share/aws/delta/lib/delta-spark.jar,/usr/share/aws/delta/lib/delta-storage.jar\n"
    "spark.submit.pyFiles local:///usr/share/aws/delta/lib/delta-spark.jar\n"
)
CONF_FLAGS = [
    "--conf", "spark.sql.session.timeZone=UTC",
    "--conf", "spark.sql.adaptive.enabled=true",
    "--conf", "spark.jars=/usr/share/aws/delta/lib/delta-spark.jar,/usr/share/aws/delta/lib/delta-storage.jar",
]
PY_FILES = "s3://code-bucket/lastfm/v1/lastfm.zip,local:///usr/share/aws/delta/lib/delta-spark.jar"
# --platform emr-8 reads conf/emr-8.conf: here the same plus one setting, to tell them apart
EMR_8_CONF = EMR_CONF + "spark.sql.shuffle.partitions 64\n"


@pytest.fixture(scope="module")
def aws():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "moto",
           "AWS_SECRET_ACCESS_KEY": "moto", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
    clients = {name: boto3.client(name, endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION,
                                  aws_access_key_id="moto", aws_secret_access_key="moto")
               for name in ("s3", "emr", "emr-serverless")}
    clients["s3"].create_bucket(Bucket="code-bucket")
    yield env, clients
    server.stop()


@pytest.fixture(scope="module")
def code(tmp_path_factory):
    folder = tmp_path_factory.mktemp("code")
    build_zip(REPO / "lastfm", folder / "lastfm.zip")
    conf = folder / "conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text(SPARK_DEFAULTS)
    (conf / "emr-7.conf").write_text(EMR_CONF)
    (conf / "emr-8.conf").write_text(EMR_8_CONF)
    return folder


def submit_emr(env, code, *args):
    command = [sys.executable, str(REPO / "scripts" / "submit_emr.py"), "--code-uri", "s3://code-bucket/lastfm/v1",
               "--package", str(code / "lastfm.zip"), "--conf-dir", str(code / "conf"), "--poll-seconds", "0.2",
               "--timeout-seconds", "60", *args, "--", *JOB_ARGS]
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=code)


def finish_step_when_seen_running(process, cluster_id, final_state):
    """Play the cluster: once the script has reported the step RUNNING, the step ends."""
    lines = []

    def follow():
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.rstrip().endswith("] RUNNING"):
                cluster = get_backend("emr")[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id]
                cluster.steps[-1].state = final_state

    reader = threading.Thread(target=follow)
    reader.start()
    return reader, lines


def uploaded(s3, key):
    return s3.get_object(Bucket="code-bucket", Key=key)["Body"].read()


@pytest.mark.slow
@pytest.mark.parametrize("final_state, exit_code", [("COMPLETED", 0), ("FAILED", 1)])
def test_emr_step_end_to_end(aws, code, final_state, exit_code):
    env, clients = aws
    cluster_id = clients["emr"].run_job_flow(
        Name="test", ReleaseLabel="emr-7.5.0", JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
        Instances={"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.xlarge", "InstanceCount": 1,
                   "KeepJobFlowAliveWhenNoSteps": True},
    )["JobFlowId"]
    process = submit_emr(env, code, "--cluster-id", cluster_id)
    reader, lines = finish_step_when_seen_running(process, cluster_id, final_state)
    assert process.wait(timeout=60) == exit_code, process.stderr.read()
    reader.join()

    (step,) = clients["emr"].list_steps(ClusterId=cluster_id)["Steps"]
    assert step["Name"] == "lastfm-top-tracks" and step["ActionOnFailure"] == "CONTINUE"
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert step["Config"]["Args"] == [
        "spark-submit", "--deploy-mode", "cluster", *CONF_FLAGS, "--py-files", PY_FILES,
        "s3://code-bucket/lastfm/v1/top_tracks.py", *JOB_ARGS,
    ]
    assert lines[0] == ("uploaded s3://code-bucket/lastfm/v1/lastfm.zip, s3://code-bucket/lastfm/v1/top_tracks.py, "
                        "s3://code-bucket/lastfm/v1/emr-7.conf")
    assert lines[1] == f"added step {step['Id']} to cluster {cluster_id}"
    assert [line.split("] ")[1] for line in lines[2:4]] == ["RUNNING", final_state]
    assert lines[4] == f"final state: {final_state}"
    assert lines[5:] == (["output: s3://data/out/top.tsv"] if final_state == "COMPLETED" else [])

    s3 = clients["s3"]
    assert uploaded(s3, "lastfm/v1/lastfm.zip") == (code / "lastfm.zip").read_bytes()
    assert uploaded(s3, "lastfm/v1/top_tracks.py") == (REPO / "jobs" / "top_tracks.py").read_bytes()
    assert uploaded(s3, "lastfm/v1/emr-7.conf").decode() == (
        "spark.sql.session.timeZone UTC\nspark.sql.adaptive.enabled true\n"
        "spark.jars /usr/share/aws/delta/lib/delta-spark.jar,/usr/share/aws/delta/lib/delta-storage.jar\n"
        "spark.submit.pyFiles local:///usr/share/aws/delta/lib/delta-spark.jar\n"
    )


@pytest.mark.slow
def test_emr_serverless_end_to_end(aws, code):
    env, clients = aws
    serverless = clients["emr-serverless"]
    app_id = serverless.create_application(name="lastfm", releaseLabel="emr-8.0.0", type="SPARK")["applicationId"]
    role = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/lastfm-job"
    process = submit_emr(env, code, "--platform", "emr-8", "--application-id", app_id, "--role-arn", role)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    lines = out.splitlines()

    (summary,) = serverless.list_job_runs(applicationId=app_id)["jobRuns"]
    run = serverless.get_job_run(applicationId=app_id, jobRunId=summary["id"])["jobRun"]
    assert run["executionRole"] == role and run["name"] == "lastfm-top-tracks"
    assert run["jobDriver"] == {"sparkSubmit": {
        "entryPoint": "s3://code-bucket/lastfm/v1/top_tracks.py",
        "entryPointArguments": JOB_ARGS,
        "sparkSubmitParameters": " ".join([*CONF_FLAGS, "--conf", "spark.sql.shuffle.partitions=64",
                                           "--py-files", PY_FILES]),
    }}
    assert lines[0].endswith("s3://code-bucket/lastfm/v1/emr-8.conf")
    assert lines[1] == f"started job run {summary['id']} on application {app_id}"
    assert lines[2].endswith("] SUCCESS")  # moto's job runs succeed at once
    assert lines[3:] == ["final state: SUCCESS", "output: s3://data/out/top.tsv"]
    assert uploaded(clients["s3"], "lastfm/v1/lastfm.zip") == (code / "lastfm.zip").read_bytes()


def test_serverless_refuses_values_with_spaces():
    bundle = Bundle("s3://b/lastfm.zip", "s3://b/top_tracks.py", "s3://b/emr-7.conf")
    with pytest.raises(ValueError, match="whitespace"):
        serverless_job_driver(bundle, {"spark.driver.extraJavaOptions": "-Da=1 -Db=2"}, [])


def test_uri_helpers():
    assert split_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    assert split_uri("gs://bucket") == ("bucket", "")
    with pytest.raises(ValueError):
        split_uri("/local/path")
    assert job_output(["--input", "i", "--output", "s3://o/top.tsv"]) == "s3://o/top.tsv"
    assert job_output(["--output=gs://o/t.tsv"]) == "gs://o/t.tsv"


def test_dataproc_command_uses_another_delimiter_when_a_value_has_commas():
    command = dataproc_command("c1", "europe-west1", "gs://b/code", Path("dist/lastfm.zip"), Path("jobs/top_tracks.py"),
                               {"spark.jars": "a.jar,b.jar", "spark.sql.shuffle.partitions": "8"}, ["--input", "x"])
    assert command == [
        "gcloud", "dataproc", "jobs", "submit", "pyspark", "gs://b/code/top_tracks.py",
        "--cluster=c1", "--region=europe-west1", "--py-files=gs://b/code/lastfm.zip",
        "--properties=^#^spark.jars=a.jar,b.jar#spark.sql.shuffle.partitions=8", "--", "--input", "x",
    ]


def test_submit_dataproc_dry_run_prints_the_commands_from_conf_dataproc_2(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "submit_dataproc.py"), "--cluster", "lastfm",
         "--region", "europe-west1", "--code-uri", "gs://my-bucket/lastfm/code", "--dry-run", "--", *JOB_ARGS],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    upload, submit = (shlex.split(line) for line in result.stdout.splitlines())
    assert upload == ["gcloud", "storage", "cp", f"{REPO}/dist/lastfm.zip", f"{REPO}/jobs/top_tracks.py",
                      "gs://my-bucket/lastfm/code/"]
    assert submit[:9] == [
        "gcloud", "dataproc", "jobs", "submit", "pyspark", "gs://my-bucket/lastfm/code/top_tracks.py",
        "--cluster=lastfm", "--region=europe-west1", "--py-files=gs://my-bucket/lastfm/code/lastfm.zip",
    ]
    assert submit[10:] == ["--", *JOB_ARGS]
    # conf/spark-defaults.conf overlaid by conf/dataproc-2.conf; no value there holds a comma
    assert submit[9].startswith("--properties=spark.")
    properties = dict(p.split("=", 1) for p in submit[9].removeprefix("--properties=").split(","))
    assert properties["spark.jars.packages"] == "io.delta:delta-spark_2.12:3.3.2"
    assert properties["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert properties["spark.sql.shuffle.partitions"] == "200"
    assert "spark.jars" not in properties  # the local Delta jars never reach a Dataproc submit


def test_submit_dataproc_serverless_dry_run_is_a_batch_on_its_runtime(tmp_path):
    submit = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, str(REPO / "scripts" / "submit_dataproc.py"), *args, "--region", "europe-west1",
         "--code-uri", "gs://my-bucket/lastfm/code", "--dry-run", "--", *JOB_ARGS],
        capture_output=True, text=True, cwd=tmp_path, timeout=60)
    result = submit("--platform", "dataproc-serverless-3.0")
    assert result.returncode == 0, result.stderr
    _, batch = (shlex.split(line) for line in result.stdout.splitlines())
    assert batch[:9] == [
        "gcloud", "dataproc", "batches", "submit", "pyspark", "gs://my-bucket/lastfm/code/top_tracks.py",
        "--version=3.0", "--region=europe-west1", "--py-files=gs://my-bucket/lastfm/code/lastfm.zip",
    ]
    assert batch[10:] == ["--", *JOB_ARGS]
    properties = dict(p.split("=", 1) for p in batch[9].removeprefix("--properties=").split(","))
    assert properties["spark.jars.packages"] == "io.delta:delta-spark_2.13:4.0.0"  # Spark 4.0, Scala 2.13

    # a batch has no cluster, a cluster job needs one: one line, exit 2
    for args in (["--platform", "dataproc-serverless-3.0", "--cluster", "c1"], ["--platform", "dataproc-2"]):
        refused = submit(*args)
        assert refused.returncode == 2 and "--cluster is" in refused.stderr.splitlines()[-1], refused.stderr
