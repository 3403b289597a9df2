"""Daily top tracks on Amazon EMR Serverless (EmrServerlessStartJobOperator, then a sensor), and the
weekly maintenance of its warehouse (jobs/maintain.py, DAG lastfm_maintenance_emr_serverless).

Expects in S3, under the Variable `lastfm_code_uri` (e.g. s3://my-bucket/lastfm/code): lastfm.zip,
top_tracks.py and maintain.py (`make package`, then `aws s3 cp` of dist/lastfm.zip,
jobs/top_tracks.py and jobs/maintain.py, each, to `<uri>/`);
an EMR Serverless application of release emr-7.x (Spark 3.5; Delta's jars are on its image) in the
Variable `lastfm_emr_application_id`, the job's execution role in `lastfm_emr_role_arn`, where its
logs go in `lastfm_logs_uri`, and the `aws_default` connection (MWAA: the environment's role).
Spark settings: conf/emr-7.conf and conf/spark-defaults.conf (kept equal by
tests/airflow/test_dags.py). Both DAGs' tasks that span a job run take the slot of the pool
`lastfm_warehouse` (create it first: lastfm_daily.py says how).
"""

from __future__ import annotations

from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator
from airflow.providers.amazon.aws.sensors.emr import EmrServerlessJobSensor

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
# conf/spark-defaults.conf + conf/emr-7.conf, the zip first on the py-files
SPARK_CONF = {
    **SPARK_DEFAULTS,
    "spark.jars": "/usr/share/aws/delta/lib/delta-spark.jar,/usr/share/aws/delta/lib/delta-storage.jar",
    "spark.sql.shuffle.partitions": "200",
}
PY_FILES = f"{CODE}/lastfm.zip,local:///usr/share/aws/delta/lib/delta-spark.jar"
WAREHOUSE = "s3://my-bucket/lastfm/warehouse"
SPARK_SUBMIT_PARAMETERS = " ".join([f"--conf {key}={value}" for key, value in SPARK_CONF.items()]
                                   + [f"--py-files {PY_FILES}"])
MONITORING = {"monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "{{ var.value.lastfm_logs_uri }}"}}}

with daily_dag("lastfm_daily_emr_serverless", "Top tracks of the longest Last.fm sessions, daily, on EMR Serverless",
               __doc__, input_uri="s3://my-bucket/lastfm/landing/", output_uri="s3://my-bucket/lastfm/out/top.tsv",
               warehouse_uri=WAREHOUSE) as dag:
    start = EmrServerlessStartJobOperator(
        task_id="start_job_run",
        application_id="{{ var.value.lastfm_emr_application_id }}",
        execution_role_arn="{{ var.value.lastfm_emr_role_arn }}",
        name="lastfm-daily-{{ data_interval_start | ds }}",
        job_driver={"sparkSubmit": {
            "entryPoint": f"{CODE}/top_tracks.py",
            "entryPointArguments": JOB_ARGUMENTS,
            "sparkSubmitParameters": SPARK_SUBMIT_PARAMETERS,
        }},
        configuration_overrides=MONITORING,
        wait_for_completion=False,  # the sensor waits; this task's retries are for a start that failed
        pool=WAREHOUSE_POOL,
    )
    finished = EmrServerlessJobSensor(
        task_id="wait_for_job_run",
        application_id="{{ var.value.lastfm_emr_application_id }}",
        job_run_id=start.output,
        target_states={"SUCCESS"},
        poke_interval=60,
        timeout=2 * 60 * 60,
        # "poke", not "reschedule": the sensor holds the pool's slot while the job run lasts (a sensor
        # waiting to be rescheduled holds none, and maintenance could start beside the job run),
        # at the cost of a worker slot for as long
        mode="poke",
        pool=WAREHOUSE_POOL,
        # polling a failed job run again cannot help: it fails the DAG run; clearing that run (or the
        # next day's) starts a new job run, and --incremental picks up where the failed one stopped
        retries=0,
    )
    data_interval() >> start >> finished

with maintenance_dag("lastfm_maintenance_emr_serverless", "Weekly OPTIMIZE and VACUUM of the daily warehouse, on EMR "
                     "Serverless", __doc__, warehouse_uri=WAREHOUSE) as maintenance:
    # one task that waits for its job run, holding the pool's slot until the run ends; a retry (a
    # failed run, or exit 4) starts a new run, which does what is left
    EmrServerlessStartJobOperator(
        task_id="maintain",
        application_id="{{ var.value.lastfm_emr_application_id }}",
        execution_role_arn="{{ var.value.lastfm_emr_role_arn }}",
        name="lastfm-maintenance-{{ dag_run.run_after | ds }}",
        job_driver={"sparkSubmit": {
            "entryPoint": f"{CODE}/maintain.py",
            "entryPointArguments": MAINTENANCE_ARGUMENTS,
            "sparkSubmitParameters": SPARK_SUBMIT_PARAMETERS,
        }},
        configuration_overrides=MONITORING,
        wait_for_completion=True,
        waiter_delay=60,
        waiter_max_attempts=120,  # 2 h, the task's execution_timeout
        pool=WAREHOUSE_POOL,
    )
