"""Daily top tracks on the standalone cluster of `make cluster-up` (SparkSubmitOperator), and the
weekly maintenance of its warehouse (jobs/maintain.py, DAG lastfm_maintenance_local).

Runs on an Airflow worker that holds this repository after `make setup` and `make package`:
`spark-submit` (the project venv's, on the worker's PATH) gets the job, dist/lastfm.zip and
conf/standalone.conf's settings; Delta's jars come from the venv's spark-defaults.conf, written by
`make setup`. The Spark connection `lastfm_spark` says where the master is, e.g.
AIRFLOW_CONN_LASTFM_SPARK=spark://127.0.0.1:7077. Both DAGs' Spark tasks take the slot of the pool
`lastfm_warehouse` (create it first: lastfm_daily.py says how).
"""

from __future__ import annotations

from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from lastfm_daily import JOB_ARGUMENTS, MAINTENANCE_ARGUMENTS, WAREHOUSE_POOL, daily_dag, data_interval, maintenance_dag

# this file in <repo>/scripts/airflow/dags/
REPO = Path(__file__).resolve().parents[3]


def standalone_conf(repo: Path) -> dict[str, str]:
    """conf/standalone.conf as --conf pairs, but the master (the connection's)."""
    pairs = (line.split(maxsplit=1) for line in (repo / "conf" / "standalone.conf").read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {key: value.strip() for key, value in pairs if key != "spark.master"}


WAREHOUSE = str(REPO / "data" / "out" / "daily" / "warehouse")

with daily_dag("lastfm_daily_local",
               "Top tracks of the longest Last.fm sessions, daily, on the local standalone cluster", __doc__,
               input_uri=str(REPO / "data" / "landing"), output_uri=str(REPO / "data" / "out" / "daily" / "top.tsv"),
               warehouse_uri=WAREHOUSE) as dag:
    top_tracks = SparkSubmitOperator(
        task_id="top_tracks",
        conn_id="lastfm_spark",
        application=str(REPO / "jobs" / "top_tracks.py"),
        py_files=str(REPO / "dist" / "lastfm.zip"),
        conf=standalone_conf(REPO),
        application_args=JOB_ARGUMENTS,
        name="lastfm-daily-{{ data_interval_start | ds }}",
        pool=WAREHOUSE_POOL,
    )
    data_interval() >> top_tracks

with maintenance_dag("lastfm_maintenance_local", "Weekly OPTIMIZE and VACUUM of the daily warehouse, on the local "
                     "standalone cluster", __doc__, warehouse_uri=WAREHOUSE) as maintenance:
    SparkSubmitOperator(
        task_id="maintain",
        conn_id="lastfm_spark",
        application=str(REPO / "jobs" / "maintain.py"),
        py_files=str(REPO / "dist" / "lastfm.zip"),
        conf=standalone_conf(REPO),
        application_args=MAINTENANCE_ARGUMENTS,
        name="lastfm-maintenance-{{ dag_run.run_after | ds }}",
        pool=WAREHOUSE_POOL,
    )
