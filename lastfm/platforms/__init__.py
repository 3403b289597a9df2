"""Where the job runs and what it runs on: the entry points' SparkSession (session), per-target
Spark settings (targets), the standalone cluster and the --py-files zip (cluster), EMR and
Dataproc submission (cloud), the real dataset's fetch (dataset). Only jobs/ imports `session`;
the rest are operator tools, and the pipeline imports none of them."""
