"""Daily top tracks on Amazon EMR Serverless (EmrServerlessStartJobOperator, then a sensor).

Expects in S3, under the Variable `lastfm_code_uri` (e.g. s3://my-bucket/lastfm/code): lastfm.zip
and top_tracks.py (`make package`, then `aws s3 cp dist/lastfm.zip jobs/top_tracks.py <uri>/`);
an EMR Serverless application of release emr-7.x (Spark 3.5; Delta's jars are on its image) in the
Variable `lastfm_emr_application_id`, the job's execution role in `lastfm_emr_role_arn`, where its logs go in `lastfm_logs_uri`, and the
`aws_default` connection (MWAA: the environment's role). Spark settings: conf/emr-7.conf and
conf/spark-defaults.conf (kept equal by tests/airflow/test_dags.py).
"""

from __future__ import annotations

from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator
from airflow.providers.amazon.aws.sensors.emr import EmrServerlessJobSensor

from lastfm_daily import JOB_ARGUMENTS, SPARK_DEFAULTS, daily_dag, data_interval

CODE = "{{ var.value.lastfm_code_uri }}"
# conf/spark-defaults.conf + conf/emr-7.conf, the zip first on the py-files
SPARK_CONF = {
    **SPARK_DEFAULTS,
    "spark.jars": "/usr/share/aws/delta/lib/delta-spark.jar,/usr/share/aws/delta/lib/delta-storage.jar",
    "spark.sql.shuffle.partitions": "200",
}
PY_FILES = f"{CODE}/lastfm.zip,local:///usr/share/aws/delta/lib/delta-spark.jar"

with daily_dag("lastfm_daily_emr_serverless", "Top tracks of the longest Last.fm sessions, daily, on EMR Serverless",
               __doc__, input_uri="s3://my-bucket/lastfm/landing/", output_uri="s3://my-bucket/lastfm/out/top.tsv",
               warehouse_uri="s3://my-bucket/lastfm/warehouse") as dag:
    start = EmrServerlessStartJobOperator(
        task_id="start_job_run",
        application_id="{{ var.value.lastfm_emr_application_id }}",
        execution_role_arn="{{ var.value.lastfm_emr_role_arn }}",
        name="lastfm-daily-{{ data_interval_start | ds }}",
        job_driver={"sparkSubmit": {
            "entryPoint": f"{CODE}/top_tracks.py",
            "entryPointArguments": JOB_ARGUMENTS,
            "sparkSubmitParameters": " ".join(
                [f"--conf {key}={value}" for key, value in SPARK_CONF.items()] + [f"--py-files {PY_FILES}"]),
        }},
        configuration_overrides={"monitoringConfiguration": {
            "s3MonitoringConfiguration": {"logUri": "{{ var.value.lastfm_logs_uri }}"}}},
        wait_for_completion=False,  # the sensor waits; this task's retries are for a start that failed
    )
    finished = EmrServerlessJobSensor(
        task_id="wait_for_job_run",
        application_id="{{ var.value.lastfm_emr_application_id }}",
        job_run_id=start.output,
        target_states={"SUCCESS"},
        poke_interval=60,
        timeout=2 * 60 * 60,
        mode="reschedule",
        # polling a failed job run again cannot help: it fails the DAG run; clearing that run (or the
        # next day's) starts a new job run, and --incremental picks up where the failed one stopped
        retries=0,
    )
    data_interval() >> start >> finished
