"""The entry points' SparkSession (lastfm/platforms/session.py): Spark's console progress bar
where the driver JVM's stderr is a terminal, and only there."""

import os
import pty
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASK = "from lastfm.platforms.session import driver_stderr_is_terminal; print(driver_stderr_is_terminal())"
# what spark-submit does: the driver JVM (here a Python process) starts the job's Python with its
# stderr a pipe, and tells it where the JVM's gateway is
UNDER_SPARK_SUBMIT = f"""
import os, subprocess, sys
env = {{**os.environ, "PYSPARK_GATEWAY_PORT": "1"}}
print(subprocess.run([sys.executable, "-c", {ASK!r}], env=env, capture_output=True, text=True).stdout.strip())
"""


def answer(code: str, stderr) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_GATEWAY_PORT"}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr,
                          text=True, timeout=60).stdout.strip()


def test_under_spark_submit_the_jvms_stderr_decides(tmp_path):
    primary, secondary = pty.openpty()
    try:
        assert answer(UNDER_SPARK_SUBMIT, secondary) == "True"  # a person at a terminal
    finally:
        os.close(primary)
        os.close(secondary)
    assert answer(UNDER_SPARK_SUBMIT, subprocess.PIPE) == "False"  # a scheduler reading a pipe
    assert answer(UNDER_SPARK_SUBMIT, subprocess.DEVNULL) == "False"  # a device, not a terminal
    with open(tmp_path / "task.log", "w") as log:  # a task log
        assert answer(UNDER_SPARK_SUBMIT, log) == "False"


def test_a_driver_started_from_python_asks_its_own_stderr():
    primary, secondary = pty.openpty()
    try:
        assert answer(ASK, secondary) == "True"
    finally:
        os.close(primary)
        os.close(secondary)
    assert answer(ASK, subprocess.PIPE) == "False"
