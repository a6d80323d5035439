"""Submissions: validation and loading.

A submission is a ``.npy`` array with one reconstruction per test image, in the order of
``images_test.npy`` (ascending image_index): shape (N, H, W, 3) uint8, or float in [0, 1];
(N, 3, H, W) is accepted too; square, at least 32 px. An optional sidecar
``<stem>.json`` holds a JSON object (method, authors, code_url, post_processing, ...).

Every problem raises :class:`~fmri_bench.errors.SubmissionError` (exit code 2) with one
line saying what is wrong and what was expected. Arrays are always loaded with
``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.errors import FmriBenchError, SubmissionError
from fmri_bench.io import load_npy, sha256_file

MIN_SIZE = 32
#: The largest image side accepted; with N fixed by the test set this bounds a submission's
#: memory (50 images of 1024 px: 600 MB as float32) and is checked from the .npy header.
MAX_SIZE = 1024
EXPECTED = "(N, H, W, 3) uint8 or float in [0, 1], or (N, 3, H, W); square, 32 to 1024 px"
SIDECAR_KEYS = ("method", "authors", "code_url", "post_processing")
#: Sidecar bounds: file size, nesting depth of objects and arrays.
SIDECAR_MAX_BYTES = 64 * 1024
SIDECAR_MAX_DEPTH = 8


@dataclass(frozen=True)
class Submission:
    """A validated submission.

    Attributes
    ----------
    path : Path
        The .npy file.
    images : ndarray, float32, shape (N, H, W, 3), in [0, 1]
        The reconstructions, channel-last.
    sha256 : str
        The sha256 of the .npy file.
    sidecar : dict
        The sidecar JSON object ({} when there is none).
    """

    path: Path
    images: np.ndarray
    sha256: str
    sidecar: dict[str, Any] = field(default_factory=dict)


def _check_meta(dtype: np.dtype, shape: tuple[int, ...], n_expected: int | None, source: str) -> str:
    """Check dtype and shape (no values); return the layout, "NHWC" or "NCHW"."""
    kind = dtype.kind
    if kind == "b":
        raise SubmissionError(f"{source}: dtype bool; expected {EXPECTED}")
    if kind == "c":
        raise SubmissionError(f"{source}: complex dtype {dtype}; expected {EXPECTED}")
    if dtype.hasobject:
        raise SubmissionError(f"{source}: holds Python objects (dtype {dtype}); expected a numeric array: {EXPECTED}")
    if kind in "SUVMm":
        raise SubmissionError(f"{source}: dtype {dtype} is not numeric image data; expected {EXPECTED}")
    if kind in "iu" and dtype != np.uint8:
        raise SubmissionError(f"{source}: integer dtype {dtype}; expected uint8 (0-255) or float in [0, 1]")
    if len(shape) != 4:
        raise SubmissionError(f"{source}: shape {shape} has {len(shape)} dimensions; expected 4: {EXPECTED}")
    if shape[-1] == 3:
        layout = "NHWC"
    elif shape[1] == 3:
        layout = "NCHW"
    else:
        raise SubmissionError(f"{source}: shape {shape} has no colour axis of length 3; expected {EXPECTED}")
    n = shape[0]
    h, w = (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])
    if h != w:
        raise SubmissionError(
            f"{source}: images are {h}x{w}, not square; expected square images, at least {MIN_SIZE} px"
        )
    if h < MIN_SIZE:
        raise SubmissionError(f"{source}: images are {h}x{w}; expected square images of at least {MIN_SIZE} px")
    if h > MAX_SIZE:
        raise SubmissionError(f"{source}: images are {h}x{w}; expected square images of at most {MAX_SIZE} px")
    if n_expected is not None and n != n_expected:
        raise SubmissionError(
            f"{source}: {n} reconstructions; expected {n_expected}, one per test image in images_test.npy order"
        )
    if n == 0:
        raise SubmissionError(f"{source}: holds no images; expected one reconstruction per test image")
    return layout


def validate_array(array: Any, n_expected: int | None = None, *, source: str = "submission") -> np.ndarray:
    """Check a reconstruction array and return it as float32 (N, H, W, 3) in [0, 1].

    Parameters
    ----------
    array : array-like
        The candidate submission.
    n_expected : int, optional
        The number of test images; a different N is refused.
    source : str
        How to name the array in error messages (usually its path).

    Returns
    -------
    ndarray, float32, shape (N, H, W, 3)
        The images in [0, 1], channel-last and contiguous (uint8 input divided by 255).

    Raises
    ------
    SubmissionError
        Wrong dtype, rank, layout, size, count, non-finite values or floats outside [0, 1].
    """
    arr = np.asarray(array) if not isinstance(array, np.ndarray) else array
    layout = _check_meta(arr.dtype, tuple(arr.shape), n_expected, source)
    if arr.dtype.kind == "f":
        values = np.asarray(arr)
        if not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).sum())
            raise SubmissionError(f"{source}: {bad} values are NaN or infinite; expected finite floats in [0, 1]")
        lo, hi = float(values.min()), float(values.max())
        if lo < 0.0 or hi > 1.0:
            raise SubmissionError(
                f"{source}: float values span [{lo:.4g}, {hi:.4g}]; expected floats in [0, 1] (or uint8 0-255)"
            )
        out = values.astype(np.float32, copy=False)
    else:
        out = np.asarray(arr).astype(np.float32) / np.float32(255)
    if layout == "NCHW":
        out = out.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Return the sidecar path ``<stem>.json`` beside a submission.

    Parameters
    ----------
    path : path-like
        The submission .npy.

    Returns
    -------
    Path
    """
    path = Path(path)
    return path.with_suffix(".json")


def _depth(value: Any) -> int:
    """Nesting depth of JSON containers, without recursion (a crafted sidecar may be deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level > SIDECAR_MAX_DEPTH:
                return level
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the sidecar of submission ``path`` as a dict ({} when there is none).

    The sidecar is bounded: at most :data:`SIDECAR_MAX_BYTES` bytes (checked before it is
    read), objects and arrays nested at most :data:`SIDECAR_MAX_DEPTH` deep, numbers that
    are finite JSON numbers (``NaN`` and ``Infinity`` are not JSON; integers of more than
    4300 digits are refused by Python's own limit).

    Parameters
    ----------
    path : path-like
        The submission .npy (the sidecar is ``<stem>.json`` beside it).

    Returns
    -------
    dict

    Raises
    ------
    SubmissionError
        Too large, not valid JSON, too deep, a non-finite number, or not a JSON object.
    """
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    size = side.stat().st_size
    if size > SIDECAR_MAX_BYTES:
        raise SubmissionError(
            f"{side}: {size:,} bytes; expected a sidecar of at most {SIDECAR_MAX_BYTES:,} bytes "
            f'(a JSON object such as {{"method": ..., "authors": ..., "code_url": ...}})'
        )
    try:
        data = json.loads(side.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise SubmissionError(f"{side}: nested too deeply; expected at most {SIDECAR_MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, NaN/Infinity, 5000-digit integers
        reason = str(exc).splitlines()[0][:160]
        raise SubmissionError(
            f"{side}: not valid JSON ({reason}); expected a JSON object such as "
            '{"method": ..., "authors": ..., "code_url": ..., "post_processing": ...}'
        ) from None
    if not isinstance(data, dict):
        raise SubmissionError(
            f"{side}: holds a JSON {type(data).__name__}; expected a JSON object with keys "
            f"such as {', '.join(SIDECAR_KEYS)}"
        )
    if _depth(data) > SIDECAR_MAX_DEPTH:
        raise SubmissionError(f"{side}: nested too deeply; expected at most {SIDECAR_MAX_DEPTH} levels")
    return data


def check_header(path: Path, n_expected: int | None) -> None:
    """Check a .npy submission's declared shape and dtype from its header, before loading it.

    Parameters
    ----------
    path : Path
        The .npy file.
    n_expected : int, optional
        The number of test images.

    Raises
    ------
    SubmissionError
        An unreadable header, a declared shape or dtype that :func:`validate_array` would
        refuse (rank, colour axis, sizes outside 32-1024 px, count), or more or fewer bytes
        declared than the file holds: a crafted header never makes the loader allocate memory.
    """
    from numpy.lib import format as npy_format

    try:
        with open(path, "rb") as handle:
            major, _ = npy_format.read_magic(handle)
            read = npy_format.read_array_header_1_0 if major == 1 else npy_format.read_array_header_2_0
            shape, _, dtype = read(handle, max_header_size=10_000)
            offset = handle.tell()
    except (ValueError, OSError, SyntaxError, TypeError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise SubmissionError(
            f"{path}: unreadable .npy header ({reason}); expected an array saved with numpy.save"
        ) from None
    shape = tuple(int(d) for d in shape)
    _check_meta(dtype, shape, n_expected, str(path))
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = path.stat().st_size - offset
    if declared != held:
        raise SubmissionError(
            f"{path}: its header declares {declared:,} bytes of data but the file holds {held:,}; "
            "expected a complete file written by numpy.save"
        )


def load_submission(path: str | os.PathLike[str], n_expected: int | None = None) -> Submission:
    """Load, validate and hash a submission file (and its sidecar).

    A sidecar that records a ``submission_sha256`` must match the file: a sidecar left by
    another run (a kill between the two writes) is refused rather than recorded as this
    submission's provenance.

    Parameters
    ----------
    path : path-like
        The .npy file.
    n_expected : int, optional
        The number of test images.

    Returns
    -------
    Submission

    Raises
    ------
    SubmissionError
        For a missing, non-.npy, truncated or pickled file, a bad array or a bad sidecar.
    """
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file; expected a .npy submission")
    if path.suffix != ".npy":
        raise SubmissionError(f"{path}: not a .npy file; expected a .npy array saved with numpy.save")
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic != b"\x93NUMPY":
        raise SubmissionError(f"{path}: not a .npy file (no NumPy header); expected an array saved with numpy.save")
    check_header(path, n_expected)
    try:
        array = load_npy(path)
    except FmriBenchError as exc:
        raise SubmissionError(str(exc)) from exc
    images = validate_array(array, n_expected, source=str(path))
    sidecar = load_sidecar(path)
    digest = sha256_file(path)
    recorded = sidecar.get("submission_sha256")
    if recorded is not None and recorded != digest:
        raise SubmissionError(
            f"{sidecar_path(path)}: describes another submission (its submission_sha256 {str(recorded)[:12]}... "
            f"is not {path.name}'s {digest[:12]}...); expected the sidecar written with this file"
        )
    return Submission(path=path, images=images, sha256=digest, sidecar=sidecar)


def write_submission(path: str | os.PathLike[str], images: np.ndarray, sidecar: dict[str, Any]) -> str:
    """Write reconstructions and their sidecar as one unit; return the .npy's sha256.

    The sidecar is written first with the sha256 of the new array, then the array
    (both atomically): whatever moment a run is killed at, a sidecar never passes for
    the provenance of another array (:func:`load_submission` checks the sha256).

    Parameters
    ----------
    path : path-like
        The submission .npy to write (its sidecar is ``<stem>.json``).
    images : ndarray
        uint8 (N, H, W, 3).
    sidecar : dict
        JSON-ready provenance; ``submission_sha256`` and ``shape`` are added.

    Returns
    -------
    str
        The sha256 of the written .npy.
    """
    import hashlib
    import io

    from fmri_bench.io import atomic_path, write_json_atomic

    path = Path(path)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(images), allow_pickle=False)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    write_json_atomic(sidecar_path(path), {**sidecar, "submission_sha256": digest, "shape": list(np.shape(images))})
    with atomic_path(path, suffix=".npy") as tmp:
        tmp.write_bytes(data)
    return digest
