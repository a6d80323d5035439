"""Reference reconstructions named by a recipe, copied into the prepared version.

A recipe's ``[references.<key>]`` table names reconstructions that the source ships for
every subject (for the synthetic dataset: the oracle decoder of the true encoding model,
``derivatives/simulation/<subject>/oracle_test.npy``). prepare copies each subject's file to
``<version>/<subject>/reference_<key>.npy`` after checking it (one reconstruction per image
of the split, ascending image_index, uint8 or float in [0, 1], square RGB) and records it
in the manifest (``subjects.<subject>.references``); scoring records each as a reference
row of the leaderboard, the way it records chance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.errors import DataError
from fmri_bench.io import load_npy, save_npy_atomic
from fmri_bench.paths import check_name


def _check_array(path: Path, array: np.ndarray, n_images: int) -> None:
    """Refuse a file that is not one square RGB reconstruction per image of the split."""
    shape = array.shape
    if array.ndim != 4 or shape[-1] != 3 or shape[1] != shape[2] or shape[0] != n_images:
        raise DataError(f"{path}: reference reconstructions of shape {shape}; expected ({n_images}, H, H, 3)")
    if array.dtype != np.uint8 and array.dtype.kind != "f":
        raise DataError(f"{path}: reference reconstructions of dtype {array.dtype}; expected uint8 or float in [0, 1]")


def copy_references(
    references: dict[str, dict[str, Any]], root: Path, folder: Path, subject: str, n_images: dict[str, int]
) -> dict[str, dict[str, str]]:
    """Copy one subject's reference reconstructions into its prepared folder.

    Parameters
    ----------
    references : dict
        The recipe's ``references`` table: key -> ``name`` (the leaderboard row's name),
        ``split`` (``test``...), ``path`` (relative to the source, with ``{subject}``).
    root : Path
        The raw BIDS root.
    folder : Path
        The subject's folder in the version being built.
    subject : str
        The subject.
    n_images : dict
        Split -> number of images of the split in the prepared version.

    Returns
    -------
    dict
        Reference name -> ``file`` (relative to the version folder), ``split``, ``source``,
        ``ceiling`` (the recipe marks it as what the data allow at best);
        a reference whose file the source lacks for this subject is left out.

    Raises
    ------
    DataError
        A file that is not one reconstruction per image of its split.
    """
    out = {}
    for key, ref in sorted(references.items()):
        check_name(key, "reference key")
        source = root / ref["path"].format(subject=subject)
        if not source.is_file():
            continue
        array = load_npy(source)
        _check_array(source, array, n_images.get(ref["split"], -1))
        target = folder / f"reference_{key}.npy"
        save_npy_atomic(target, array)
        out[ref["name"]] = {
            "file": f"{subject}/{target.name}",
            "split": ref["split"],
            "source": str(source.relative_to(root)),
            "ceiling": bool(ref.get("ceiling", False)),
        }
    return out
