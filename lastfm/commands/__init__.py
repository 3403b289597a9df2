"""The command lines of the job's entry points (jobs/top_tracks.py, jobs/maintain.py): their
arguments, what they print and their exit codes. What both share is here: a usage error is one
line and exit code 2, and every error reaches the driver JVM's stderr as one line."""

from __future__ import annotations

import argparse
import os
import sys

from lastfm.errors import UsageError


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit code 2, like every other usage error
        raise UsageError(f"{self.prog}: {message}")


def print_error(message: str) -> None:
    """One line on stderr. Under spark-submit, Python's stderr is merged into spark-submit's
    stdout (PythonRunner), so the line goes through the driver JVM's own stderr instead."""
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        from pyspark.java_gateway import launch_gateway

        launch_gateway().jvm.System.err.println(message)
    else:
        print(message, file=sys.stderr)


def one_line(error: Exception, paths: dict[str, str]) -> str:
    """An unexpected error as one line: its type and the first line of its message (a JVM error's
    message names the Java exception and usually the path), plus the run's `paths` (name -> path)
    when the line names none of them."""
    java = getattr(error, "java_exception", None)  # Py4J's "An error occurred while calling o42.save"
    lines = [line.strip() for line in str(java.toString() if java is not None else error).splitlines() if line.strip()]
    text = lines[0] if java is not None and lines else f"{type(error).__name__}: {lines[0] if lines else 'no message'}"
    text = text[:1000]
    if paths and not any(path in text for path in paths.values()):
        text += " (" + ", ".join(f"{name} {path}" for name, path in paths.items()) + ")"
    return text
