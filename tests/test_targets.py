"""conf/<target>.conf files and how they become spark-submit flags."""

from pathlib import Path

import pytest

from lastfm.targets import TARGETS, conf_flags, jar_files, py_files, read_properties, target_properties

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
    (tmp_path / "emr.conf").write_text("spark.b 3\nspark.submit.pyFiles local:///d.jar\n")
    properties = target_properties(tmp_path, "emr")
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
        assert not [key for key in properties if any(word in key.lower() for word in ("secret", "access.key", "password", "token"))]
    assert "delta-spark.jar" in read_properties(REPO / "conf" / "emr.conf")["spark.jars"]
    assert read_properties(REPO / "conf" / "dataproc.conf")["spark.jars.packages"] == "io.delta:delta-spark_2.12:3.3.2"
    assert read_properties(REPO / "conf" / "standalone.conf")["spark.master"] == "spark://127.0.0.1:7077"


def test_jar_files_sorted_per_folder(tmp_path):
    for name in ("b.jar", "a.jar", "notes.txt"):
        (tmp_path / "one").mkdir(exist_ok=True)
        (tmp_path / "one" / name).write_text("")
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "0.jar").write_text("")
    assert jar_files(tmp_path / "one", tmp_path / "two") == [
        str(tmp_path / "one" / "a.jar"), str(tmp_path / "one" / "b.jar"), str(tmp_path / "two" / "0.jar")]


def test_s3_jars_match_pyspark_hadoop():
    import pyspark

    pyspark_jars = [p.name for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")]
    assert [n for n in pyspark_jars if n.startswith("hadoop-client-api-")] == ["hadoop-client-api-3.4.2.jar"]
    names = [Path(j).name for j in jar_files(REPO / ".cache" / "jars-s3")]
    assert "hadoop-aws-3.4.2.jar" in names and "s3-2.29.52.jar" in names
    assert not [n for n in names if n.startswith("bundle-")]
    # nothing pyspark already ships (netty, httpclient, slf4j...), in another version
    artifact = lambda name: name.rsplit("-", 1)[0]  # noqa: E731
    assert not {artifact(n) for n in names} & {artifact(n) for n in pyspark_jars}
