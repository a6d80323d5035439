"""Where things live: the data home and the leaderboard folder."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_HOME = "FMRI_BENCH_HOME"


def data_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the data home: ``explicit``, else ``$FMRI_BENCH_HOME``, else ``~/fmri_bench_data``.

    Like nilearn's ``data_dir``: every fetcher and loader takes the same argument.
    """
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_DATA_HOME)
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / "fmri_bench_data").resolve()


def repository_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the fmri-bench checkout that contains ``start`` (default: cwd), if any."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "fmri_bench").is_dir() and (
            folder / "leaderboard"
        ).is_dir():
            return folder
    return None


def leaderboard_dir(
    explicit: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the leaderboard folder.

    ``explicit`` if given; else the repository's ``leaderboard/`` when run inside a
    checkout; else ``<data home>/leaderboard``.
    """
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    root = repository_root()
    if root is not None:
        return root / "leaderboard"
    return data_home(home) / "leaderboard"
