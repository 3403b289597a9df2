"""The daily DAGs (scripts/airflow/dags), in the Airflow venv (`make test-airflow`, not `make test`):
the folder imports cleanly, each DAG is shaped as README "Scheduling" says, its job arguments are
accepted by the job's own parser, its Spark settings are conf/'s, and the local DAG, run by
`dag.test()` for two consecutive days on a real standalone cluster, ends with DuckDB's answer on
both days' files.

The job's side (its parser, the cluster, the sample data, DuckDB's answer) runs in the project's
venv (.venv), as on an Airflow worker that calls the project's spark-submit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "scripts" / "airflow" / "dags"
JOB_PYTHON = REPO / ".venv" / "bin" / "python"  # the project's venv (`make setup`)
DAG_IDS = ("lastfm_daily_local", "lastfm_daily_emr_serverless", "lastfm_daily_dataproc")
# the job's JVMs compile with C1 only, as in the rest of the suite (tests/conftest.py says why)
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1")


def job_python(code: str, *args: str) -> str:
    """Run `code` in the project's venv, from the repository's root; its stdout."""
    return job_command("-c", code, *args)


def job_command(*argv: str) -> str:
    """`python *argv` in the project's venv, from the repository's root; its stdout."""
    done = subprocess.run([str(JOB_PYTHON), *argv], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    """A fresh Airflow home with its own SQLite metadata database."""
    home = tmp_path_factory.mktemp("airflow")
    os.environ.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="false",
                      AIRFLOW__CORE__DAGS_FOLDER=str(DAGS), AIRFLOW__CORE__UNIT_TEST_MODE="false")
    migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], capture_output=True,
                             text=True, env=os.environ.copy(), timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return home


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import BundleDagBag

    # the DAG folder is the bundle: its files import their shared module (lastfm_daily.py) as Airflow's
    # DAG processor lets them
    return BundleDagBag(DAGS, bundle_path=DAGS)


def test_the_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(DAG_IDS)


def edges(dag) -> set[tuple[str, str]]:
    return {(task.task_id, downstream) for task in dag.tasks for downstream in task.downstream_task_ids}


def test_each_dag_has_the_documented_tasks_schedule_and_retries(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    assert edges(dagbag.get_dag("lastfm_daily_local")) == {("data_interval", "top_tracks")}
    assert edges(dagbag.get_dag("lastfm_daily_emr_serverless")) == {("data_interval", "start_job_run"),
                                                                     ("start_job_run", "wait_for_job_run")}
    assert edges(dagbag.get_dag("lastfm_daily_dataproc")) == {("data_interval", "create_batch")}
    for dag_id in DAG_IDS:
        dag = dagbag.get_dag(dag_id)
        # a real interval per run (Airflow 3's "@daily" would give an empty one), daily at 01:00 UTC
        assert isinstance(dag.timetable, CronDataIntervalTimetable)
        assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 1 * * *", "UTC")
        assert dag.catchup is False and dag.max_active_runs == 1 and dag.dagrun_timeout == timedelta(hours=4)
        job = [t for t in dag.tasks if t.task_id != "data_interval"][0]
        assert job.retries == 2 and job.execution_timeout == timedelta(hours=2)
    sensor = dagbag.get_dag("lastfm_daily_emr_serverless").get_task("wait_for_job_run")
    assert sensor.retries == 0 and sensor.target_states == {"SUCCESS"}
    assert dagbag.get_dag("lastfm_daily_emr_serverless").get_task("start_job_run").wait_for_completion is False


CODE_URI = "s3://code-bucket/lastfm/code"  # the Variable lastfm_code_uri


def rendered(dag, template: str, params: dict | None = None) -> str:
    """`template` as a run of `dag` with `params` renders it (Jinja, as Airflow does)."""
    values = {**{name: dag.params[name] for name in dag.params}, **(params or {})}
    return dag.get_template_env().from_string(template).render(params=values, var={"value": {"lastfm_code_uri": CODE_URI}})


def job_arguments(dag) -> list[str]:
    task = [t for t in dag.tasks if t.task_id != "data_interval"][0]
    if dag.dag_id == "lastfm_daily_local":
        return task.application_args
    if dag.dag_id == "lastfm_daily_emr_serverless":
        return task.job_driver["sparkSubmit"]["entryPointArguments"]
    return task.batch["pyspark_batch"]["args"]


PARSE = ("import json, sys; sys.path.insert(0, 'jobs'); from top_tracks import parse_command_line; "
         "from dataclasses import asdict; print(json.dumps(asdict(parse_command_line(json.loads(sys.argv[1]))[0])))")


def test_every_dags_job_arguments_are_accepted_by_the_jobs_own_parser(dagbag):
    for dag_id in DAG_IDS:
        dag = dagbag.get_dag(dag_id)
        arguments = [rendered(dag, arg, {"session_gap_minutes": 30, "top_sessions": 40}) for arg in job_arguments(dag)]
        config = json.loads(job_python(PARSE, json.dumps(arguments)))
        assert config["incremental"] is True and config["as_of_version"] is None, dag_id
        assert (config["session_gap_minutes"], config["top_sessions"], config["top_tracks"]) == (30, 40, 10), dag_id
        assert (config["input"], config["output"], config["warehouse"]) == tuple(
            dag.params[name] for name in ("input", "output", "warehouse")), dag_id


def test_the_cloud_dags_spark_settings_are_those_of_conf(dagbag):
    """The DAG files hold their platform's settings (an Airflow worker has no conf/ folder): the same
    as conf/spark-defaults.conf + conf/<platform>.conf, read by the job's own reader."""
    read = ("import json, sys; from pathlib import Path; from lastfm.platforms.targets import target_properties; "
            "print(json.dumps(target_properties(Path('conf'), sys.argv[1])))")
    emr = json.loads(job_python(read, "emr-7"))
    dag = dagbag.get_dag("lastfm_daily_emr_serverless")
    driver = dag.get_task("start_job_run").job_driver["sparkSubmit"]
    flags = rendered(dag, driver["sparkSubmitParameters"]).split()  # one space-separated string: no value may hold one
    pairs = dict(flags[i + 1].split("=", 1) for i in range(0, len(flags), 2) if flags[i] == "--conf")
    assert pairs == {k: v for k, v in emr.items() if k != "spark.submit.pyFiles"}
    py_files = flags[flags.index("--py-files") + 1].split(",")
    assert py_files == [f"{CODE_URI}/lastfm.zip", *emr["spark.submit.pyFiles"].split(",")]
    assert rendered(dag, driver["entryPoint"]) == f"{CODE_URI}/top_tracks.py"
    dataproc = json.loads(job_python(read, "dataproc-serverless-3.0"))
    batch = dagbag.get_dag("lastfm_daily_dataproc").get_task("create_batch").batch
    assert batch["runtime_config"]["properties"] == dataproc


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and worker, as `make cluster-up` starts them."""
    state = tmp_path_factory.mktemp("cluster")
    port, web = json.loads(job_python("import json; from lastfm.platforms.cluster import free_port; "
                                      "print(json.dumps([free_port(), free_port()]))"))
    assert port != web
    job_command("scripts/standalone_cluster.py", "up", "--state-dir", str(state), "--port", str(port), "--web-port", str(web))
    yield f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}"
    job_command("scripts/standalone_cluster.py", "down", "--state-dir", str(state))


def test_the_local_dag_runs_the_job_on_the_cluster_for_two_days(dagbag, cluster, tmp_path, monkeypatch):
    """Day one's file lands and its run ingests it; day two's file lands and the next day's run adds
    it; the TSV is then DuckDB's answer on both files."""
    sample = tmp_path / "sample.tsv"
    job_python("import sys; from pathlib import Path; from lastfm.testing.sample_data import write_sample; "
               "write_sample(Path(sys.argv[1]), rows=6000, users=8, seed=21)", str(sample))
    lines = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    landing, out = tmp_path / "landing", tmp_path / "out"
    master, web_ui = cluster
    monkeypatch.setenv("AIRFLOW_CONN_LASTFM_SPARK", master)
    monkeypatch.setenv("PATH", f"{JOB_PYTHON.parent}{os.pathsep}{os.environ['PATH']}")  # the project's spark-submit
    monkeypatch.setenv("PYSPARK_PYTHON", str(JOB_PYTHON))
    dag = dagbag.get_dag("lastfm_daily_local")
    conf = {"input": str(landing), "output": str(out / "top.tsv"), "warehouse": str(out / "warehouse"),
            "top_sessions": 5}

    ingested = []
    for day, part in enumerate((lines[:4000], lines[4000:]), start=1):
        landed = landing / f"date=2026-11-0{day}" / "plays.tsv"
        landed.parent.mkdir(parents=True)
        landed.write_text("".join(part), encoding="utf-8")
        run = dag.test(logical_date=datetime(2026, 11, day + 1, 1, tzinfo=timezone.utc), run_conf=conf)
        assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
        assert run.data_interval_end - run.data_interval_start == timedelta(days=1)
        ingested.append(json.loads((out / "run_summary.json").read_text())["input_files_ingested"])
    assert [[Path(path).parent.name for path in files] for files in ingested] == [["date=2026-11-01"], ["date=2026-11-02"]]

    expected = json.loads(job_python("import json, sys; from lastfm.testing.duckdb_reference import top_tracks; "
                                     "print(json.dumps(top_tracks(sys.argv[1], top_sessions=5)))",
                                     str(landing / "*" / "*.tsv")))
    got = job_python("import json, sys; from lastfm.testing.duckdb_reference import read_tsv; "
                     "print(json.dumps(read_tsv(sys.argv[1])))", str(out / "top.tsv"))
    assert json.loads(got) == expected and len(expected) == 10
    # both runs were applications of the cluster, run by its worker
    apps = json.loads(job_python("import json, sys; from lastfm.platforms.cluster import master_state; "
                                 "print(json.dumps(master_state(sys.argv[1])['completedapps']))", web_ui))
    assert [app["state"] for app in apps] == ["FINISHED", "FINISHED"]
