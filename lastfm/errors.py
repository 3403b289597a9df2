"""The errors a run can end with, each with its exit code.

The entrypoint prints `str(error)` as one line on stderr and exits with `exit_code`.
"""

from __future__ import annotations


class JobError(Exception):
    exit_code = 1


class UsageError(JobError):
    """Bad arguments, or input that cannot be used at all (missing, empty, no valid row)."""

    exit_code = 2


class DataQualityError(JobError):
    """The input was read but fails an expectation (e.g. too many rejected lines)."""

    exit_code = 3


class ConcurrentRunError(JobError):
    """Another run changed the warehouse while this one ran; this one stopped (run it again)."""

    exit_code = 4
