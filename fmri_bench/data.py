"""Load prepared arrays: the Python side of ``<data-home>/<dataset>/<version>/``.

:func:`load` returns one subject's data as a :class:`PreparedData` (a scikit-learn
``Bunch``), the way nilearn's fetchers do: ``X_train``/``X_test`` (samples x voxels),
``y_train``/``y_test`` (the **0-based row** of ``images_train``/``images_test`` each
sample shows, so ``images_train[y_train]`` is each sample's stimulus), the images, the
stimulus table, the mask and the manifest. Arrays are memory-mapped read-only and loaded
with ``allow_pickle=False``; the same files load with plain ``np.load``. It prepares
nothing: :func:`fmri_bench.fetch` prepares on first use, then calls this.

On disk the label arrays hold the dataset's ``image_index`` (1-based, as in the events
files); the conversion to rows happens here, in one place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from fmri_bench.errors import DataError
from fmri_bench.io import load_npy
from fmri_bench.paths import check_name
from fmri_bench.paths import data_home as resolve_data_home

SPLITS = ("train", "test")  # every version has them; ds001506 adds ``artificial`` and ``letter``


class PreparedData(Bunch):
    """One subject's prepared data (a scikit-learn Bunch); its repr shows shapes only.

    Keys
    ----
    X_train, X_test : ndarray, float32, shape (n_samples, n_voxels)
        One row per stimulus block (the test split averaged per image by default).
    y_train, y_test : ndarray, int64, shape (n_samples,)
        The row of ``images_train`` / ``images_test`` that each sample shows.
    images_train, images_test : ndarray, uint8, shape (n_images, H, W, 3), or None
        The stimuli in ascending image_index (None when prepared without stimulus images).
    stimuli : DataFrame
        split, image_index, stimulus_id, stimulus_name, sha256; a split's rows are in the
        order of its images.
    mask : nibabel image
        Which voxels the columns are (with ``voxel_ijk``).
    manifest : dict
        The version's manifest (inputs, parameters, outputs' sha256...).
    dataset, version, subject, DESCR : str
    """

    def __repr__(self) -> str:
        parts = []
        for key, value in self.items():
            if isinstance(value, np.ndarray):
                parts.append(f"{key}={value.dtype}{list(value.shape)}")
            elif isinstance(value, pd.DataFrame):
                parts.append(f"{key}=DataFrame[{len(value)} rows]")
            elif isinstance(value, str) and key != "DESCR":
                parts.append(f"{key}={value!r}")
            elif value is None:
                parts.append(f"{key}=None")
        return f"PreparedData({', '.join(parts)})"


def prepared_dir(dataset: str, version: str, *, data_home: str | os.PathLike[str] | None = None) -> Path:
    """Return ``<data-home>/<dataset>/<version>``; raise DataError if it was never prepared.

    Parameters
    ----------
    dataset, version : str
        Which preparation (plain names; a path separator or ``..`` is refused).
    data_home : path-like, optional
        The data home (default: ``$FMRI_BENCH_HOME``, else ``~/fmri_bench_data``).

    Returns
    -------
    Path
    """
    folder = resolve_data_home(data_home) / check_name(dataset, "dataset name") / check_name(version, "version name")
    if not (folder / "manifest.json").is_file():
        raise DataError(
            f"{dataset} {version} is not prepared in {folder.parent}; "
            f"run `fmri-bench prepare {dataset} --version {version}` first"
        )
    _refuse_outdated(folder, dataset, version)
    return folder


def _refuse_outdated(folder: Path, dataset: str, version: str) -> None:
    """A folder prepared from a built-in recipe under another definition of the version is refused."""
    from fmri_bench.prepare.core import outdated_message, read_manifest
    from fmri_bench.recipe import list_recipe_names, load_recipe

    if dataset not in list_recipe_names():
        return
    recipe = load_recipe(dataset)
    manifest = read_manifest(folder) or {}
    if (manifest.get("recipe") or {}).get("file") != str(recipe.path):
        return  # prepared from a recipe of the caller's (a file or an object): checked when prepared again
    if version not in recipe.versions:
        raise DataError(
            f"{folder}: {dataset} has no version {version!r} any more (versions now: {', '.join(recipe.versions)}); "
            f"delete {folder} and prepare one of them"
        )
    if manifest.get("parameters_hash") != recipe.parameters_hash(version):
        raise DataError(outdated_message(folder, recipe, version, manifest))


def prepared_splits(folder: Path, subject: str) -> list[str]:
    """The splits a subject has arrays of, in the order train, test, then the others (sorted).

    Parameters
    ----------
    folder : Path
        A prepared version folder.
    subject : str
        The subject.

    Returns
    -------
    list of str
    """
    found = {p.name[: -len("_fmri.npy")] for p in (folder / subject).glob("*_fmri.npy")}
    return [s for s in SPLITS if s in found] + sorted(found - set(SPLITS))


def prepared_subjects(dataset: str, version: str, *, data_home: str | os.PathLike[str] | None = None) -> list[str]:
    """Return the subjects prepared for ``dataset``/``version``, sorted.

    Parameters
    ----------
    dataset, version : str
        Which preparation.
    data_home : path-like, optional
        The data home.

    Returns
    -------
    list of str
    """
    folder = prepared_dir(dataset, version, data_home=data_home)
    return sorted(p.name for p in folder.glob("sub-*") if (p / "train_fmri.npy").is_file())


def average_by_label(fmri: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average the rows of ``fmri`` that share a label.

    Parameters
    ----------
    fmri : ndarray, shape (n_samples, n_voxels)
        The samples.
    labels : ndarray, shape (n_samples,)
        A label per sample.

    Returns
    -------
    means : ndarray, float32, shape (n_labels, n_voxels)
    labels : ndarray
        The sorted unique labels, one per row of ``means``.
    """
    labels = np.asarray(labels)
    unique, inverse = np.unique(labels, return_inverse=True)
    sums = np.zeros((unique.size, fmri.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, np.asarray(fmri, dtype=np.float64))
    counts = np.bincount(inverse, minlength=unique.size)[:, None]
    return (sums / counts).astype(np.float32), unique


def stimulus_table(dataset: str, version: str, *, data_home: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Return stimuli.tsv: split, image_index, stimulus_id, stimulus_name, sha256.

    Parameters
    ----------
    dataset, version : str
        Which preparation.
    data_home : path-like, optional
        The data home.

    Returns
    -------
    DataFrame
        A split's rows are in the order of ``images_<split>.npy`` (ascending image_index).
    """
    path = prepared_dir(dataset, version, data_home=data_home) / "stimuli.tsv"
    if not path.is_file():
        raise DataError(f"{path} does not exist; prepare {dataset} {version} again")
    return pd.read_csv(path, sep="\t", dtype={"stimulus_id": str, "sha256": str}, keep_default_na=False)


def load_images(
    dataset: str, version: str, split: str, *, data_home: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Return the stimulus images of a split, uint8 (n_images, H, W, 3), ascending image_index.

    Parameters
    ----------
    dataset, version : str
        Which preparation.
    split : str
        ``train``, ``test``, or another split of the version (``artificial``, ``letter``).
    data_home : path-like, optional
        The data home.

    Returns
    -------
    ndarray, memory-mapped
    """
    folder = prepared_dir(dataset, version, data_home=data_home)
    path = folder / f"images_{check_name(split, 'split')}.npy"
    if not path.is_file():
        if (folder / "stimuli.tsv").is_file():
            splits = set(stimulus_table(dataset, version, data_home=data_home)["split"])
            if split not in splits:
                raise DataError(f"{dataset} {version} has no split {split!r}; its splits: {', '.join(sorted(splits))}")
        raise DataError(
            f"{path} does not exist: {dataset} {version} was prepared without the {split} images "
            "(pass --stimuli IMAGE_DIR to fmri-bench prepare)"
        )
    return load_npy(path, mmap=True)


def rows_of(image_index: np.ndarray, split_index: np.ndarray, where: str) -> np.ndarray:
    """Map ``image_index`` labels to rows of a split's images (``split_index`` ascending).

    Parameters
    ----------
    image_index : ndarray of int
        Labels as stored on disk.
    split_index : ndarray of int
        The image_index of each row of the split's images, ascending.
    where : str
        The file the labels come from, for the error message.

    Returns
    -------
    ndarray, int64
    """
    labels = np.asarray(image_index, dtype=np.int64)
    rows = np.searchsorted(split_index, labels)
    found = rows < split_index.size
    found[found] = split_index[rows[found]] == labels[found]
    if not found.all():
        bad = int(labels[~found][0])
        raise DataError(f"{where}: image_index {bad} is not in stimuli.tsv; prepare this version again")
    return rows.astype(np.int64)


def load(
    dataset: str = "synthetic",
    version: str = "v1",
    subject: str = "sub-01",
    *,
    data_home: str | os.PathLike[str] | None = None,
    average_test: bool = True,
) -> PreparedData:
    """Load one subject's prepared data (nothing is prepared: see :func:`fmri_bench.fetch`).

    Parameters
    ----------
    dataset, version, subject : str
        What to load, e.g. ``("ds001506", "v1", "sub-01")``.
    data_home : path-like, optional
        The data home (default: ``$FMRI_BENCH_HOME``, else ``~/fmri_bench_data``).
    average_test : bool
        Average the repetitions of the test splits (``test``, and ``artificial`` and
        ``letter`` where prepared) per image, as reconstruction benchmarks score them: then
        ``y_test`` is ``0..n_test_images-1``. With False, every block is kept.

    Returns
    -------
    PreparedData
        ``X_<split>``, ``y_<split>`` and ``images_<split>`` for train, test and every other
        prepared split of the subject.
    """
    folder = prepared_dir(dataset, version, data_home=data_home)
    check_name(subject, "subject")
    if not (folder / subject / "train_fmri.npy").is_file():
        known = ", ".join(prepared_subjects(dataset, version, data_home=data_home)) or "none"
        raise DataError(f"{subject} is not prepared for {dataset} {version}; prepared subjects: {known}")
    table = stimulus_table(dataset, version, data_home=data_home)
    out: dict[str, Any] = {}
    for split in prepared_splits(folder, subject):
        split_index = table.loc[table["split"] == split, "image_index"].to_numpy(np.int64)
        X = load_npy(folder / subject / f"{split}_fmri.npy", mmap=True)
        labels = load_npy(folder / subject / f"{split}_labels.npy")
        if split != "train" and average_test:
            X, labels = average_by_label(X, labels)
        out[f"X_{split}"] = X
        out[f"y_{split}"] = rows_of(labels, split_index, str(folder / subject / f"{split}_labels.npy"))
        image_file = folder / f"images_{split}.npy"
        out[f"images_{split}"] = load_npy(image_file, mmap=True) if image_file.is_file() else None
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    import nibabel as nib

    return PreparedData(
        **out,
        stimuli=table,
        mask=nib.load(folder / subject / "mask.nii.gz"),
        voxel_ijk=load_npy(folder / subject / "voxel_ijk.npy"),
        manifest=manifest,
        dataset=dataset,
        version=version,
        subject=subject,
        DESCR=_describe(manifest, subject, average_test),
    )


def _describe(manifest: dict[str, Any], subject: str, average_test: bool) -> str:
    meta = manifest.get("subjects", {}).get(subject, {})
    method = (manifest.get("parameters") or {}).get("method", {})
    lines = [
        f"{manifest.get('title', manifest.get('dataset'))}, version {manifest.get('version')}, {subject}",
        f"method: {method.get('method', '?')} over ROIs {', '.join(method.get('rois', []))}",
        f"voxels: {meta.get('n_voxels', '?')}; train samples: {meta.get('train', {}).get('kept', '?')}; "
        f"test samples: {meta.get('test', {}).get('kept', '?')}"
        + (" (averaged per image in X_test)" if average_test else ""),
        f"source: {(manifest.get('release') or {}).get('source', '?')}",
        f"parameters sha256: {manifest.get('parameters_hash', '?')}",
    ]
    if not manifest.get("images"):
        lines.append("prepared without stimulus images: images_train/images_test are None")
    return "\n".join(lines)


def ceiling_references(
    dataset: str, version: str, subject: str, *, data_home: str | os.PathLike[str] | None = None
) -> set[str]:
    """The names of the reference rows the recipe marks as a ceiling (the synthetic oracle).

    Parameters
    ----------
    dataset, version, subject : str
        Which preparation and subject.
    data_home : path-like, optional
        The data home.

    Returns
    -------
    set of str
    """
    folder = prepared_dir(dataset, version, data_home=data_home)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    refs = manifest.get("subjects", {}).get(subject, {}).get("references", {})
    return {name for name, info in refs.items() if info.get("ceiling")}


def reference_reconstructions(
    dataset: str,
    version: str,
    subject: str,
    *,
    split: str = "test",
    data_home: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """The reference reconstructions a version carries for one subject (the synthetic oracle).

    prepare copies them from the source when the recipe names them (``[references.*]``);
    they follow ``images_<split>.npy`` row for row.

    Parameters
    ----------
    dataset, version, subject : str
        Which preparation and subject.
    split : str
        The split they reconstruct.
    data_home : path-like, optional
        The data home.

    Returns
    -------
    dict
        Reference name (the leaderboard row's name) -> reconstructions; empty when there is none.
    """
    folder = prepared_dir(dataset, version, data_home=data_home)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    refs = manifest.get("subjects", {}).get(subject, {}).get("references", {})
    out = {}
    for name, info in refs.items():
        path = (folder / info["file"]).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise DataError(f"{folder / 'manifest.json'}: reference file {info['file']!r} lies outside the version")
        if info["split"] == split:
            out[name] = load_npy(path, mmap=True)
    return out
