"""Load prepared arrays: the Python side of ``<data-home>/<dataset>/<version>/``.

Like nilearn's fetchers, every function takes ``data_home`` (default: ``$FMRI_BENCH_HOME``,
else ``~/fmri_bench_data``). Arrays are memory-mapped read-only and loaded with
``allow_pickle=False``; the same files load with plain ``np.load`` without this package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmri_bench.errors import DataError
from fmri_bench.io import load_npy
from fmri_bench.paths import data_home as resolve_data_home

SPLITS = ("train", "test")


@dataclass(frozen=True)
class PreparedSubject:
    """One subject's prepared samples for one dataset version.

    Attributes
    ----------
    train_fmri : ndarray, float32, shape (n_train_samples, n_voxels)
        One row per training stimulus block.
    train_labels : ndarray, int, shape (n_train_samples,)
        The image_index of each training row.
    test_fmri : ndarray, float32, shape (n_test_rows, n_voxels)
        Every test block, or (with ``average_test=True``) one row per test image in
        ascending image_index, the mean of its repetitions.
    test_labels : ndarray, int, shape (n_test_rows,)
        The image_index of each test row.
    """

    dataset: str
    version: str
    subject: str
    train_fmri: np.ndarray
    train_labels: np.ndarray
    test_fmri: np.ndarray
    test_labels: np.ndarray

    @property
    def n_voxels(self) -> int:
        """Number of voxels (columns)."""
        return int(self.train_fmri.shape[1])


def prepared_dir(dataset: str, version: str, *, data_home: str | os.PathLike[str] | None = None) -> Path:
    """Return ``<data-home>/<dataset>/<version>``; raise DataError if it was never prepared."""
    folder = resolve_data_home(data_home) / dataset / version
    if not (folder / "manifest.json").is_file():
        raise DataError(
            f"{dataset} {version} is not prepared in {folder.parent}; "
            f"run `fmri-bench prepare {dataset} --version {version}` first"
        )
    return folder


def prepared_subjects(dataset: str, version: str, *, data_home: str | os.PathLike[str] | None = None) -> list[str]:
    """Return the subjects prepared for ``dataset``/``version``, sorted."""
    folder = prepared_dir(dataset, version, data_home=data_home)
    return sorted(p.name for p in folder.glob("sub-*") if (p / "train_fmri.npy").is_file())


def average_by_label(fmri: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average the rows of ``fmri`` that share a label; return (means, sorted unique labels)."""
    labels = np.asarray(labels)
    unique, inverse = np.unique(labels, return_inverse=True)
    sums = np.zeros((unique.size, fmri.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, np.asarray(fmri, dtype=np.float64))
    counts = np.bincount(inverse, minlength=unique.size)[:, None]
    return (sums / counts).astype(np.float32), unique


def load(
    dataset: str = "synthetic",
    version: str = "v1",
    subject: str = "sub-01",
    *,
    data_home: str | os.PathLike[str] | None = None,
    average_test: bool = True,
) -> PreparedSubject:
    """Load one subject's prepared train and test samples.

    Parameters
    ----------
    dataset, version, subject : str
        What to load, e.g. ``("ds001506", "v1", "sub-01")``.
    data_home : path-like, optional
        The data home (default: ``$FMRI_BENCH_HOME``, else ``~/fmri_bench_data``).
    average_test : bool
        Average the test repetitions per image (ascending image_index), as reconstruction
        benchmarks score them. With False, every test block is kept.

    Returns
    -------
    PreparedSubject
    """
    folder = prepared_dir(dataset, version, data_home=data_home) / subject
    if not folder.is_dir():
        known = ", ".join(prepared_subjects(dataset, version, data_home=data_home)) or "none"
        raise DataError(f"{subject} is not prepared for {dataset} {version}; prepared subjects: {known}")
    arrays = {
        f"{split}_{kind}": load_npy(folder / f"{split}_{kind}.npy", mmap=kind == "fmri")
        for split in SPLITS
        for kind in ("fmri", "labels")
    }
    if average_test:
        arrays["test_fmri"], arrays["test_labels"] = average_by_label(arrays["test_fmri"], arrays["test_labels"])
    return PreparedSubject(dataset=dataset, version=version, subject=subject, **arrays)


def load_stimuli(dataset: str, version: str, *, data_home: str | os.PathLike[str] | None = None):
    """Return stimuli.tsv as a DataFrame: split, image_index, stimulus_id, stimulus_name, sha256.

    Rows of a split are in the order of ``images_<split>.npy`` (ascending image_index).
    """
    import pandas as pd

    path = prepared_dir(dataset, version, data_home=data_home) / "stimuli.tsv"
    if not path.is_file():
        raise DataError(f"{path} does not exist; prepare {dataset} {version} again")
    return pd.read_csv(path, sep="\t", dtype={"stimulus_id": str, "sha256": str}, keep_default_na=False)


def load_images(
    dataset: str, version: str, split: str, *, data_home: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Return the stimulus images of a split, uint8 (n_images, H, W, 3), ascending image_index."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of: {', '.join(SPLITS)}")
    path = prepared_dir(dataset, version, data_home=data_home) / f"images_{split}.npy"
    if not path.is_file():
        raise DataError(
            f"{path} does not exist: {dataset} {version} was prepared without stimulus images "
            "(pass --stimuli IMAGE_DIR to fmri-bench prepare)"
        )
    return load_npy(path, mmap=True)
