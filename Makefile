# Run `make help` for the list of targets.
SHELL := /bin/bash

# The Spark line to set up and test (docs/platforms.md): 4.1 (the default, .venv), 4.0 or 3.5
# (.venv-spark4.0, .venv-spark3.5). One row per line, the only place versions are pinned:
#   pyspark  delta-spark  Delta's Maven artifact  S3 pom  hadoop-aws (= pyspark's Hadoop)  AWS SDK
SPARK ?= 4.1
LINE_4.1 := 4.1.4 4.4.0 delta-spark_4.1_2.13 jars-s3 3.4.2 2.29.52
LINE_4.0 := 4.0.1 4.0.0 delta-spark_2.13 jars-s3 3.4.1 2.29.52
LINE_3.5 := 3.5.7 3.3.2 delta-spark_2.12 jars-s3-sdk1 3.3.4 1.12.262
LINE := $(or $(LINE_$(SPARK)),$(error SPARK=$(SPARK): one of 4.1, 4.0, 3.5))
PYSPARK_VERSION := $(word 1,$(LINE))
DELTA_VERSION := $(word 2,$(LINE))
DELTA_ARTIFACT := $(word 3,$(LINE))
S3_POM := conf/$(word 4,$(LINE)).pom.xml
MAVEN_VERSIONS := -Ddelta.artifact=$(DELTA_ARTIFACT) -Ddelta.version=$(DELTA_VERSION) \
                  -Dhadoop.version=$(word 5,$(LINE)) -Daws.sdk.version=$(word 6,$(LINE))
VENV ?= $(if $(filter 4.1,$(SPARK)),.venv,.venv-spark$(SPARK))
PYTHON := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
# Delta's jars, in every spark.jars of the line's venv; s3a:// support (hadoop-aws and the AWS
# SDK it needs) is not, so a submit that needs it passes --jars $(ALL_JARS) (Delta + S3)
JARS := $(CURDIR)/$(VENV)/jars/delta
JARS_S3 := $(CURDIR)/$(VENV)/jars/s3
ALL_JARS = $$(ls $(JARS)/*.jar $(JARS_S3)/*.jar | paste -sd, -)
CLUSTER_DIR := $(CURDIR)/.cache/cluster
CLUSTER_PORT ?= 7077
INPUT ?= $(SAMPLE)
OUTPUT ?= $(OUT)/cluster/most_played_tracks.tsv
WAREHOUSE ?= $(OUT)/cluster/warehouse
DATA ?= data
SAMPLE_ROWS ?= 1000000
SAMPLE := $(DATA)/sample/plays-$(SAMPLE_ROWS).tsv
REAL_DIR := $(DATA)/real
OUT := $(DATA)/out
SPARK_SUBMIT := PATH=$(BIN):$$PATH $(BIN)/spark-submit
SETUP_STAMP := $(VENV)/.setup-done
# Airflow 3 and its providers, for the daily DAGs (scripts/airflow) and their tests: a venv of its own
# (2.2 GB, mostly the google provider's dependencies), never needed by `make run` or `make test`
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.setup-done

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast test-line airflow test-airflow lint clean browser fonts fetch-data run-real package cluster-up cluster-down run-cluster bench maintain

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: $(SETUP_STAMP) fonts ## venv, package (editable, with test extras), Delta and S3 jars, the report's CJK font; idempotent

$(SETUP_STAMP): Makefile setup.py conf/jars.pom.xml $(S3_POM) conf/spark-defaults.conf conf/local.conf conf/log4j2.properties
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]' 'pyspark==$(PYSPARK_VERSION)' 'delta-spark==$(DELTA_VERSION)'
	rm -rf $(JARS)
	mvn --batch-mode --quiet -f conf/jars.pom.xml dependency:copy-dependencies $(MAVEN_VERSIONS) \
	    -DincludeScope=runtime -DincludeGroupIds=io.delta -DoutputDirectory=$(JARS)
	rm -rf $(JARS_S3)
	mvn --batch-mode --quiet -f $(S3_POM) dependency:copy-dependencies $(MAVEN_VERSIONS) -DincludeScope=runtime \
	    -DexcludeGroupIds=io.netty,org.slf4j,commons-logging,commons-codec,org.apache.httpcomponents,com.fasterxml.jackson.core,joda-time \
	    -DoutputDirectory=$(JARS_S3)
	spark_conf=$$($(PYTHON) -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "conf"))') \
	  && mkdir -p $$spark_conf \
	  && { cat conf/spark-defaults.conf conf/local.conf; echo "spark.jars $$(ls $(JARS)/*.jar | paste -sd, -)"; } \
	     > $$spark_conf/spark-defaults.conf \
	  && cp conf/log4j2.properties $$spark_conf/log4j2.properties
	touch $@

$(SAMPLE): | $(SETUP_STAMP)
	$(PYTHON) scripts/generate_sample.py --rows $(SAMPLE_ROWS) --output $@

run: $(SETUP_STAMP) fonts $(SAMPLE) ## the job on a generated 1M-row sample (SAMPLE_ROWS=...)
	$(SPARK_SUBMIT) jobs/top_tracks.py --input $(SAMPLE) \
	    --output $(OUT)/most_played_tracks.tsv --warehouse $(OUT)/warehouse

# `make maintain`: the warehouse of `make run` unless WAREHOUSE is given (its default above is the cluster's)
MAINTAIN_WAREHOUSE = $(if $(filter command line environment,$(origin WAREHOUSE)),$(WAREHOUSE),$(OUT)/warehouse)
RETENTION_HOURS ?= 168
MAINTAIN_ARGS ?=

maintain: $(SETUP_STAMP) ## OPTIMIZE + VACUUM a warehouse's tables (WAREHOUSE=..., default `make run`'s; RETENTION_HOURS=168; MAINTAIN_ARGS=--allow-short-retention)
	$(SPARK_SUBMIT) jobs/maintain.py --warehouse $(MAINTAIN_WAREHOUSE) --retention-hours $(RETENTION_HOURS) $(MAINTAIN_ARGS)

BENCH_STAMP := $(VENV)/.bench-done
BENCH_ARGS ?=

$(BENCH_STAMP): setup.py | $(SETUP_STAMP)
	$(PYTHON) -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(SETUP_STAMP) $(BENCH_STAMP) ## the job vs DuckDB on 19.15M generated rows (BENCH_ARGS="--rows 1000000 5000000 --plot")
	$(PYTHON) scripts/benchmark.py $(BENCH_ARGS)

# Two workers (pytest-xdist), the tests dealt out one by one, those sharing a cluster or a built
# warehouse (xdist_group) kept together.
test: $(SETUP_STAMP) fonts browser ## the whole suite, slow tests included, on two workers
	$(PYTHON) -m pytest -n 2 --dist loadgroup

test-fast: $(SETUP_STAMP) ## the fast tests only
	$(PYTHON) -m pytest -m "not slow"

lint: $(SETUP_STAMP) ## ruff on every Python file (conf/ruff.toml says which rules); changes nothing
	$(BIN)/ruff check --config conf/ruff.toml lastfm jobs scripts tests setup.py

# The tests of what runs no Spark (the dataset fetch, docker/, the cloud submissions) run once, on
# the default line. Its own temporary folder (outside the checkout, as the cluster tests want),
# so that it can run beside `make test` (.ci/run).
test-line: $(SETUP_STAMP) ## the fast tests and the end-to-end answers vs DuckDB: what CI runs on SPARK=3.5 and 4.0
	$(PYTHON) -m pytest -m "not slow or e2e" --ignore=tests/test_dataset.py --ignore=tests/test_docker.py \
	    --ignore=tests/test_cloud.py --basetemp="$$(mktemp -d)/pytest"

airflow: $(AIRFLOW_STAMP) ## .venv-airflow: Airflow 3 + the amazon, google, apache-spark providers (scripts/airflow/requirements.txt)

$(AIRFLOW_STAMP): scripts/airflow/requirements.txt
	test -x $(AIRFLOW_VENV)/bin/python || python3 -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r scripts/airflow/requirements.txt
	touch $@

# In the Airflow venv, without the suite's Spark fixtures (tests/conftest.py): the DAGs, and the local
# DAG's two days on a standalone cluster, whose job runs in the project's venv.
test-airflow: $(AIRFLOW_STAMP) $(SETUP_STAMP) package ## the daily DAGs' tests, in .venv-airflow
	$(AIRFLOW_VENV)/bin/python -m pytest tests/airflow --confcutdir=tests/airflow -p no:cacheprovider

package: $(SETUP_STAMP) ## dist/lastfm.zip (for --py-files) and a wheel, for clusters
	$(PYTHON) scripts/package_zip.py --output dist/lastfm.zip
	$(PYTHON) -m pip wheel --quiet --no-deps --wheel-dir dist .

cluster-up: $(SETUP_STAMP) ## a standalone master + worker on 127.0.0.1:7077 (CLUSTER_PORT; UI :8080), in the background
	$(PYTHON) scripts/standalone_cluster.py up --state-dir $(CLUSTER_DIR) --port $(CLUSTER_PORT) --web-port 8080

cluster-down: ## stop the `make cluster-up` processes (by their pids)
	$(PYTHON) scripts/standalone_cluster.py down --state-dir $(CLUSTER_DIR)

run-cluster: $(SETUP_STAMP) $(SAMPLE) package ## the job on the `make cluster-up` cluster (INPUT/OUTPUT/WAREHOUSE may be s3a://)
	$(SPARK_SUBMIT) --master spark://127.0.0.1:$(CLUSTER_PORT) \
	    --properties-file conf/standalone.conf --load-spark-defaults --jars "$(ALL_JARS)" \
	    --py-files dist/lastfm.zip jobs/top_tracks.py \
	    --input $(INPUT) --output $(OUTPUT) --warehouse $(WAREHOUSE)

# The report names CJK artists and songs; matplotlib's own font has no glyph for them.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
fonts: $(SETUP_STAMP) ## Debian's fonts-wqy-microhei (CJK glyphs for the report; apt-get, root; skipped when present)
	test -f $(CJK_FONT) || { apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei; }
	$(PYTHON) -c 'from lastfm.quality.report import refresh_fonts; assert refresh_fonts(), "no CJK font for matplotlib"'

browser: ## Debian's chromium for the report rendering test (apt-get, root; skipped when present)
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

fetch-data: $(SETUP_STAMP) ## download, verify and extract the real Last.fm 1K TSVs into $(DATA)/real (URL=..., UPLOAD=s3://...)
	$(PYTHON) scripts/fetch_dataset.py --dest $(REAL_DIR) $(if $(URL),--url $(URL)) $(if $(UPLOAD),--upload $(UPLOAD))

run-real: fetch-data ## fetch if needed, then the job on the real file; checks the published answer
	$(SPARK_SUBMIT) jobs/top_tracks.py --input $(REAL_DIR)/userid-timestamp-artid-artname-traid-traname.tsv \
	    --output $(OUT)/real/most_played_tracks.tsv --warehouse $(OUT)/real/warehouse

clean: ## remove generated data and build output (keeps the venv and jars)
	rm -rf $(DATA) dist build *.egg-info spark-warehouse
