"""The per-target Spark settings in conf/ (local, standalone, and one file per managed platform
line), and how a submit passes them on: `--conf` flags, the `--py-files` list, `--jars`.

Values, not code, live in conf/; this module only reads and formats them. Shared by
lastfm.platforms.cluster (standalone) and lastfm.platforms.cloud (EMR, Dataproc).
"""

from __future__ import annotations

from pathlib import Path

# Each managed platform line's conf file -> the Spark line it runs, the Makefile's SPARK=... that
# sets up and tests the same Spark and Delta here (docs/platforms.md).
PLATFORMS = {"emr-7": "3.5", "emr-8": "4.0", "dataproc-2": "3.5", "dataproc-serverless-3.0": "4.0"}
TARGETS = ("local", "standalone", *PLATFORMS)
PY_FILES = "spark.submit.pyFiles"


def read_properties(path: Path) -> dict[str, str]:
    """A spark-defaults style file: `key  value` per line, `#` comments, blank lines ignored."""
    properties = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, *value = line.split(maxsplit=1)
        if not value:
            raise ValueError(f"{path}:{number}: no value for {key!r}")
        properties[key] = value[0].strip()
    return properties


def target_properties(conf_dir: Path, target: str) -> dict[str, str]:
    """The settings for one target: conf/spark-defaults.conf (what every environment shares)
    overlaid by conf/<target>.conf. The standalone cluster runs on this project's own machines, so
    it takes conf/local.conf's sizes too; a managed platform sizes its own JVMs."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; one of {', '.join(TARGETS)}")
    layers = ("spark-defaults", "local", target) if target == "standalone" else ("spark-defaults", target)
    properties = {}
    for layer in layers:
        properties.update(read_properties(conf_dir / f"{layer}.conf"))
    return properties


def py_files(package_uri: str, properties: dict[str, str]) -> list[str]:
    """`--py-files` entries: the package zip first, then any the target's conf adds."""
    extra = [f for f in properties.get(PY_FILES, "").split(",") if f]
    return [package_uri, *extra]


def conf_flags(properties: dict[str, str]) -> list[str]:
    """`--conf key=value` flags for every property except the py-files list (its own flag)."""
    flags = []
    for key, value in properties.items():
        if key != PY_FILES:
            flags += ["--conf", f"{key}={value}"]
    return flags


def jar_files(*directories: Path) -> list[str]:
    """Every jar in `directories`, sorted within each, for `--jars`."""
    return [str(jar) for directory in directories for jar in sorted(Path(directory).glob("*.jar"))]
