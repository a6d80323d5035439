"""Read the parts of a BIDS tree that prepare needs: runs, events, repetition times, masks.

Discovery works on a datalad clone whose annexed files are not fetched yet (broken
symlinks), so fetch can ask which files a preparation needs before downloading them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmri_bench.errors import DataError
from fmri_bench.recipe import Recipe

_ENTITY = re.compile(r"([a-zA-Z0-9]+)-([a-zA-Z0-9]+)")


@dataclass(frozen=True)
class Run:
    """One functional run that feeds a split.

    Attributes
    ----------
    subject, session, split : str
        e.g. ``sub-01``, ``ses-perceptionNaturalImageTraining01``, ``train``.
    run : int
        The run number.
    bold, events : Path
        The BOLD NIfTI and its events.tsv.
    """

    subject: str
    session: str
    split: str
    run: int
    bold: Path
    events: Path

    @property
    def name(self) -> str:
        """The run's file stem without suffix, e.g. ``sub-01_ses-..._task-perception_run-01``."""
        return self.bold.name[: -len("_bold.nii.gz")]


def entities(filename: str) -> dict[str, str]:
    """Return the BIDS key-value entities of a file name (``sub``, ``ses``, ``task``, ``run``...).

    Parameters
    ----------
    filename : str
        A file name without folders; the extension and the suffix after the last ``_``
        (``bold``, ``events``) are ignored.

    Returns
    -------
    dict of str to str
        Key -> value, e.g. ``{"sub": "01", "run": "01"}``.
    """
    stem = filename.split(".", 1)[0]
    return dict(_ENTITY.findall("_".join(stem.split("_")[:-1]) if "_" in stem else stem))


def list_subjects(root: str | os.PathLike[str]) -> list[str]:
    """Return the ``sub-*`` folders of a BIDS tree, sorted.

    Parameters
    ----------
    root : path-like
        The BIDS root.

    Returns
    -------
    list of str
        Folder names (``sub-01``...); empty when there is none.
    """
    return sorted(p.name for p in Path(root).glob("sub-*") if p.is_dir())


def _run_number(path: Path) -> int:
    return int(entities(path.name).get("run", "0"))


def discover_runs(root: str | os.PathLike[str], recipe: Recipe, subject: str) -> list[Run]:
    """Return the runs of ``subject`` that feed the recipe's splits, in session and run order.

    Runs are found by their events files; the BOLD path is derived from each, and need not
    exist yet.

    Parameters
    ----------
    root : path-like
        The BIDS root.
    recipe : Recipe
        The dataset recipe (its task and the session pattern of each split).
    subject : str
        The subject folder, e.g. ``sub-01``.

    Returns
    -------
    list of Run
        The train runs, then the test runs, then those of the recipe's other splits.

    Raises
    ------
    DataError
        The subject has no run for the train or test split, or two runs are one file (a
        session folder linked to another).
    """
    root = Path(root)
    task = recipe.bids["task"]
    runs: list[Run] = []
    for split in recipe.split_names:
        pattern = recipe.splits[split]["sessions"]
        # Runs are found by their events files (small, in git): a missing or unfetched BOLD
        # then fails with its own name instead of silently shrinking the split.
        found = sorted(
            (root / subject).glob(f"{pattern}/func/{subject}_ses-*_task-{task}_run-*_events.tsv"),
            key=lambda p: (p.parent.parent.name, _run_number(p)),
        )
        if not found and split in ("train", "test"):
            raise DataError(
                f"{root / subject}: no {split} run (expected {pattern}/func/*_task-{task}_run-*_events.tsv)"
            )
        for events in found:
            bold = events.with_name(events.name[: -len("_events.tsv")] + "_bold.nii.gz")
            runs.append(
                Run(
                    subject=subject,
                    session=events.parent.parent.name,
                    split=split,
                    run=_run_number(events),
                    bold=bold,
                    events=events,
                )
            )
    _refuse_duplicates(runs)
    return runs


def _refuse_duplicates(runs: list[Run]) -> None:
    """Two runs that are one file (a symlinked session folder) would count every block twice."""
    seen: dict[str, Path] = {}
    for run in runs:
        real = os.path.realpath(run.events)
        if real in seen:
            raise DataError(
                f"{run.events}: the same file as {seen[real]} (a session folder linked to another?); "
                "expected each run once"
            )
        seen[real] = run.events


def mask_paths(root: str | os.PathLike[str], recipe: Recipe, subject: str, rois: list[str]) -> list[Path]:
    """Return the ROI mask files (every hemisphere of every ROI) of ``subject``.

    Parameters
    ----------
    root : path-like
        The BIDS root.
    recipe : Recipe
        The dataset recipe (its ``bids.mask`` path template and ``bids.hemispheres``).
    subject : str
        The subject folder, e.g. ``sub-01``.
    rois : list of str
        ROI names as the mask template spells them.

    Returns
    -------
    list of Path
        Per ROI, one path per hemisphere; whether the files exist is not checked.
    """
    template = recipe.bids["mask"]
    return [
        Path(root) / template.format(subject=subject, hemi=hemi, roi=roi)
        for roi in rois
        for hemi in recipe.bids["hemispheres"]
    ]


def sidecar_chain(bold: Path, root: Path) -> list[Path]:
    """Return the JSON sidecars that apply to ``bold`` by BIDS inheritance, outermost first.

    A sidecar applies when its suffix is ``bold`` and its entities are a subset of the
    BOLD file's; it sits in the BOLD's folder or any folder above, up to ``root``.

    Parameters
    ----------
    bold : Path
        The BOLD file.
    root : Path
        The BIDS root (when ``bold`` is not under it, only the BOLD's folder is searched).

    Returns
    -------
    list of Path
        The applicable ``*_bold.json`` files, outermost folder first.
    """
    own = entities(bold.name)
    chain: list[Path] = []
    folder = bold.parent
    levels = []
    while True:
        levels.append(folder)
        if folder == root or root not in folder.parents:
            break
        folder = folder.parent
    for level in reversed(levels):
        for candidate in sorted(level.glob("*bold.json")):
            ents = entities(candidate.name)
            if candidate.name.endswith("_bold.json") and all(own.get(k) == v for k, v in ents.items()):
                chain.append(candidate)
    return chain


def read_sidecar(bold: Path, root: Path) -> dict[str, Any]:
    """Return the merged sidecar metadata of ``bold`` (inner files override outer ones).

    Parameters
    ----------
    bold : Path
        The BOLD file.
    root : Path
        The BIDS root.

    Returns
    -------
    dict
        The merged JSON objects; empty when no sidecar applies.

    Raises
    ------
    DataError
        A sidecar is not readable JSON.
    """
    merged: dict[str, Any] = {}
    for path in sidecar_chain(bold, root):
        try:
            merged.update(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable JSON sidecar ({exc})") from exc
    return merged


def repetition_time(bold: Path, root: Path) -> float | None:
    """Return RepetitionTime (s) from the sidecars of ``bold``, or None if none says.

    Parameters
    ----------
    bold : Path
        The BOLD file.
    root : Path
        The BIDS root.

    Returns
    -------
    float or None
        The repetition time in seconds.
    """
    tr = read_sidecar(bold, root).get("RepetitionTime")
    if tr is None:
        return None
    where = next(
        (p for p in reversed(sidecar_chain(bold, root)) if "RepetitionTime" in p.read_text(encoding="utf-8")), bold
    )
    try:
        value = float(tr)
    except (TypeError, ValueError):
        raise DataError(f"{where}: RepetitionTime is {tr!r}; expected a positive number of seconds") from None
    if not np.isfinite(value) or value <= 0 or isinstance(tr, bool):
        raise DataError(f"{where}: RepetitionTime is {tr!r}; expected a positive number of seconds")
    return value


def read_events(path: str | os.PathLike[str], spec: dict[str, Any], n_images: int | None = None) -> pd.DataFrame:
    """Read an events.tsv, check every row, and classify it.

    Parameters
    ----------
    path : path-like
        The events file.
    spec : dict
        The recipe's ``[events]`` table: the event-type ``column``, the codes of
        ``stimulus``, ``repeat`` and ``rest`` rows, ``na_values``, and
        ``drop_consecutive_repeats`` (unflagged one-back repetitions: the same image in
        two consecutive stimulus rows; the second is a repeat).
    n_images : int, optional
        The split's number of images: an image_index above it is refused.

    Returns
    -------
    DataFrame
        ``onset``, ``duration``, ``role`` (``sample``, ``repeat`` or ``rest``),
        ``image_index`` (int, -1 for rest), ``stimulus_name``, ``stimulus_id``.

    Raises
    ------
    DataError
        One line naming the file and the row: unreadable file, missing columns, an unknown
        event code, a negative, NaN or non-numeric onset, a non-positive duration, two rows
        with one onset, a stimulus row without image_index, or an image_index that is not an
        integer from 1 to ``n_images``.
    """
    path = Path(path)
    frame = _read_table(path, spec)
    roles = _roles(path, frame, spec)
    onset = _numbers(path, frame["onset"], "onset", lambda v: v >= 0, "a number >= 0")
    duration = _numbers(path, frame["duration"], "duration", lambda v: v > 0, "a positive number")
    repeated = pd.Series(onset).duplicated().to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        first = int(np.flatnonzero(onset == onset[row])[0])
        raise DataError(
            f"{path}: row {row + 1} repeats the onset {onset[row]:g} of row {first + 1}; expected one row per event"
        )
    stim = (roles != "rest").to_numpy()
    image_index = _image_index(path, frame["image_index"], stim, list(spec.get("na_values", ["n/a"])), n_images)
    if spec.get("drop_consecutive_repeats", False):
        _flag_consecutive_repeats(roles, image_index)
    stimulus_id = frame["stimulus_id"] if "stimulus_id" in frame.columns else pd.Series("", index=frame.index)
    return pd.DataFrame(
        {
            "onset": onset,
            "duration": duration,
            "role": roles.to_numpy(),
            "image_index": image_index,
            "stimulus_name": frame["stimulus_name"].where(stim, "").to_numpy(),
            "stimulus_id": stimulus_id.where(stim, "").to_numpy(),
        }
    )


def _read_table(path: Path, spec: dict[str, Any]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a readable events.tsv ({exc})") from exc
    needed = ["onset", "duration", spec["column"], "image_index", "stimulus_name"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} "
            "(image_index and stimulus_name exist in ds001506 from release 1.3.0 on)"
        )
    return frame.apply(lambda col: col.str.strip())


def _roles(path: Path, frame: pd.DataFrame, spec: dict[str, Any]) -> pd.Series:
    column = spec["column"]
    codes = frame[column]
    roles = pd.Series("", index=frame.index, dtype=object)
    for role, key in (("sample", "stimulus"), ("repeat", "repeat"), ("rest", "rest")):
        roles[codes.isin([str(c) for c in spec[key]])] = role
    unknown = roles == ""
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        known = [str(c) for key in ("stimulus", "repeat", "rest") for c in spec[key]]
        raise DataError(
            f"{path}: unknown {column} {codes.iloc[row]!r} in row {row + 1}; expected one of: {', '.join(known)}"
        )
    return roles


def _numbers(path: Path, column: pd.Series, name: str, valid, expected: str) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | ~valid(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: row {row + 1} has {name} {column.iat[row]!r}; expected {expected}")
    return values


def _image_index(
    path: Path, column: pd.Series, stim: np.ndarray, na_values: list[str], n_images: int | None
) -> np.ndarray:
    text = column.where(~column.isin(na_values), "")
    values = pd.to_numeric(text.where(stim, "-1"), errors="coerce").to_numpy(dtype=np.float64)
    top = n_images if n_images is not None else np.inf
    with np.errstate(invalid="ignore"):
        bad = stim & (~np.isfinite(values) | (values != np.round(values)) | (values < 1) | (values > top))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        if text.iat[row] == "":
            raise DataError(f"{path}: stimulus row {row + 1} has no image_index")
        limit = f" to {n_images}" if n_images is not None else ""
        raise DataError(f"{path}: row {row + 1} has image_index {text.iat[row]!r}; expected an integer from 1{limit}")
    return np.where(stim, values, -1).astype(np.int64)


def _flag_consecutive_repeats(roles: pd.Series, image_index: np.ndarray) -> None:
    """Unflagged one-back (ds001246): a stimulus row showing the image of the stimulus row before it."""
    last = None
    for i in range(len(roles)):
        if roles.iat[i] == "rest":
            last = None
            continue
        if last is not None and image_index[i] == last:
            roles.iat[i] = "repeat"
        last = image_index[i]


def block_volumes(onset: float, duration: float, delay_s: float, tr: float) -> np.ndarray:
    """Return the volume indices whose acquisition time lies in the block shifted by ``delay_s``.

    Volume ``i`` is acquired at ``i * tr``; the block covers ``[onset + delay, onset + duration + delay)``.

    Parameters
    ----------
    onset, duration : float
        The block, in seconds from the start of the run.
    delay_s : float
        The haemodynamic delay, in seconds.
    tr : float
        The repetition time, in seconds.

    Returns
    -------
    ndarray, int64, shape (K,)
        Consecutive volume indices (K may be 0); they are not clipped to the run's length.
    """
    start, stop = onset + delay_s, onset + duration + delay_s
    first = int(np.ceil(start / tr - 1e-9))
    last = int(np.ceil(stop / tr - 1e-9))  # exclusive
    return np.arange(first, max(first, last))
