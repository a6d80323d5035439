"""Where things live: the data home and the leaderboard folder; names that become paths."""

from __future__ import annotations

import os
import re
from pathlib import Path

from fmri_bench.errors import FmriBenchError

ENV_DATA_HOME = "FMRI_BENCH_HOME"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def data_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the data home: ``explicit``, else ``$FMRI_BENCH_HOME``, else ``~/fmri_bench_data``.

    Like nilearn's ``data_dir``: every fetcher and loader takes the same argument.

    Parameters
    ----------
    explicit : path-like, optional
        A data home given by the caller.

    Returns
    -------
    Path
        Absolute.
    """
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_DATA_HOME)
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / "fmri_bench_data").resolve()


def leaderboard_dir(
    explicit: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the leaderboard folder: ``explicit``, else ``<data home>/leaderboard``.

    It never depends on the working directory: the repository's committed ``leaderboard/``
    is written only when it is passed explicitly (``./dev demo`` does).

    Parameters
    ----------
    explicit : path-like, optional
        A folder given by the caller (``--leaderboard``).
    home : path-like, optional
        The data home (see :func:`data_home`).

    Returns
    -------
    Path
        Absolute.
    """
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    return data_home(home) / "leaderboard"


def check_name(name: str, what: str) -> str:
    """Refuse a name that is to become a file or folder name unless it is a plain one.

    Plain: starts with a letter or digit, then letters, digits, ``.``, ``_``, ``+`` or ``-``
    (at most 128 characters); so no path separator, no ``..``, nothing empty or hidden.

    Parameters
    ----------
    name : str
        The candidate (a dataset, version or subject name...).
    what : str
        What it names, for the message (``"dataset name"``).

    Returns
    -------
    str
        ``name``, unchanged.

    Raises
    ------
    FmriBenchError
        One line saying what is wrong and what is expected.
    """
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise FmriBenchError(
            f"{what} {name!r} is not allowed; expected letters, digits, '.', '_', '+' or '-' "
            "(starting with a letter or digit, no path separator, no '..')"
        )
    return name
