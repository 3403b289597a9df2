"""Packaging, and a real Spark standalone cluster (master + worker processes on 127.0.0.1) running
the job from the zip alone on s3a:// paths served by moto's S3 server on loopback."""

import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import metadata
from pathlib import Path

import boto3
import pytest
from deltalake import DeltaTable
from moto.server import ThreadedMotoServer
from packaging.specifiers import SpecifierSet

from lastfm.platforms.cluster import (
    build_zip,
    is_running,
    master_state,
    setup_jars,
    spark_home,
    start_standalone,
    stop_standalone,
)
from lastfm.platforms.targets import conf_flags, jar_files, target_properties
from lastfm.quality import report
from lastfm.testing.duckdb_reference import read_tsv
from lastfm.testing.duckdb_reference import top_tracks as duckdb_top_tracks
from lastfm.testing.sample_data import write_sample

# one worker runs them all (`make test` spreads tests over two): they share one cluster
pytestmark = pytest.mark.xdist_group("standalone_cluster")
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
JARS, JARS_S3 = setup_jars("delta"), setup_jars("s3")
APP_NAME = "lastfm-top-tracks"  # jobs/top_tracks.py's appName

# Put in front of the Python path of the submitted job: drops the editable install's finder, so
# `lastfm` can only come from --py-files (as on a cluster node that never saw this checkout).
NO_EDITABLE_INSTALL = (
    "import sys\n"
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]\n"
)


def test_zip_holds_exactly_the_package_sources(tmp_path):
    names = build_zip(REPO / "lastfm", tmp_path / "lastfm.zip")
    expected = sorted(str(p.relative_to(REPO)) for p in (REPO / "lastfm").rglob("*.py")
                      if "__pycache__" not in p.parts and "testing" not in p.parts)
    assert "lastfm/pipeline.py" in expected and "lastfm/question/sessions.py" in expected
    with zipfile.ZipFile(tmp_path / "lastfm.zip") as archive:
        assert sorted(archive.namelist()) == sorted(names) == expected
        assert (archive.read("lastfm/question/sessions.py")
                == (REPO / "lastfm" / "question" / "sessions.py").read_bytes())
    # the tests' and the benchmark's tools never ship
    assert (not any(name.startswith("lastfm/testing/") for name in names)
            and (REPO / "lastfm/testing/duckdb_reference.py").exists())
    again = build_zip(REPO / "lastfm", tmp_path / "again.zip")
    assert again == names
    assert (tmp_path / "again.zip").read_bytes() == (tmp_path / "lastfm.zip").read_bytes()  # reproducible


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("input") / "plays.tsv", rows=100_000, users=50, seed=11)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A folder outside the checkout holding only what a cluster submit gets: zip + entrypoint."""
    folder = tmp_path_factory.mktemp("submit")
    build_zip(REPO / "lastfm", folder / "lastfm.zip")
    shutil.copy(REPO / "jobs" / "top_tracks.py", folder / "top_tracks.py")
    isolation = folder / "isolation"
    isolation.mkdir()
    (isolation / "sitecustomize.py").write_text(NO_EDITABLE_INSTALL)
    assert not str(folder).startswith(str(REPO))
    return folder


def submit_env(run_dir, **extra):
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYSPARK_PYTHON": sys.executable,
            "PYTHONPATH": str(run_dir / "isolation"), "SPARK_LOCAL_IP": "127.0.0.1", **extra}


def spark_submit(run_dir, args, env):
    return subprocess.run([str(BIN / "spark-submit"), *args], cwd=run_dir, env=env,
                          capture_output=True, text=True, timeout=900)


def test_isolation_hides_the_checkout(run_dir):
    # the control for the cluster test: without the zip, the job's Python cannot import lastfm
    probe = subprocess.run([sys.executable, "-c", "import lastfm"], cwd=run_dir, env=submit_env(run_dir),
                           capture_output=True, text=True)
    assert probe.returncode == 1 and "No module named 'lastfm'" in probe.stderr


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    cluster = start_standalone(tmp_path_factory.mktemp("standalone"), cores=2, memory="2g",
                               log4j_conf=REPO / "conf" / "log4j2-daemons.properties")
    yield cluster
    stop_standalone(cluster)
    assert not is_running(cluster.worker_pid) and not is_running(cluster.master_pid)


@pytest.fixture(scope="module")
def s3():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                          aws_access_key_id="moto", aws_secret_access_key="moto")
    yield f"http://{host}:{port}", client
    server.stop()


# One job run covers the cluster and S3 (a job run costs minutes on a busy 2-core machine): the
# standalone cluster reads the input from, and writes the deliverable and the Delta tables to,
# moto's S3; DuckDB reads the same lines from a local file.
@pytest.mark.slow
def test_standalone_cluster_on_s3a_gives_duckdbs_answer(standalone, s3, sample, run_dir, tmp_path):
    endpoint, client = s3
    alive = [w["host"] for w in master_state(standalone.web_url)["workers"] if w["state"] == "ALIVE"]
    assert alive == ["127.0.0.1"]

    bucket = "lastfm-test"
    client.create_bucket(Bucket=bucket)
    # the input as a prefix of two files plus a marker that Spark and input_files skip
    lines = sample.read_bytes().splitlines(keepends=True)
    parts = {"in/part-1.tsv": b"".join(lines[:40_000]), "in/part-2.tsv": b"".join(lines[40_000:])}
    for key, body in {**parts, "in/_SUCCESS": b""}.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    client.put_object(Bucket=bucket, Key="out/top.tsv", Body=b"earlier answer\n")  # to be replaced

    assert jar_files(JARS_S3), f"no S3 jars in {JARS_S3}: run `make setup`"
    credentials = {"AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto", "AWS_REGION": "us-east-1"}
    result = spark_submit(run_dir, [
        "--master", standalone.url,
        *conf_flags(target_properties(REPO / "conf", "standalone")),
        "--jars", ",".join(jar_files(JARS, JARS_S3)),
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.databricks.delta.snapshotPartitions=2",
        "--conf", f"spark.executorEnv.PYTHONPATH={run_dir / 'isolation'}",
        # where moto listens; the credentials come only from the environment (AWS_ACCESS_KEY_ID...)
        "--conf", f"spark.hadoop.fs.s3a.endpoint={endpoint}",
        "--conf", "spark.hadoop.fs.s3a.endpoint.region=us-east-1",
        "--conf", "spark.hadoop.fs.s3a.path.style.access=true",
        "--py-files", "lastfm.zip",
        "top_tracks.py", "--input", f"s3a://{bucket}/in/", "--output", f"s3a://{bucket}/out/top.tsv",
        "--warehouse", f"s3a://{bucket}/warehouse",
    ], submit_env(run_dir, **credentials))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # the application ran on the worker
    (app,) = [a for a in master_state(standalone.web_url)["completedapps"] if a["name"] == APP_NAME]
    assert app["state"] == "FINISHED"
    assert f"Asked to launch executor {app['id']}/0 for {APP_NAME}" in standalone.worker_log.read_text()
    assert (standalone.work_dir / app["id"] / "0" / "stderr").exists()

    # input_files listed the s3a prefix: both parts, the marker skipped, every line read
    summary = json.loads(client.get_object(Bucket=bucket, Key="out/run_summary.json")["Body"].read())
    assert summary["input_files_ingested"] == [f"s3a://{bucket}/{key}" for key in parts]
    assert summary["rows_read"] == len(lines)

    # the deliverable: one object at the --output key, nothing staged left, the local answer
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    assert "out/top.tsv" in keys
    assert not [k for k in keys if "staging" in k or "_temporary" in k], keys
    (tmp_path / "top.tsv").write_bytes(client.get_object(Bucket=bucket, Key="out/top.tsv")["Body"].read())
    expected = duckdb_top_tracks(str(sample))  # an independent engine on the same lines
    assert len(expected) == 10 and read_tsv(str(tmp_path / "top.tsv")) == expected

    # the Delta tables, read back from the bucket by another engine (delta-rs)
    options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto"}
    table = lambda name: DeltaTable(f"s3://{bucket}/warehouse/{name}", storage_options=options).to_pyarrow_table()  # noqa: E731
    assert table("plays").num_rows == 100_000
    assert table("rejects").num_rows == 1  # write_sample: one malformed line per 100k
    assert table("top_sessions").num_rows == 50
    top = table("top_tracks").sort_by("rank")
    assert list(zip(top.column("artist_name").to_pylist(), top.column("track_name").to_pylist(),
                    top.column("play_count").to_pylist())) == expected


# What a managed platform gives a job by default: a plain Python with none of the project's
# packages (not even pyspark: Spark puts its own on the path), wrapped to log each start. The
# oldest Python the Spark line runs on: 3.9, EMR 7's default, on the lines whose pyspark still
# takes it (3.5 and 4.0: pyspark's own Requires-Python says so); else the system python3 (3.11,
# as on Dataproc 2.x).
PROJECT_PACKAGES = ("pyspark", "delta", "lastfm", "numpy", "pandas", "pyarrow", "matplotlib")


def plain_python() -> str:
    return "3.9" if SpecifierSet(metadata("pyspark")["Requires-Python"]).contains("3.9") else "/usr/bin/python3"


def interpreter(python: str) -> str:
    """A path, or a version that one of pyenv's interpreters has (as this machine kind has them)."""
    if python.startswith("/"):
        return python
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    found = sorted(Path(root, "versions").glob(f"{python}.*/bin/python{python}"))
    assert found, f"no Python {python} under {root}/versions"
    return str(found[-1])


@pytest.fixture(scope="module", params=[plain_python()])
def bare_python(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("bare-python")
    wrapper, calls = folder / "python3", folder / "calls.log"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {interpreter(request.param)} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, calls


def bare_env(python) -> dict:
    """Nothing of the venv: no PATH entry, no PYTHONPATH; Spark's own SPARK_HOME."""
    keep = {k: os.environ[k] for k in ("HOME", "LANG", "JAVA_HOME", "TMPDIR") if k in os.environ}
    return {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin", "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": str(python), "PYSPARK_DRIVER_PYTHON": str(python)}


@pytest.mark.parametrize("package", PROJECT_PACKAGES)
def test_the_system_python_has_none_of_the_projects_packages(bare_python, run_dir, package):
    # the control for the bare-Python cluster test
    python, _ = bare_python
    probe = subprocess.run([str(python), "-c", f"import {package}"], cwd=run_dir, env=bare_env(python),
                           capture_output=True, text=True)
    assert probe.returncode == 1 and f"No module named '{package}'" in probe.stderr


@pytest.mark.slow
@pytest.mark.e2e
def test_standalone_cluster_on_a_bare_python_gives_duckdbs_answer(standalone, bare_python, sample, run_dir, tmp_path):
    python, calls = bare_python
    (delta_jar,) = [j for j in jar_files(JARS) if Path(j).name.startswith("delta-spark_")]
    out = tmp_path / "out"
    result = subprocess.run([
        str(spark_home() / "bin" / "spark-submit"), "--master", standalone.url,
        *conf_flags(target_properties(REPO / "conf", "standalone")),
        "--conf", "spark.ui.enabled=false",
        "--py-files", f"lastfm.zip,{delta_jar}",  # the one shipped artifact, and the jar that carries `delta`
        "top_tracks.py", "--input", str(sample), "--output", str(out / "top.tsv"), "--warehouse", str(out / "wh"),
    ], cwd=run_dir, env=bare_env(python), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert read_tsv(str(out / "top.tsv")) == duckdb_top_tracks(str(sample))
    # the driver and the executors' Python workers both ran on the bare Python
    started = calls.read_text().splitlines()
    assert [line for line in started if line.startswith(f"{run_dir / 'top_tracks.py'} --input ")]
    assert [line for line in started if line.startswith("-m pyspark.daemon")]

    # no matplotlib on the driver: every file but the report, said in one log line and the summary
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["report"] is None and "matplotlib is not installed" in summary["report_skipped"]
    assert (out / "profile.json").exists() and not (out / "report.html").exists()
    assert len([line for line in result.stdout.splitlines() if line.endswith(report.REPORT_SKIPPED)]) == 1
    # ... which the README's one command draws later, from those files, where matplotlib is
    drawn = subprocess.run([sys.executable, str(REPO / "scripts" / "render_report.py"), str(out)],
                           capture_output=True, text=True, timeout=300)
    assert drawn.returncode == 0, drawn.stderr
    assert (out / "report.html").read_text().count('src="data:image/png;base64,') == 4
