"""Daily top tracks on Google Cloud Dataproc Serverless (DataprocCreateBatchOperator), and the
weekly maintenance of its warehouse (jobs/maintain.py, DAG lastfm_maintenance_dataproc).

Expects in GCS, under the Variable `lastfm_code_uri` (e.g. gs://my-bucket/lastfm/code): lastfm.zip,
top_tracks.py and maintain.py (`make package`, then `gcloud storage cp dist/lastfm.zip
jobs/top_tracks.py jobs/maintain.py <uri>/`); the Variables `lastfm_gcp_project` and `lastfm_gcp_region`, and the
`google_cloud_default` connection (Composer: the environment's service account). Runtime 3.0
(Spark 4.0; Delta from Maven Central, `io.delta:delta-spark_2.13:4.0.0`). Spark settings:
conf/dataproc-serverless-3.0.conf and conf/spark-defaults.conf (kept equal by
tests/airflow/test_dags.py). Both DAGs' batches take the slot of the pool `lastfm_warehouse`
(create it first: lastfm_daily.py says how); the operator waits for its batch, so the slot is held
for the whole of it.
"""

from __future__ import annotations

from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator

from lastfm_daily import (
    JOB_ARGUMENTS,
    MAINTENANCE_ARGUMENTS,
    SPARK_DEFAULTS,
    WAREHOUSE_POOL,
    daily_dag,
    data_interval,
    maintenance_dag,
)

CODE = "{{ var.value.lastfm_code_uri }}"
RUNTIME = "3.0"
# conf/spark-defaults.conf + conf/dataproc-serverless-3.0.conf
SPARK_CONF = {
    **SPARK_DEFAULTS,
    "spark.jars.packages": "io.delta:delta-spark_2.13:4.0.0",
    "spark.sql.shuffle.partitions": "200",
}

WAREHOUSE = "gs://my-bucket/lastfm/warehouse"

with daily_dag("lastfm_daily_dataproc", "Top tracks of the longest Last.fm sessions, daily, on Dataproc Serverless",
               __doc__, input_uri="gs://my-bucket/lastfm/landing/", output_uri="gs://my-bucket/lastfm/out/top.tsv",
               warehouse_uri=WAREHOUSE) as dag:
    batch = DataprocCreateBatchOperator(
        task_id="create_batch",
        project_id="{{ var.value.lastfm_gcp_project }}",
        region="{{ var.value.lastfm_gcp_region }}",
        # a new batch id per attempt: a retry submits a new batch, never waits on the failed one
        batch_id_prefix="lastfm-daily-{{ data_interval_start | ds_nodash }}",
        batch={
            "pyspark_batch": {
                "main_python_file_uri": f"{CODE}/top_tracks.py",
                "python_file_uris": [f"{CODE}/lastfm.zip"],
                "args": JOB_ARGUMENTS,
            },
            "runtime_config": {"version": RUNTIME, "properties": SPARK_CONF},
            "labels": {"job": "lastfm-daily", "data-interval-start": "{{ data_interval_start | ds_nodash }}"},
        },
        pool=WAREHOUSE_POOL,
    )
    data_interval() >> batch

with maintenance_dag("lastfm_maintenance_dataproc", "Weekly OPTIMIZE and VACUUM of the daily warehouse, on Dataproc "
                     "Serverless", __doc__, warehouse_uri=WAREHOUSE) as maintenance:
    DataprocCreateBatchOperator(
        task_id="create_batch",
        project_id="{{ var.value.lastfm_gcp_project }}",
        region="{{ var.value.lastfm_gcp_region }}",
        batch_id_prefix="lastfm-maintenance-{{ dag_run.run_after | ds_nodash }}",
        batch={
            "pyspark_batch": {
                "main_python_file_uri": f"{CODE}/maintain.py",
                "python_file_uris": [f"{CODE}/lastfm.zip"],
                "args": MAINTENANCE_ARGUMENTS,
            },
            "runtime_config": {"version": RUNTIME, "properties": SPARK_CONF},
            "labels": {"job": "lastfm-maintenance"},
        },
        pool=WAREHOUSE_POOL,
    )
