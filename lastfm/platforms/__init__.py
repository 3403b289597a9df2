"""Where the job runs and what it runs on: per-target Spark settings (targets), the standalone
cluster and the --py-files zip (cluster), EMR and Dataproc submission (cloud), the real dataset's
fetch (dataset). Operator tools: the job itself imports none of them."""
