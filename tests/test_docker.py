"""docker/: no Docker engine runs here, so the Dockerfile is linted (hadolint) and the compose
file is checked for agreeing with itself, the Dockerfile, conf/ and the job's arguments."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from lastfm.commands.top_tracks import parse_args
from lastfm.platforms.cluster import MASTER_CLASS, WORKER_CLASS

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "docker" / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())


def option(command, name):
    return command[command.index(name) + 1]


def test_dockerfile_passes_hadolint():
    result = subprocess.run([str(Path(sys.executable).parent / "hadolint"), str(REPO / "docker" / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_pins_the_default_spark_line(spark_lines):
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert len(bases) == 2 and all(re.search(r":\d+\.\d+", base) for base in bases), bases
    pyspark_version, delta_version, delta_artifact, s3_pom, hadoop_version, sdk_version = spark_lines["default"]
    assert f'"pyspark=={pyspark_version}" "delta-spark=={delta_version}"' in DOCKERFILE
    # the image resolves the jars with the poms' defaults: those must be the default line's
    pom = (REPO / "conf" / "jars.pom.xml").read_text()
    assert (f"<delta.artifact>{delta_artifact}</delta.artifact>" in pom
            and f"<delta.version>{delta_version}</delta.version>" in pom)
    assert f"conf/jars.pom.xml conf/{s3_pom}.pom.xml" in DOCKERFILE
    s3 = (REPO / "conf" / f"{s3_pom}.pom.xml").read_text()
    assert (f"<hadoop.version>{hadoop_version}</hadoop.version>" in s3
            and f"<aws.sdk.version>{sdk_version}</aws.sdk.version>" in s3)
    assert "openjdk-17-jre-headless" in DOCKERFILE and "temurin-17" in DOCKERFILE
    # the jars are resolved with the same flags as `make setup`
    makefile = (REPO / "Makefile").read_text()
    for flags in ("-DincludeScope=runtime -DincludeGroupIds=io.delta",
                  "-DexcludeGroupIds=io.netty,org.slf4j,commons-logging,commons-codec,org.apache.httpcomponents,com.fasterxml.jackson.core,joda-time"):
        assert flags in DOCKERFILE and flags in makefile
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.M)
    for sources in copied:
        for source in sources.split():
            assert (REPO / source).exists(), source


def test_compose_mirrors_the_test_topology():
    services = COMPOSE["services"]
    assert set(services) == {"master", "worker", "submit"}
    assert len({s["image"] for s in services.values()}) == 1
    assert services["master"]["build"]["dockerfile"] == "docker/Dockerfile"
    assert (REPO / "docker" / services["master"]["build"]["context"] / "docker" / "Dockerfile").exists()

    master, worker, submit = (services[name]["command"] for name in ("master", "worker", "submit"))
    assert master[:2] == ["spark-class", MASTER_CLASS] and worker[:2] == ["spark-class", WORKER_CLASS]
    url = f"spark://{option(master, '--host')}:{option(master, '--port')}"
    assert worker[-1] == url and option(submit, "--master") == url
    assert services["master"]["hostname"] == option(master, "--host")
    assert services["worker"]["depends_on"] == ["master"] and services["submit"]["depends_on"] == ["worker"]
    assert services["master"]["ports"] == [f"{option(master, '--webui-port')}:{option(master, '--webui-port')}"]

    # the submit service runs the zip and entrypoint the image holds, with the standalone conf
    assert submit[0] == "spark-submit"
    assert option(submit, "--py-files") == "dist/lastfm.zip" and "--output dist/lastfm.zip" in DOCKERFILE
    assert (REPO / option(submit, "--properties-file")).exists()
    assert option(submit, "--conf") == f"spark.driver.host={services['submit']['hostname']}"
    entrypoint = submit.index("jobs/top_tracks.py")
    assert (REPO / submit[entrypoint]).exists() and "COPY jobs/ jobs/" in DOCKERFILE
    config = parse_args(submit[entrypoint + 1:])
    # executors (worker) and driver (submit) see the same files at the same paths
    assert services["worker"]["volumes"] == services["submit"]["volumes"] == ["../data:/data"]
    assert all(path.startswith("/data/") for path in (config.input, config.output, config.warehouse))
    assert option(worker, "--work-dir") == "/opt/lastfm/work" and "mkdir -p /data /opt/lastfm/work" in DOCKERFILE
