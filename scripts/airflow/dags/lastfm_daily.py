"""What the three daily DAGs share (lastfm_daily_local.py, lastfm_daily_emr_serverless.py,
lastfm_daily_dataproc.py): the schedule, the retries, the question's params and the job's
arguments, and the same for the weekly maintenance DAG each of those files defines beside its
daily one. Deploy this file beside the DAG files (Airflow puts the DAG folder on sys.path); it
defines no DAG itself.

Every run is `jobs/top_tracks.py --incremental`: it ingests the files under --input that the
warehouse has not ingested yet, so a run, its retry, or a run after days of outage all end with the
tables and the TSV a full run over the same files gives (README "Scheduling"). Every maintenance run
is `jobs/maintain.py`: OPTIMIZE and VACUUM of the warehouse's tables (docs/scheduling.md
"Maintenance"). The two never run at the same time: their Spark tasks share the one slot of the
pool WAREHOUSE_POOL, which must exist before either DAG runs (a task of a missing pool is never
scheduled; Airflow shows a DAG warning):

    airflow pools set lastfm_warehouse 1 "one Spark job on the Last.fm warehouse at a time"
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, CronTriggerTimetable, Param, task

# One run a day, at 01:00 UTC, for the day before: a CronDataIntervalTimetable, so that each run's
# data interval is that day (Airflow 3's "@daily" is a CronTriggerTimetable, whose interval is
# empty). Files of the day land under --input before then; the job takes whatever has landed.
SCHEDULE = CronDataIntervalTimetable("0 1 * * *", timezone="UTC")
START = datetime(2026, 11, 1)

# A failed run is retried: --incremental finishes what a dead run left (a batch without its
# rejects), ingests nothing twice, and a run that finds nothing new leaves the TSV as it is. Exit 4
# (another run changed the warehouse at the same time) is worth a retry too.
DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=10),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=2),
}
DAG_ARGS = {
    "schedule": SCHEDULE,
    "start_date": START,
    "catchup": False,  # a missed day needs no run of its own: the next run ingests its files too
    "max_active_runs": 1,  # one warehouse, one writer at a time
    "dagrun_timeout": timedelta(hours=4),
    "default_args": DEFAULT_ARGS,
    "tags": ["lastfm", "spark", "delta"],
}


def daily_dag(dag_id: str, description: str, doc: str, input_uri: str, output_uri: str, warehouse_uri: str) -> DAG:
    """A daily DAG with the shared schedule and retries, and these defaults for where the job reads
    and writes (params, overridable per run, like the question's)."""
    params = {
        "input": Param(input_uri, type="string", description="the landing folder of the daily files (--input)"),
        "output": Param(output_uri, type="string", description="the TSV deliverable (--output)"),
        "warehouse": Param(warehouse_uri, type="string", description="the Delta tables' folder (--warehouse)"),
        "session_gap_minutes": Param(20, type="number", minimum=0),
        "top_sessions": Param(50, type="integer", minimum=1),
        "top_tracks": Param(10, type="integer", minimum=1),
    }
    return DAG(dag_id=dag_id, description=description, doc_md=doc, params=params, **DAG_ARGS)


# One Spark job on the warehouse at a time: the daily job's tasks and the maintenance's take the one
# slot of this pool (a pool of 1 slot, created by the operator: see the docstring), so neither starts
# while the other runs, whatever triggered it (schedule, retry, a cleared or manual run).
WAREHOUSE_POOL = "lastfm_warehouse"

# Maintenance once a week, Sunday 05:30 UTC: after the day's run of 01:00 has ended (its dagrun_timeout
# is 4 h) and long before the next (its own is 3 h); the pool keeps any other overlap out. A cron
# trigger: a maintenance run covers no data interval.
MAINTENANCE_SCHEDULE = CronTriggerTimetable("30 5 * * 0", timezone="UTC")
MAINTENANCE_DAG_ARGS = {
    "schedule": MAINTENANCE_SCHEDULE,
    "start_date": START,
    "catchup": False,  # a missed week needs no run of its own: the next one compacts it too
    "max_active_runs": 1,
    "dagrun_timeout": timedelta(hours=3),
    # retried like the daily run: exit 4 (a commit of another run conflicted) is worth a retry, and
    # OPTIMIZE and VACUUM run again do only what is left
    "default_args": {**DEFAULT_ARGS, "execution_timeout": timedelta(hours=2)},
    "tags": ["lastfm", "spark", "delta", "maintenance"],
}


def maintenance_dag(dag_id: str, description: str, doc: str, warehouse_uri: str) -> DAG:
    """A weekly maintenance DAG with the shared schedule and retries, for the warehouse of the daily
    DAG beside it (a param, overridable per run)."""
    params = {
        "warehouse": Param(warehouse_uri, type="string", description="the Delta tables' folder (--warehouse)"),
        # never below Delta's safety check: a shorter retention is for a person, with nothing else
        # running (jobs/maintain.py --allow-short-retention)
        "retention_hours": Param(168, type="integer", minimum=168,
                                 description="VACUUM keeps the files of the versions of this many hours "
                                             "(--retention-hours)"),
    }
    return DAG(dag_id=dag_id, description=description, doc_md=doc, params=params, **MAINTENANCE_DAG_ARGS)


# conf/spark-defaults.conf: what every platform's Spark gets (each DAG adds its platform's conf file)
SPARK_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.ui.showConsoleProgress": "false",  # a task log is no terminal
    "spark.hadoop.parquet.enable.dictionary#artist_id": "false",
    "spark.hadoop.parquet.enable.dictionary#track_id": "false",
    "spark.hadoop.parquet.enable.dictionary#artist_name": "false",
    "spark.hadoop.parquet.enable.dictionary#track_name": "false",
}

# The job's arguments, rendered from the params when the task runs (checked against the job's own
# parser by tests/airflow/test_dags.py).
JOB_ARGUMENTS = [
    "--input", "{{ params.input }}",
    "--output", "{{ params.output }}",
    "--warehouse", "{{ params.warehouse }}",
    "--session-gap-minutes", "{{ params.session_gap_minutes }}",
    "--top-sessions", "{{ params.top_sessions }}",
    "--top-tracks", "{{ params.top_tracks }}",
    "--incremental",
]

# jobs/maintain.py's arguments, rendered from the maintenance DAG's params (checked against its parser
# by tests/airflow/test_dags.py)
MAINTENANCE_ARGUMENTS = [
    "--warehouse", "{{ params.warehouse }}",
    "--retention-hours", "{{ params.retention_hours }}",
]


@task
def data_interval(data_interval_start=None, data_interval_end=None) -> dict:
    """Log the day the run covers, and refuse an empty interval (a timetable that has none)."""
    if data_interval_start is None or data_interval_start >= data_interval_end:
        raise ValueError(f"empty data interval [{data_interval_start}, {data_interval_end}): "
                         "schedule the DAG with a CronDataIntervalTimetable")
    covered = {"start": data_interval_start.isoformat(), "end": data_interval_end.isoformat()}
    print(f"this run covers the plays landed for [{covered['start']}, {covered['end']})")
    return covered
