"""conf/<target>.conf files and how they become spark-submit flags."""

import zipfile
from pathlib import Path

import pytest

from lastfm.platforms.cluster import setup_jars, spark_home
from lastfm.platforms.targets import (
    PLATFORMS,
    TARGETS,
    conf_flags,
    jar_files,
    py_files,
    read_properties,
    target_properties,
)

REPO = Path(__file__).resolve().parent.parent


def test_read_properties_spaces_tabs_comments(tmp_path):
    path = tmp_path / "x.conf"
    path.write_text("# comment\n\nspark.a   1\nspark.b\tx y\n  spark.c  local[*]  \n")
    assert read_properties(path) == {"spark.a": "1", "spark.b": "x y", "spark.c": "local[*]"}
    path.write_text("spark.a\n")
    with pytest.raises(ValueError, match="x.conf:1: no value for 'spark.a'"):
        read_properties(path)


def test_target_overrides_defaults_and_py_files_get_their_own_flag(tmp_path):
    (tmp_path / "spark-defaults.conf").write_text("spark.a 1\nspark.b 2\n")
    (tmp_path / "emr-7.conf").write_text("spark.b 3\nspark.submit.pyFiles local:///d.jar\n")
    properties = target_properties(tmp_path, "emr-7")
    assert properties == {"spark.a": "1", "spark.b": "3", "spark.submit.pyFiles": "local:///d.jar"}
    assert conf_flags(properties) == ["--conf", "spark.a=1", "--conf", "spark.b=3"]
    assert py_files("s3://b/lastfm.zip", properties) == ["s3://b/lastfm.zip", "local:///d.jar"]
    assert py_files("lastfm.zip", {}) == ["lastfm.zip"]
    with pytest.raises(ValueError, match="unknown target 'yarn'"):
        target_properties(tmp_path, "yarn")


def test_every_target_has_a_conf_with_delta_and_no_credentials():
    for target in TARGETS:
        properties = target_properties(REPO / "conf", target)
        assert properties["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension", target
        assert not [key for key in properties
                    if any(word in key.lower() for word in ("secret", "access.key", "password", "token"))]
    assert read_properties(REPO / "conf" / "standalone.conf")["spark.master"] == "spark://127.0.0.1:7077"


SIZES = ("spark.driver.memory", "spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions",
         "spark.sql.shuffle.partitions", "spark.databricks.delta.snapshotPartitions")


def test_only_this_projects_own_machines_get_its_sizes_and_jvm_options():
    # a managed platform's JVM options and memory are its own: -XX:+UseParallelGC or a 1g driver
    # passed as --conf would replace them
    local, standalone = (target_properties(REPO / "conf", t) for t in ("local", "standalone"))
    assert local["spark.driver.memory"] == standalone["spark.driver.memory"] == "1g"
    assert local["spark.master"] == "local[*]" and standalone["spark.master"] == "spark://127.0.0.1:7077"
    for platform in PLATFORMS:
        properties = target_properties(REPO / "conf", platform)
        assert properties.get("spark.sql.shuffle.partitions") == "200", platform  # the platform conf's own
        assert not [key for key in SIZES[:-2] if key in properties], platform
        assert "spark.databricks.delta.snapshotPartitions" not in properties, platform


def test_the_venvs_spark_defaults_are_the_local_target_and_the_lines_delta_jars():
    written = read_properties(spark_home() / "conf" / "spark-defaults.conf")  # by make setup
    jars = written.pop("spark.jars").split(",")
    assert written == target_properties(REPO / "conf", "local")
    assert sorted(jars) == jar_files(setup_jars("delta"))


def test_each_platform_conf_takes_the_delta_of_the_spark_line_tested_here(spark_lines):
    assert set(PLATFORMS.values()) <= set(spark_lines)
    for platform, line in PLATFORMS.items():
        conf = read_properties(REPO / "conf" / f"{platform}.conf")
        _, delta_version, delta_artifact = spark_lines[line][:3]
        if platform.startswith("dataproc-"):  # no Delta on the image: the line's package, right Scala
            assert conf["spark.jars.packages"] == f"io.delta:{delta_artifact}:{delta_version}", platform
        else:  # EMR: Delta on the image, its jar also on the Python path (the `delta` package)
            assert conf["spark.jars"] == ("/usr/share/aws/delta/lib/delta-spark.jar,"
                                          "/usr/share/aws/delta/lib/delta-storage.jar")
            assert conf["spark.submit.pyFiles"] == "local:///usr/share/aws/delta/lib/delta-spark.jar"


def test_jar_files_sorted_per_folder(tmp_path):
    for name in ("b.jar", "a.jar", "notes.txt"):
        (tmp_path / "one").mkdir(exist_ok=True)
        (tmp_path / "one" / name).write_text("")
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "0.jar").write_text("")
    assert jar_files(tmp_path / "one", tmp_path / "two") == [
        str(tmp_path / "one" / "a.jar"), str(tmp_path / "one" / "b.jar"), str(tmp_path / "two" / "0.jar")]


def test_s3_jars_match_pyspark_hadoop():  # on every Spark line (make setup SPARK=...)
    import pyspark

    pyspark_jars = [p.name for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")]
    (hadoop,) = [n.removeprefix("hadoop-client-api-") for n in pyspark_jars if n.startswith("hadoop-client-api-")]
    names = [Path(j).name for j in jar_files(setup_jars("s3"))]
    assert f"hadoop-aws-{hadoop}" in names
    # the S3 client modules, not the SDK's shaded bundles (v2: bundle, 641 MB; v1: aws-java-sdk-bundle, 280 MB)
    assert [n for n in names if n.startswith(("s3-2.", "aws-java-sdk-s3-1."))]
    assert not [n for n in names if "bundle" in n]
    # no class pyspark already ships (netty, httpclient, jackson, slf4j...), in another version:
    # compared by class, since file names clash across groups (AWS's and JetBrains' `annotations`)
    def classes(jars):
        return {name for jar in jars for name in zipfile.ZipFile(jar).namelist()
                if name.endswith(".class") and not name.startswith("META-INF/")
                and not name.endswith("module-info.class")}

    assert not (classes(jar_files(setup_jars("s3")))
                & classes(sorted((Path(pyspark.__file__).parent / "jars").glob("*.jar"))))
