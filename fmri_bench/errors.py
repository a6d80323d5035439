"""Errors that the CLI reports as one line and a non-zero exit code."""

from __future__ import annotations


class FmriBenchError(Exception):
    """A problem the user can fix: bad input, missing data, refused operation.

    The CLI prints ``error: <message>`` and exits with ``exit_code``; no traceback
    unless ``--verbose``. The message should say what is wrong and what was expected.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class SubmissionError(FmriBenchError):
    """A submission (or its sidecar) that fails validation; exit code 2."""

    exit_code = 2


class DataError(FmriBenchError):
    """Raw or prepared data that is missing, corrupt or inconsistent."""


class NetworkError(FmriBenchError):
    """A download that could not start or finish."""
