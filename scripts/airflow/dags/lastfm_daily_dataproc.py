"""Daily top tracks on Google Cloud Dataproc Serverless (DataprocCreateBatchOperator).

Expects in GCS, under the Variable `lastfm_code_uri` (e.g. gs://my-bucket/lastfm/code): lastfm.zip
and top_tracks.py (`make package`, then `gcloud storage cp dist/lastfm.zip jobs/top_tracks.py
<uri>/`); the Variables `lastfm_gcp_project` and `lastfm_gcp_region`, and the
`google_cloud_default` connection (Composer: the environment's service account). Runtime 3.0
(Spark 4.0; Delta from Maven Central, `io.delta:delta-spark_2.13:4.0.0`). Spark settings:
conf/dataproc-serverless-3.0.conf and conf/spark-defaults.conf (kept equal by
tests/airflow/test_dags.py).
"""

from __future__ import annotations

from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator

from lastfm_daily import JOB_ARGUMENTS, SPARK_DEFAULTS, daily_dag, data_interval

CODE = "{{ var.value.lastfm_code_uri }}"
RUNTIME = "3.0"
# conf/spark-defaults.conf + conf/dataproc-serverless-3.0.conf
SPARK_CONF = {
    **SPARK_DEFAULTS,
    "spark.jars.packages": "io.delta:delta-spark_2.13:4.0.0",
    "spark.sql.shuffle.partitions": "200",
}

with daily_dag("lastfm_daily_dataproc", "Top tracks of the longest Last.fm sessions, daily, on Dataproc Serverless",
               __doc__, input_uri="gs://my-bucket/lastfm/landing/", output_uri="gs://my-bucket/lastfm/out/top.tsv",
               warehouse_uri="gs://my-bucket/lastfm/warehouse") as dag:
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
    )
    data_interval() >> batch
