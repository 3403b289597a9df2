"""The daily DAGs (scripts/airflow/dags), in the Airflow venv (`make test-airflow`, not `make test`):
the folder imports cleanly, each DAG is shaped as README "Scheduling" says, its job arguments are
accepted by the job's own parser, its Spark settings are conf/'s, and the local DAG, run by
`dag.test()` for two consecutive days on a real standalone cluster, ends with DuckDB's answer on
both days' files. The same for the weekly maintenance DAGs beside them (docs/scheduling.md
"Maintenance"): their shape, schedule and pool, jobs/maintain.py's parser, and the local one's run
on the cluster.

The job's side (its parser, the cluster, the sample data, DuckDB's answer) runs in the project's
venv (.venv), as on an Airflow worker that calls the project's spark-submit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from itertools import takewhile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "scripts" / "airflow" / "dags"
JOB_PYTHON = REPO / ".venv" / "bin" / "python"  # the project's venv (`make setup`)
DAG_IDS = ("lastfm_daily_local", "lastfm_daily_emr_serverless", "lastfm_daily_dataproc")
MAINTENANCE_IDS = {daily: daily.replace("_daily_", "_maintenance_") for daily in DAG_IDS}
POOL = "lastfm_warehouse"
# the job's JVMs compile with C1 only, as in the rest of the suite (tests/conftest.py says why)
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m")


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
    assert sorted(dagbag.dag_ids) == sorted([*DAG_IDS, *MAINTENANCE_IDS.values()])


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
        # every task that spans the Spark job holds the warehouse's pool slot
        assert {t.task_id for t in dag.tasks if t.pool == POOL} == {t.task_id for t in dag.tasks} - {"data_interval"}
    sensor = dagbag.get_dag("lastfm_daily_emr_serverless").get_task("wait_for_job_run")
    # poke: a sensor waiting to be rescheduled holds no pool slot
    assert sensor.retries == 0 and sensor.target_states == {"SUCCESS"} and sensor.mode == "poke"
    assert dagbag.get_dag("lastfm_daily_emr_serverless").get_task("start_job_run").wait_for_completion is False


CODE_URI = "s3://code-bucket/lastfm/code"  # the Variable lastfm_code_uri


def rendered(dag, template: str, params: dict | None = None) -> str:
    """`template` as a run of `dag` with `params` renders it (Jinja, as Airflow does)."""
    values = {**{name: dag.params[name] for name in dag.params}, **(params or {})}
    return dag.get_template_env().from_string(template).render(
        params=values, var={"value": {"lastfm_code_uri": CODE_URI}})


def job_arguments(dag) -> list[str]:
    task = [t for t in dag.tasks if t.task_id != "data_interval"][0]
    if dag.dag_id == "lastfm_daily_local":
        return task.application_args
    if dag.dag_id == "lastfm_daily_emr_serverless":
        return task.job_driver["sparkSubmit"]["entryPointArguments"]
    return task.batch["pyspark_batch"]["args"]


PARSE = ("import json, sys; from lastfm.commands.top_tracks import parse_command_line; "
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


def test_each_maintenance_dag_is_one_pooled_task_a_week_apart_from_the_daily_runs(dagbag):
    from airflow.sdk import CronTriggerTimetable
    from croniter import croniter

    tasks = {"lastfm_maintenance_local": "maintain", "lastfm_maintenance_emr_serverless": "maintain",
             "lastfm_maintenance_dataproc": "create_batch"}
    for daily_id, maintenance_id in MAINTENANCE_IDS.items():
        daily, dag = dagbag.get_dag(daily_id), dagbag.get_dag(maintenance_id)
        assert [t.task_id for t in dag.tasks] == [tasks[maintenance_id]] and edges(dag) == set()
        (task,) = dag.tasks
        assert task.pool == POOL and task.retries == 2 and task.execution_timeout == timedelta(hours=2)
        assert isinstance(dag.timetable, CronTriggerTimetable)
        assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("30 5 * * 0", "UTC")
        assert dag.catchup is False and dag.max_active_runs == 1 and dag.dagrun_timeout == timedelta(hours=3)
        # the daily DAG's warehouse, and never a retention below Delta's safety check
        assert dag.params["warehouse"] == daily.params["warehouse"] and dag.params["retention_hours"] == 168
        assert dag.params.get_param("retention_hours").schema["minimum"] == 168
        # over eight weeks, no maintenance run's window (start to dagrun_timeout) meets a daily run's
        start = datetime(2026, 11, 1, tzinfo=timezone.utc)
        within = lambda at, start=start: at < start + timedelta(weeks=8)  # noqa: E731
        windows = {name: [(at, at + timeout)
                          for at in takewhile(within, croniter(expression, start).all_next(datetime))]
                   for name, expression, timeout in (("daily", daily.timetable.expression, daily.dagrun_timeout),
                                                     ("maintenance", dag.timetable.expression, dag.dagrun_timeout))}
        assert len(windows["maintenance"]) == 8 and len(windows["daily"]) == 56
        assert not [(m, d) for m in windows["maintenance"] for d in windows["daily"] if m[0] < d[1] and d[0] < m[1]]


def maintenance_arguments(dag) -> list[str]:
    (task,) = dag.tasks
    if dag.dag_id == "lastfm_maintenance_local":
        return task.application_args
    if dag.dag_id == "lastfm_maintenance_emr_serverless":
        return task.job_driver["sparkSubmit"]["entryPointArguments"]
    return task.batch["pyspark_batch"]["args"]


MAINTENANCE_PARSE = ("import json, sys; from lastfm.commands.maintain import parse_args; "
                     "print(json.dumps(vars(parse_args(json.loads(sys.argv[1])))))")


def test_every_maintenance_dags_arguments_are_accepted_by_maintain_pys_own_parser(dagbag):
    for maintenance_id in MAINTENANCE_IDS.values():
        dag = dagbag.get_dag(maintenance_id)
        arguments = [rendered(dag, arg, {"retention_hours": 336}) for arg in maintenance_arguments(dag)]
        options = json.loads(job_python(MAINTENANCE_PARSE, json.dumps(arguments)))
        assert options == {"warehouse": dag.params["warehouse"], "retention_hours": 336,
                           "allow_short_retention": False}, maintenance_id
        defaults = json.loads(job_python(MAINTENANCE_PARSE,
                                         json.dumps([rendered(dag, arg) for arg in maintenance_arguments(dag)])))
        assert defaults["retention_hours"] == 168, maintenance_id


def test_each_maintenance_dag_submits_maintain_py_as_its_daily_dag_submits_the_job(dagbag):
    """Same platform, same code, same Spark settings; only the script and its arguments differ."""
    local = dagbag.get_dag("lastfm_maintenance_local").tasks[0]
    local_daily = dagbag.get_dag("lastfm_daily_local").get_task("top_tracks")
    assert local.application == str(REPO / "jobs" / "maintain.py")
    assert (local._conn_id, local.py_files, local.conf) == (
        local_daily._conn_id, local_daily.py_files, local_daily.conf)

    dag = dagbag.get_dag("lastfm_maintenance_emr_serverless")
    emr, emr_daily = dag.tasks[0], dagbag.get_dag("lastfm_daily_emr_serverless").get_task("start_job_run")
    assert rendered(dag, emr.job_driver["sparkSubmit"]["entryPoint"]) == f"{CODE_URI}/maintain.py"
    assert (emr.job_driver["sparkSubmit"]["sparkSubmitParameters"]
            == emr_daily.job_driver["sparkSubmit"]["sparkSubmitParameters"])
    assert (emr.application_id, emr.execution_role_arn, emr.configuration_overrides) == (
        emr_daily.application_id, emr_daily.execution_role_arn, emr_daily.configuration_overrides)
    # one task that waits for its job run, so that it holds the pool's slot until the run ends
    assert emr.wait_for_completion is True and emr.waiter_delay * emr.waiter_max_attempts >= 2 * 60 * 60

    dag = dagbag.get_dag("lastfm_maintenance_dataproc")
    batch, batch_daily = dag.tasks[0].batch, dagbag.get_dag("lastfm_daily_dataproc").get_task("create_batch").batch
    assert rendered(dag, batch["pyspark_batch"]["main_python_file_uri"]) == f"{CODE_URI}/maintain.py"
    assert batch["pyspark_batch"]["python_file_uris"] == batch_daily["pyspark_batch"]["python_file_uris"]
    assert batch["runtime_config"] == batch_daily["runtime_config"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and worker, as `make cluster-up` starts them."""
    state = tmp_path_factory.mktemp("cluster")
    port, web = json.loads(job_python("import json; from lastfm.platforms.cluster import free_port; "
                                      "print(json.dumps([free_port(), free_port()]))"))
    assert port != web
    job_command("scripts/standalone_cluster.py", "up", "--state-dir", str(state), "--port", str(port),
                "--web-port", str(web))
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
    assert ([[Path(path).parent.name for path in files] for files in ingested]
            == [["date=2026-11-01"], ["date=2026-11-02"]])

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


def delta_operations(table: Path) -> list[str]:
    """The operation of each commit of the Delta table at `table`, oldest first, from its log files."""
    commits = sorted((table / "_delta_log").glob("*.json"))
    return [json.loads(line)["commitInfo"]["operation"] for commit in commits
            for line in commit.read_text().splitlines() if '"commitInfo"' in line]


def test_the_local_maintenance_dag_compacts_the_warehouse_on_the_cluster(dagbag, cluster, tmp_path, monkeypatch):
    """A warehouse of three appends (written in the project's venv), then the maintenance DAG's run:
    OPTIMIZE, VACUUM START and VACUUM END on the table, by an application of the cluster."""
    warehouse = tmp_path / "warehouse"
    job_python("import sys; from pyspark.sql import SparkSession; "
               "spark = SparkSession.builder.master('local[2]').config('spark.ui.enabled', 'false').getOrCreate(); "
               "[spark.range(day * 10, day * 10 + 10, numPartitions=2).write.format('delta').mode('append')"
               ".save(sys.argv[1]) for day in range(3)]", str(warehouse / "plays"))
    master, web_ui = cluster
    before = json.loads(job_python("import json, sys; from lastfm.platforms.cluster import master_state; "
                                   "print(json.dumps(len(master_state(sys.argv[1])['completedapps'])))", web_ui))
    monkeypatch.setenv("AIRFLOW_CONN_LASTFM_SPARK", master)
    monkeypatch.setenv("PATH", f"{JOB_PYTHON.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYSPARK_PYTHON", str(JOB_PYTHON))
    dag = dagbag.get_dag("lastfm_maintenance_local")
    run = dag.test(logical_date=datetime(2026, 11, 29, 5, 30, tzinfo=timezone.utc),
                   run_conf={"warehouse": str(warehouse)})
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    assert delta_operations(warehouse / "plays") == ["WRITE"] * 3 + ["OPTIMIZE", "VACUUM START", "VACUUM END"]
    apps = json.loads(job_python("import json, sys; from lastfm.platforms.cluster import master_state; "
                                 "print(json.dumps(master_state(sys.argv[1])['completedapps']))", web_ui))
    assert (len(apps) == before + 1 and apps[-1]["state"] == "FINISHED"
            and apps[-1]["name"].startswith("lastfm-maintenance"))
