"""Running the job beyond local mode: the `--py-files` zip, and a Spark standalone cluster (a
master and a worker, each its own process) started from the installed pyspark.

Used by `make package` / `cluster-up` / `cluster-down`, docker/ and the tests. Nothing here is
imported by the job itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pyspark

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    """The Spark that ships inside the installed pyspark package."""
    return Path(pyspark.__file__).resolve().parent


def setup_jars(kind: str) -> Path:
    """The jars `make setup` resolved for the running venv's Spark line: `delta` (Delta's, also
    in the venv's spark.jars) or `s3` (hadoop-aws and the AWS SDK modules it needs)."""
    return Path(sys.prefix) / "jars" / kind


# Subpackages that never ship to a cluster (lastfm/testing: the tests' and the benchmark's tools).
LEFT_OUT = ("testing",)


def build_zip(package_dir: Path, target: Path) -> list[str]:
    """Zip the package at `package_dir` for `--py-files`; return the member names.

    Only `.py` files, under the package's own name, without the LEFT_OUT subpackages, with a
    fixed timestamp so the same sources always give the same bytes.
    """
    package_dir = Path(package_dir).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    members = sorted(p for p in package_dir.rglob("*.py")
                     if "__pycache__" not in p.parts and p.relative_to(package_dir).parts[0] not in LEFT_OUT)
    names = []
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in members:
            name = str(Path(package_dir.name) / path.relative_to(package_dir))
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
            names.append(name)
    partial.replace(target)
    return names


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Standalone:
    """A running standalone cluster: one master and one worker, each its own process."""

    host: str
    port: int
    web_port: int
    master_pid: int
    worker_pid: int
    master_log: Path
    worker_log: Path
    work_dir: Path

    @property
    def url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    def save(self, path: Path) -> None:
        state = {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}
        Path(path).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Standalone:
        state = json.loads(Path(path).read_text())
        for key in ("master_log", "worker_log", "work_dir"):
            state[key] = Path(state[key])
        return cls(**state)


def _daemon(spark_class: Path, main_class: str, args: list[str], log: Path, env: dict) -> int:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(spark_class), main_class, *args], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, start_new_session=True,  # own group: stopped as one
        )
    return process.pid


def master_state(web_url: str) -> dict:
    """The master's JSON status page: workers, running and completed applications."""
    with urllib.request.urlopen(f"{web_url}/json/", timeout=5) as response:
        return json.load(response)


def start_standalone(state_dir: Path, *, host: str = "127.0.0.1", port: int | None = None,
                     web_port: int | None = None, cores: int = 2, memory: str = "2g",
                     log4j_conf: Path | None = None, timeout: float = 90) -> Standalone:
    """Start a master and one worker on `host`; return once the worker is registered and alive.

    Logs go to `state_dir` (master.log, worker.log; executors' logs under work/). `log4j_conf`
    sets the daemons' logging (the worker logs each executor it launches at INFO).
    """
    state_dir = Path(state_dir).resolve()
    work_dir = state_dir / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    spark_class = spark_home() / "bin" / "spark-class"
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": host,
           "SPARK_DAEMON_MEMORY": "512m"}
    if log4j_conf is not None:
        env["SPARK_DAEMON_JAVA_OPTS"] = f"-Dlog4j2.configurationFile={Path(log4j_conf).resolve()}"
    port, web_port = port or free_port(host), web_port or free_port(host)
    master_log, worker_log = state_dir / "master.log", state_dir / "worker.log"
    master_pid = _daemon(spark_class, MASTER_CLASS,
                         ["--host", host, "--port", str(port), "--webui-port", str(web_port)], master_log, env)
    worker_pid = _daemon(spark_class, WORKER_CLASS,
                         ["--host", host, "--port", str(free_port(host)), "--webui-port", str(free_port(host)),
                          "--cores", str(cores), "--memory", memory, "--work-dir", str(work_dir),
                          f"spark://{host}:{port}"], worker_log, env)
    cluster = Standalone(host, port, web_port, master_pid, worker_pid, master_log, worker_log, work_dir)
    try:
        wait_for_workers(cluster, 1, timeout)
    except BaseException:
        stop_standalone(cluster)
        raise
    return cluster


def wait_for_workers(cluster: Standalone, count: int, timeout: float) -> list[dict]:
    """Poll the master until `count` workers are ALIVE; raise TimeoutError with the logs' tails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in (cluster.master_pid, cluster.worker_pid):
            if not is_running(pid):
                raise RuntimeError(f"process {pid} exited:\n{_tail(cluster.master_log)}\n{_tail(cluster.worker_log)}")
        try:
            workers = [w for w in master_state(cluster.web_url)["workers"] if w["state"] == "ALIVE"]
            if len(workers) >= count:
                return workers
        except OSError:
            pass  # master not listening yet
        time.sleep(0.5)
    raise TimeoutError(f"{count} worker(s) not registered after {timeout}s:\n{_tail(cluster.worker_log)}")


def stop_standalone(cluster: Standalone, timeout: float = 20) -> None:
    """Stop the worker (and its executors), then the master: SIGTERM by process group, then SIGKILL."""
    for pid in (cluster.worker_pid, cluster.master_pid):
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while is_running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if is_running(pid):
            _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the group the daemon leads: spark-class's shell and its JVM
    except ProcessLookupError:
        pass


def is_running(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by another `make cluster-up` process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
