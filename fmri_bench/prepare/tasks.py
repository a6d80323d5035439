"""The inputs of one subject, checked before any run is read: masks, reads, transforms, events.

Every check that can fail on a file runs here, in the parent process, before the per-run
work starts: a missing or unreadable mask, BOLD header, events file or fMRIPrep transform,
a transform count that does not match the run, a mask off the BOLD grid (native space).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from fmri_bench.errors import DataError
from fmri_bench.prepare.align import read_itk_affines, voxel_maps
from fmri_bench.prepare.extract import Read, RunTask
from fmri_bench.raw.bids import Run, discover_runs, mask_paths, read_events, repetition_time, sidecar_chain
from fmri_bench.raw.fmriprep import run_derivatives
from fmri_bench.recipe import Recipe


@dataclass
class Mask:
    """One version's ROI union on the mask grid, and which columns belong to which ROI."""

    mask: np.ndarray  # bool 3-D
    affine: np.ndarray
    ijk: np.ndarray  # (n_voxels, 3): np.argwhere(mask), the column order of the arrays
    files: list[Path]
    roi_columns: dict[str, np.ndarray]  # ROI name -> its columns

    @property
    def flat(self) -> np.ndarray:
        """Fortran-order flat indices of the columns (the order NIfTI stores voxels in)."""
        return np.ravel_multi_index(self.ijk.T, self.mask.shape, order="F")


@dataclass
class SubjectInputs:
    """What one subject's preparation reads."""

    runs: list[Run]
    tasks: list[RunTask]
    masks: dict[str, Mask]  # version -> its mask
    inputs: list[dict[str, Any]]  # manifest records of every file read


def annex_key(path: Path) -> str | None:
    """The git-annex key of an annexed file (the name its symlink points to), if any.

    Parameters
    ----------
    path : Path
        A file of a datalad clone.

    Returns
    -------
    str or None
    """
    if path.is_symlink():
        target = os.readlink(path)
        if "annex/objects/" in target:
            return os.path.basename(target)
    return None


def input_record(path: Path, root: Path) -> dict[str, Any]:
    """The manifest record of an input file: path (relative to ``root`` when under it), size, annex key.

    Parameters
    ----------
    path : Path
        The file.
    root : Path
        The folder its path is recorded relative to.

    Returns
    -------
    dict
    """
    record: dict[str, Any] = {"path": str(path.relative_to(root)) if root in path.parents else str(path)}
    try:
        record["bytes"] = path.stat().st_size
    except OSError:
        record["bytes"] = None
    key = annex_key(path)
    if key:
        record["annex_key"] = key
    return record


def _read_mask_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not os.path.lexists(path):
        raise DataError(f"{path}: ROI mask missing (expected {path.name} in {path.parent})")
    if not path.exists():
        raise DataError(f"{path}: ROI mask not downloaded (a broken annex link; run `datalad get` or pass --source)")
    try:
        img = nib.load(path)
        data = np.asanyarray(img.dataobj) > 0
    except Exception as exc:  # nibabel raises many types for a corrupt file
        raise DataError(f"{path}: cannot read the ROI mask ({type(exc).__name__}: {exc})") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    return data, img.affine


def load_mask(root: Path, recipe: Recipe, subject: str, rois: list[str]) -> Mask:
    """Union of a version's ROI masks (every hemisphere), all on one grid.

    Parameters
    ----------
    root : Path
        The BIDS root.
    recipe : Recipe
        The dataset recipe.
    subject : str
        The subject.
    rois : list of str
        The version's ROIs.

    Returns
    -------
    Mask
    """
    files = mask_paths(root, recipe, subject, rois)  # per ROI, one file per hemisphere
    per_file = len(recipe.bids["hemispheres"])
    union, affine, per_roi = None, None, {}
    for k, path in enumerate(files):
        data, file_affine = _read_mask_file(path)
        if union is None:
            union, affine = np.zeros(data.shape, dtype=bool), file_affine
        elif data.shape != union.shape or not np.allclose(file_affine, affine, atol=1e-3):
            raise DataError(f"{path}: mask grid {data.shape} differs from {files[0].name} {union.shape}")
        union |= data
        roi = rois[k // per_file]
        per_roi[roi] = per_roi.get(roi, np.zeros_like(union)) | data
    assert union is not None and affine is not None
    if not union.any():
        raise DataError(f"{files[0].parent}: the ROI masks select no voxel")
    ijk = np.argwhere(union)
    columns = {roi: np.flatnonzero(m[tuple(ijk.T)]) for roi, m in per_roi.items()}
    return Mask(union, affine, ijk, files, columns)


def plan_reads(todo: dict[str, dict[str, Any]], masks: dict[str, Mask]) -> list[Read]:
    """Group the versions by space and interpolation: each group reads the run once, at the union of its voxels.

    Parameters
    ----------
    todo : dict
        Version -> its recipe table.
    masks : dict
        Version -> its mask.

    Returns
    -------
    list of Read
    """
    groups: dict[tuple[str, str | None], list[str]] = {}
    for version, params in todo.items():
        interpolation = params.get("interpolation") if params["space"] == "T1w" else None
        groups.setdefault((params["space"], interpolation), []).append(version)
    reads = []
    for (space, interpolation), versions in groups.items():
        first = masks[versions[0]]
        for version in versions[1:]:
            other = masks[version]
            if other.mask.shape != first.mask.shape or not np.allclose(other.affine, first.affine, atol=1e-3):
                raise DataError(f"{other.files[0]}: mask grid differs from {first.files[0].name}; expected one grid")
        union = np.zeros(first.mask.shape, dtype=bool)
        for version in versions:
            union |= masks[version].mask
        ijk = np.argwhere(union)
        flat = np.ravel_multi_index(ijk.T, union.shape, order="F")
        order = np.argsort(flat)  # ijk (C) order is not the flat (Fortran) order: search in sorted flat
        columns = {v: order[np.searchsorted(flat[order], masks[v].flat)] for v in versions}
        voxels = ijk if space == "T1w" else flat
        reads.append(Read(space, interpolation, voxels, columns))
    return reads


def _bold_header(run: Run) -> nib.Nifti1Image:
    if not os.path.lexists(run.bold):
        raise DataError(f"{run.bold}: BOLD file missing for {run.events.name}")
    if not run.bold.exists():
        raise DataError(
            f"{run.bold}: BOLD file not downloaded (a broken annex link; run `datalad get` or pass --source)"
        )
    try:
        header = nib.load(run.bold)
        shape = header.shape
    except Exception as exc:  # nibabel raises many types for a corrupt header
        raise DataError(f"{run.bold}: cannot read NIfTI ({type(exc).__name__}: {exc})") from exc
    if len(shape) != 4:
        raise DataError(f"{run.bold}: expected a 4-D BOLD image, got shape {shape}")
    return header


def _run_tr(run: Run, root: Path, header: nib.Nifti1Image) -> float:
    tr = repetition_time(run.bold, root)
    if tr is None:
        tr = float(header.header.get_zooms()[3])
        if not (np.isfinite(tr) and tr > 0):
            raise DataError(f"{run.bold}: no RepetitionTime in its sidecars, and the NIfTI header's is {tr:g}")
    return tr


def run_maps(
    run: Run, fmriprep: Path, header: nib.Nifti1Image, mask_affine: np.ndarray
) -> tuple[np.ndarray, list[Path]]:
    """A run's per-volume voxel maps (mask grid -> raw grid) from its fMRIPrep transforms, checked.

    Parameters
    ----------
    run : Run
        The raw run.
    fmriprep : Path
        The fMRIPrep derivatives root.
    header : nibabel image
        The raw run's image (header only is read).
    mask_affine : ndarray
        The ROI masks' voxel -> T1w affine.

    Returns
    -------
    maps : ndarray, shape (n_volumes, 4, 4)
    files : list of Path
        The derivative files read.
    """
    files = run_derivatives(fmriprep, run)
    for path in files.transforms():
        if not os.path.lexists(path):
            raise DataError(
                f"{path}: fMRIPrep transform missing for {run.bold.name} (expected fMRIPrep 23.2 outputs under "
                f"{fmriprep}; give their folder with --fmriprep)"
            )
        if not path.exists():
            raise DataError(f"{path}: fMRIPrep transform not downloaded (a broken annex link; run `datalad get`)")
    hmc, coreg = read_itk_affines(files.hmc), read_itk_affines(files.coreg)
    if len(hmc) != header.shape[3]:
        raise DataError(
            f"{files.hmc}: {len(hmc)} head-motion transforms for the {header.shape[3]} volumes of {run.bold.name}"
        )
    if len(coreg) != 1:
        raise DataError(f"{files.coreg}: {len(coreg)} transforms; expected one coregistration affine")
    source, used = header.affine, [files.hmc, files.coreg]
    if files.hmc_boldref.exists():  # fMRIPrep's validated header: its transforms live in that world
        ref = nib.load(files.hmc_boldref)
        if tuple(ref.shape[:3]) != tuple(header.shape[:3]):
            raise DataError(
                f"{files.hmc_boldref}: grid {ref.shape[:3]} is not the BOLD grid {header.shape[:3]} of {run.bold.name}"
            )
        source = ref.affine
        used.append(files.hmc_boldref)
    return voxel_maps(hmc, coreg[0], source, mask_affine), used


def _check_native_grid(
    run: Run, header: nib.Nifti1Image, masks: dict[str, Mask], todo: dict[str, dict[str, Any]]
) -> None:
    for version, mask in masks.items():
        if todo[version]["space"] != "native":
            continue
        if header.shape[:3] != mask.mask.shape or not np.allclose(header.affine, mask.affine, atol=1e-3):
            raise DataError(
                f"{mask.files[0]}: mask grid {mask.mask.shape} does not match the BOLD grid {header.shape[:3]} "
                f"of {run.bold.name} (space native reads the raw voxels; a T1w version aligns them)"
            )


def subject_inputs(
    recipe: Recipe, root: Path, subject: str, todo: dict[str, dict[str, Any]], fmriprep: Path | None
) -> SubjectInputs:
    """Read and check one subject's events, headers, masks and transforms; return its run tasks.

    Parameters
    ----------
    recipe : Recipe
        The dataset recipe.
    root : Path
        The BIDS root.
    subject : str
        The subject.
    todo : dict
        Version -> its recipe table.
    fmriprep : Path or None
        The fMRIPrep derivatives root (needed by T1w versions).

    Returns
    -------
    SubjectInputs
    """
    runs = discover_runs(root, recipe, subject)
    masks = {v: load_mask(root, recipe, subject, list(p["rois"])) for v, p in todo.items()}
    inputs = [input_record(p, root) for m in masks.values() for p in m.files]
    reads = plan_reads(todo, masks)
    t1w = next((masks[v] for v, p in todo.items() if p["space"] == "T1w"), None)
    tasks = []
    for run in runs:
        header = _bold_header(run)
        _check_native_grid(run, header, masks, todo)
        maps = None
        if t1w is not None:
            assert fmriprep is not None
            maps, used = run_maps(run, fmriprep, header, t1w.affine)
            inputs += [input_record(p, root) for p in used]
        events = read_events(run.events, recipe.events, recipe.splits[run.split].get("n_images"))
        tasks.append(RunTask(run.bold, events, _run_tr(run, root, header), int(header.shape[3]), reads, todo, maps))
        inputs += [input_record(run.bold, root), input_record(run.events, root)]
        inputs += [input_record(p, root) for p in sidecar_chain(run.bold, root)]
    return SubjectInputs(runs, tasks, masks, inputs)
