# Run `make help` for the list of targets.
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
JARS := $(CURDIR)/.cache/jars
DATA ?= data
SAMPLE_ROWS ?= 1000000
SAMPLE := $(DATA)/sample/plays-$(SAMPLE_ROWS).tsv
OUT := $(DATA)/out
SPARK_SUBMIT := PATH=$(BIN):$$PATH $(BIN)/spark-submit
SETUP_STAMP := $(VENV)/.setup-done

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: $(SETUP_STAMP) ## venv, package (editable, with test extras) and Delta jars; idempotent

$(SETUP_STAMP): setup.py conf/jars.pom.xml conf/spark-defaults.conf conf/log4j2.properties
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	rm -rf $(JARS)
	mvn --batch-mode --quiet -f conf/jars.pom.xml dependency:copy-dependencies \
	    -DincludeScope=runtime -DincludeGroupIds=io.delta -DoutputDirectory=$(JARS)
	spark_conf=$$($(PYTHON) -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "conf"))') \
	  && mkdir -p $$spark_conf \
	  && { cat conf/spark-defaults.conf; echo "spark.jars $$(ls $(JARS)/*.jar | paste -sd, -)"; } \
	     > $$spark_conf/spark-defaults.conf \
	  && cp conf/log4j2.properties $$spark_conf/log4j2.properties
	touch $@

$(SAMPLE): | $(SETUP_STAMP)
	$(PYTHON) scripts/generate_sample.py --rows $(SAMPLE_ROWS) --output $@

run: $(SETUP_STAMP) $(SAMPLE) ## the job on a generated 1M-row sample (SAMPLE_ROWS=...)
	$(SPARK_SUBMIT) jobs/top_tracks.py --input $(SAMPLE) \
	    --output $(OUT)/most_played_tracks.tsv --warehouse $(OUT)/warehouse

test: $(SETUP_STAMP) ## the whole suite, slow tests included
	$(PYTHON) -m pytest

test-fast: $(SETUP_STAMP) ## the fast tests only
	$(PYTHON) -m pytest -m "not slow"

clean: ## remove generated data and build output (keeps the venv and jars)
	rm -rf $(DATA) dist build *.egg-info spark-warehouse
