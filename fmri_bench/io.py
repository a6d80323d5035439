"""Small I/O helpers shared by every stage: atomic writes, hashing, safe .npy loading.

Every output is written to a temporary file beside its destination and renamed into
place, so a crash never leaves a half-written file and earlier results stay intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.errors import FmriBenchError

_CHUNK = 1 << 20
# mkstemp creates files readable by the owner only; outputs get the usual umask instead.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK
_DIR_MODE = 0o777 & ~_UMASK
_NPY_MAGIC = b"\x93NUMPY"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    str
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Return the sha256 of ``obj`` serialized as canonical JSON (sorted keys).

    Parameters
    ----------
    obj : object
        Anything ``json.dumps`` serializes (other objects as ``str``).

    Returns
    -------
    str
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it there on success.

    On an exception the temporary file is removed and ``destination`` is untouched.

    Parameters
    ----------
    destination : path-like
        The file to create or replace.
    suffix : str
        An extension that writers such as ``np.save`` insist on.

    Yields
    ------
    Path
        The temporary file to write.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=f".tmp{suffix}", dir=destination.parent)
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        yield tmp_path
        os.chmod(tmp_path, _FILE_MODE)
        os.replace(tmp_path, destination)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``destination``; swap it in on success.

    The one way every stage builds a folder: the new folder is complete before it
    replaces ``destination`` (the old one is moved aside first, then deleted), and on an
    exception the temporary folder is removed and ``destination`` is untouched. Leftover
    ``.<name>.partial-*`` / ``.<name>.old-*`` folders of a killed run are removed by
    :func:`clean_leftovers`.

    Parameters
    ----------
    destination : path-like
        The folder to create or replace.

    Yields
    ------
    Path
        The temporary folder to fill.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    try:
        yield tmp
        os.chmod(tmp, _DIR_MODE)  # mkdtemp gives 0700; a shared data home needs the umask's
        aside = None
        if destination.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
            os.replace(destination, aside / destination.name)
        os.replace(tmp, destination)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_leftovers(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the ``.*.partial-*`` and ``.*.old-*`` folders a killed :func:`atomic_dir` left in ``folder``.

    Parameters
    ----------
    folder : path-like
        The parent folder of the destinations.

    Returns
    -------
    list of Path
        The removed folders.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.glob(".*"):
        if path.is_dir() and (".partial-" in path.name or ".old-" in path.name):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        The destination.
    text : str
        Written as UTF-8.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        The destination.
    obj : object
        JSON-serializable data (other objects as ``str``).
    """
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_npy_atomic(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Save ``array`` as .npy at ``path`` atomically (never pickled).

    Parameters
    ----------
    path : path-like
        The destination.
    array : ndarray
        A numeric array.
    """
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(array), allow_pickle=False)


def load_npy(path: str | os.PathLike[str], *, mmap: bool = False) -> np.ndarray:
    """Load a .npy file with ``allow_pickle=False``; raise a one-line error on failure.

    Parameters
    ----------
    path : path-like
        The .npy file.
    mmap : bool
        Memory-map the file read-only instead of reading it into memory.

    Returns
    -------
    ndarray
    """
    path = Path(path)
    if not path.is_file():
        raise FmriBenchError(f"{path}: no such file (expected a .npy array)")
    with open(path, "rb") as handle:
        magic = handle.read(len(_NPY_MAGIC))
    if magic != _NPY_MAGIC:
        # np.load would try to unpickle anything that is not .npy/.npz.
        raise FmriBenchError(f"{path}: not a readable .npy array (no .npy header); expected a file written by np.save")
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise FmriBenchError(
                f"{path}: holds Python objects (a pickled array); expected a numeric .npy array"
            ) from exc
        raise FmriBenchError(f"{path}: not a readable .npy array ({exc})") from exc
    except (OSError, EOFError) as exc:
        raise FmriBenchError(f"{path}: not a readable .npy array ({exc})") from exc
