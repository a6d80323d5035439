"""Orchestration: raw BIDS -> ``<data-home>/<dataset>/<version>/`` arrays, manifest and verify.

Each version is built in a temporary folder beside its target and renamed into place at
the end, so a failing run leaves nothing half-written and never touches an existing
preparation. A version name is bound to the hash of its recipe parameters.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from fmri_bench import __version__
from fmri_bench.errors import DataError, FmriBenchError
from fmri_bench.io import atomic_dir, save_npy_atomic, sha256_file, write_json_atomic, write_text_atomic
from fmri_bench.paths import check_name
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.prepare.extract import DROP_REPEAT, DROP_SHORT, RunResult
from fmri_bench.prepare.parallel import check_backend, runner
from fmri_bench.prepare.quality import alignment_qc, reliability, summary_line
from fmri_bench.prepare.references import copy_references
from fmri_bench.prepare.stimuli import build_images, catalogue
from fmri_bench.prepare.tasks import Mask, SubjectInputs, subject_inputs
from fmri_bench.progress import get_logger
from fmri_bench.provenance import package_versions, utc_now
from fmri_bench.raw.bids import Run, list_subjects
from fmri_bench.raw.fmriprep import default_root
from fmri_bench.recipe import Recipe, load_recipe

log = get_logger(__name__)

MANIFEST = "manifest.json"
ALL_VERSIONS = "all"
MIN_FREE_BYTES = 50_000_000  # checked before the work; a disk that fills later is reported with its path


# --------------------------------------------------------------------------- inputs


def _release_info(recipe: Recipe, root: Path) -> dict[str, Any]:
    """What the source is: pinned release, git commit of the source if it is a clone, description."""
    info: dict[str, Any] = {"source": str(root)}
    if recipe.source["kind"] == "openneuro":
        info.update(
            {"url": recipe.source["url"], "release": recipe.source["release"], "pinned_commit": recipe.source["commit"]}
        )
    else:
        info.update({k: v for k, v in recipe.source.items() if k != "kind"})
    info.update(_git_head(root))
    if "commit" in info and recipe.source["kind"] == "openneuro":
        info["matches_pinned_commit"] = info["commit"] == recipe.source["commit"]
    description = root / "dataset_description.json"
    if description.is_file():
        with contextlib.suppress(ValueError):
            info["dataset_description"] = json.loads(description.read_text(encoding="utf-8"))
    return info


def _git_head(folder: Path) -> dict[str, str]:
    """``{"commit": HEAD}`` when ``folder`` is the root of a git clone (a datalad dataset), else ``{}``."""
    if not (folder / ".git").exists():
        return {}
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head}


# --------------------------------------------------------------------------- outputs


def _guard_write(path: Path, write) -> None:
    """Run ``write``; turn OSError (a full disk...) into a one-line DataError naming ``path``."""
    try:
        write()
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DataError(f"{path}: no space left on device while writing the prepared data") from exc
        raise DataError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def _save_npy(path: Path, array: np.ndarray) -> None:
    _guard_write(path, lambda: save_npy_atomic(path, array))


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a prepared version folder, or None when there is none.

    Parameters
    ----------
    folder : Path
        A prepared version folder (``<data-home>/prepared/<dataset>/<version>``).

    Returns
    -------
    dict or None
        The parsed manifest JSON.

    Raises
    ------
    DataError
        The manifest is not valid JSON.
    """
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); delete {folder} and prepare again") from exc


# --------------------------------------------------------------------------- prepare


def _subject_outputs(
    recipe: Recipe, runs: list[Run], results: list[RunResult], version: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays of one subject and version, and their counts per split (a split without runs has none)."""
    arrays: dict[str, np.ndarray] = {}
    counts: dict[str, Any] = {}
    for split in recipe.split_names:
        split_runs = [run for run in runs if run.split == split]
        picked = [r.samples[version] for run, r in zip(runs, results) if run.split == split]
        if not picked:
            continue
        arrays[f"{split}_fmri"] = np.concatenate([p.fmri for p in picked]).astype(np.float32, copy=False)
        arrays[f"{split}_labels"] = np.concatenate([p.labels for p in picked]).astype(np.int64)
        dropped = {DROP_REPEAT: 0, DROP_SHORT: 0}
        short_runs = []
        for run, p in zip(split_runs, picked):
            for key, n in p.dropped.items():
                dropped[key] += n
            if p.dropped.get(DROP_SHORT):
                short_runs.append({"run": run.name, "blocks_dropped": p.dropped[DROP_SHORT]})
        counts[split] = {
            "runs": len(picked),
            "sessions": len({run.session for run in split_runs}),
            "kept": int(arrays[f"{split}_labels"].size),
            "dropped": dropped,
            "dropped_why": {
                DROP_REPEAT: "one-back repetition block (the task's repeat, not a new sample)",
                DROP_SHORT: "block window (shifted by the haemodynamic delay) passes the run's last volume",
            },
            "short_runs": short_runs,
        }
    return arrays, counts


def _write_subject(folder: Path, arrays: dict[str, np.ndarray], mask: Mask) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        _save_npy(folder / f"{name}.npy", array)
    mask_img = nib.Nifti1Image(mask.mask.astype(np.uint8), mask.affine)
    _guard_write(folder / "mask.nii.gz", lambda: nib.save(mask_img, folder / "mask.nii.gz"))
    _save_npy(folder / "voxel_ijk.npy", mask.ijk.astype(np.int32))


def _hash_outputs(folder: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            out[str(path.relative_to(folder))] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def resolve_versions(recipe: Recipe, versions: str | Sequence[str] | None) -> list[str]:
    """The version names that ``versions`` means for ``recipe`` (``"all"``: every one), checked.

    Parameters
    ----------
    recipe : Recipe
        The dataset recipe.
    versions : str or sequence of str or None
        ``"all"`` (or None) or version names.

    Returns
    -------
    list of str
    """
    names = recipe.versions if versions in ("all", None) else (_as_list(versions) or [])
    for version in names:
        recipe.version(version)  # unknown version -> one-line error
    return list(names)


def pending_versions(
    recipe: Recipe,
    source: str | os.PathLike[str],
    *,
    versions: str | Sequence[str] = ALL_VERSIONS,
    subjects: str | Sequence[str] | None = None,
    stimuli: str | os.PathLike[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The versions that :func:`prepare` would (re)build; the others are complete.

    A version is complete when its manifest has the recipe's parameter hash, holds the
    wanted subjects, and has images when ``stimuli`` is given. ``source`` need not exist
    yet (then every subject of the recipe is wanted).

    Parameters
    ----------
    recipe : Recipe
        The dataset recipe.
    source : path-like
        The raw BIDS root the version is (or will be) prepared from.
    versions, subjects, stimuli, data_home
        As for :func:`prepare`.

    Returns
    -------
    list of str

    Raises
    ------
    DataError
        A version prepared with other parameters or from another source.
    """
    home = resolve_data_home(data_home)
    source_root = Path(source).expanduser().resolve()
    wanted = _as_list(subjects)
    todo = []
    for version in resolve_versions(recipe, versions):
        folder = home / recipe.name / version
        manifest = read_manifest(folder)
        if manifest is None:
            todo.append(version)
            continue
        if manifest.get("parameters_hash") != recipe.parameters_hash(version):
            raise DataError(outdated_message(folder, recipe, version, manifest))
        # One version holds one source: adding subjects from another BIDS copy would mix datasets.
        recorded = (manifest.get("release") or {}).get("source")
        if recorded and Path(recorded) != source_root:
            raise DataError(
                f"{folder} was prepared from {recorded}, not {source_root}; a version holds one source: "
                f"delete {folder} or use another --data-home"
            )
        need = wanted or recipe.subjects or (list_subjects(source_root) if source_root.is_dir() else None)
        need_images = stimuli is not None and not manifest.get("images")
        if (need is not None and not set(need) <= set(manifest.get("subjects", {}))) or need_images:
            todo.append(version)
    return todo


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two parameter trees (e.g. ``method.trial_model``).

    Parameters
    ----------
    old, new : object
        Parameter dicts (as :meth:`Recipe.parameters` returns) or their values.
    prefix : str
        The dotted path of ``old`` and ``new``.

    Returns
    -------
    list of str
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def outdated_message(folder: Path, recipe: Recipe, version: str, manifest: dict[str, Any]) -> str:
    """One line for a version folder prepared under other parameters: what changed, and how to redo it.

    Parameters
    ----------
    folder : Path
        The version folder.
    recipe : Recipe
        The recipe as it is now.
    version : str
        The version.
    manifest : dict
        The folder's manifest.

    Returns
    -------
    str
    """
    changed = changed_keys(manifest.get("parameters") or {}, recipe.parameters(version))
    shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
    return (
        f"{folder} was prepared under another definition of {recipe.name} {version} "
        f"(changed: {shown or 'the parameter hash'}); a version name is frozen to its parameters: "
        f"delete {folder} and run `fmri-bench prepare {recipe.name} --version {version}` to rebuild it"
    )


def prepare(
    recipe: str | Recipe,
    source: str | os.PathLike[str],
    *,
    versions: str | Sequence[str] = ALL_VERSIONS,
    subjects: str | Sequence[str] | None = None,
    stimuli: str | os.PathLike[str] | None = None,
    fmriprep: str | os.PathLike[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
    n_jobs: int = 1,
    backend: str | None = None,
    scheduler: str | None = None,
) -> list[Path]:
    """Prepare versions of a dataset from a raw BIDS tree into ``<data-home>/<dataset>/<version>/``.

    A pure stage: it reads ``source`` (never writes into it, never downloads or
    simulates: :func:`fmri_bench.pipeline.acquire` does that) and writes only the
    version folders, each built in a temporary folder and swapped in at the end.

    Parameters
    ----------
    recipe : str or Recipe
        ``synthetic``, ``ds001506``, ``ds001246``, the path of a recipe TOML, or a loaded Recipe.
    source : path-like
        The raw BIDS root (read only).
    versions : str or sequence of str
        Versions to build (``"all"`` or e.g. ``("v1", "v2")``); complete ones are skipped.
    subjects : str or sequence of str, optional
        Subjects to prepare (default: the recipe's, else every ``sub-*`` of the source).
    stimuli : path-like, optional
        Folder of stimulus images named by stimulus_name (default for a simulated
        source: its ``stimuli/`` folder).
    fmriprep : path-like, optional
        fMRIPrep derivatives of ``source`` (default ``<source>/derivatives/fmriprep``); read by
        the versions in ``T1w`` space.
    data_home : path-like, optional
        Default: ``$FMRI_BENCH_HOME``, else ``~/fmri_bench_data``.
    n_jobs, backend, scheduler
        Runs processed in parallel (capped at the CPU count); ``loky``, ``threading`` (joblib)
        or ``dask``; with ``dask``, a scheduler address (default: a local cluster).

    Returns
    -------
    list of Path
        The version folders (every requested version).

    Raises
    ------
    DataError
        Bad or missing input (one line naming the file), or a version prepared under other parameters.
    """
    check_backend(backend, scheduler)
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    home = resolve_data_home(data_home)
    root = Path(source).expanduser().resolve()
    names = resolve_versions(recipe, versions)
    if not root.is_dir():
        raise DataError(f"{root}: no such BIDS folder (expected a local copy of {recipe.name})")
    if not list_subjects(root):
        raise DataError(f"{root}: no sub-* folder; expected a BIDS copy of {recipe.name} with its subjects")
    todo = pending_versions(recipe, root, versions=names, subjects=subjects, stimuli=stimuli, data_home=home)
    if not todo:
        log.info("%s %s: already prepared in %s (nothing to do)", recipe.name, ", ".join(names), home / recipe.name)
        return [home / recipe.name / v for v in names]
    started = time.perf_counter()
    subject_list = _subject_list(root, subjects, recipe)
    if stimuli is None and (root / "stimuli").is_dir() and recipe.source["kind"] == "simulate":
        stimuli = root / "stimuli"
    check_writable(home / recipe.name, stimuli)
    params = {v: recipe.version(v) for v in todo}
    derivatives = _fmriprep_root(root, fmriprep, params)
    with runner(n_jobs, backend, scheduler) as run:
        built, events_by_split = _extract(recipe, root, subject_list, params, derivatives, run)
    shared = _shared_outputs(recipe, root, events_by_split, stimuli, derivatives)
    for version in todo:
        _write_version(recipe, version, home / recipe.name / version, built[version], shared)
    seconds = time.perf_counter() - started
    log.info("%s %s: prepared in %.1f s -> %s", recipe.name, ", ".join(todo), seconds, home / recipe.name)
    return [home / recipe.name / v for v in names]


def _fmriprep_root(root: Path, fmriprep: str | os.PathLike[str] | None, params: dict[str, dict]) -> Path | None:
    """The fMRIPrep derivatives folder, checked, when a version needs it."""
    if not any(p["space"] == "T1w" for p in params.values()):
        return None
    folder = Path(fmriprep).expanduser().resolve() if fmriprep is not None else default_root(root)
    if not folder.is_dir():
        raise DataError(
            f"{folder}: no fMRIPrep derivatives folder; the T1w versions resample each run through its "
            "head-motion and coregistration transforms (give their folder with --fmriprep)"
        )
    return folder


def check_writable(folder: Path, stimuli: str | os.PathLike[str] | None) -> None:
    """Before any work: the stimulus folder exists, and the data home can be written and has room.

    Parameters
    ----------
    folder : Path
        ``<data-home>/<dataset>``: where the version folders go.
    stimuli : path-like or None
        The stimulus folder.

    Raises
    ------
    DataError
        One line naming the path.
    """
    if stimuli is not None and not Path(stimuli).is_dir():
        raise DataError(f"{stimuli}: no such stimulus folder (expected images named by stimulus_name)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise DataError(f"{folder}: cannot write the prepared data here ({exc.strerror or exc})") from None
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise DataError(
            f"{folder}: only {free / 1e6:.0f} MB free; prepare needs at least {MIN_FREE_BYTES / 1e6:.0f} MB"
        )


def _subject_list(root: Path, subjects: str | Sequence[str] | None, recipe: Recipe) -> list[str]:
    """The subjects to prepare: asked for, else the recipe's, else every one of the source; all present."""
    available = list_subjects(root)
    subject_list = _as_list(subjects) or recipe.subjects or available
    missing = [s for s in subject_list if s not in available]
    if missing:
        raise DataError(f"{root}: no folder for {', '.join(missing)}; subjects there: {', '.join(available) or 'none'}")
    return subject_list


def _extract(
    recipe: Recipe,
    root: Path,
    subject_list: list[str],
    params: dict[str, dict[str, Any]],
    fmriprep: Path | None,
    run,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[tuple[Path, pd.DataFrame]]]]:
    """Read every run of every subject once and compute all versions; keep the small results."""
    built: dict[str, dict[str, Any]] = {v: {"subjects": {}, "inputs": []} for v in params}
    events_by_split: dict[str, list[tuple[Path, pd.DataFrame]]] = {s: [] for s in recipe.split_names}
    warned: set[tuple[str, str]] = set()
    for subject in subject_list:
        found = subject_inputs(recipe, root, subject, params, fmriprep)
        for item, task in zip(found.runs, found.tasks):
            events_by_split[item.split].append((item.events, task.events))
        results = run(found.tasks, f"{recipe.name} {subject}: {len(found.tasks)} runs")
        in_view = _in_view(results)
        qc = {key: _alignment(found, results, key, in_view[key]) for key in in_view}
        for version in params:
            arrays, counts = _subject_outputs(recipe, found.runs, results, version)
            arrays, mask, n_out = drop_out_of_view(
                arrays, found.masks[version], _version_in_view(found, version, in_view)
            )
            item = _subject_item(found, version, arrays, counts, qc, params, mask)
            built[version]["subjects"][subject] = {**item, "out_of_view": n_out}
            built[version]["inputs"] += found.inputs
            _log_subject(recipe, subject, version, built[version]["subjects"][subject], warned)
        del results
    return built, events_by_split


def _in_view(results: list[RunResult]) -> dict[str, np.ndarray]:
    """Read key -> the read's voxels that stayed in the field of view of every run (all volumes)."""
    if not results:
        return {}
    return {key: np.logical_and.reduce([x.qc[key].in_view for x in results]) for key in results[0].qc}


def _version_in_view(found: SubjectInputs, version: str, in_view: dict[str, np.ndarray]) -> np.ndarray | None:
    """A version's columns (its mask order) that stayed in view in every run; None when nothing was read."""
    for read in found.tasks[0].reads if found.tasks else []:
        if version in read.columns:
            return in_view[read.key][read.columns[version]]
    return None


def drop_out_of_view(
    arrays: dict[str, np.ndarray], mask: Mask, keep: np.ndarray | None
) -> tuple[dict[str, np.ndarray], Mask, int]:
    """Drop the voxels that left some run's field of view: their series hold no data there.

    Head motion moves mask voxels near the edge of the acquired volume out of some runs
    (resampling gives zeros there, as fMRIPrep's does); a column must be the same tissue
    with data in every sample, so such voxels are dropped for the subject, like the
    intersection of the runs' masks that nilearn's ``compute_multi_epi_mask`` takes.

    Parameters
    ----------
    arrays : dict
        ``<split>_fmri`` (n_samples, n_voxels) and ``<split>_labels`` arrays of one subject.
    mask : Mask
        The version's mask; its ``ijk`` order is the column order.
    keep : ndarray of bool, shape (n_voxels,), or None
        The columns to keep (None: all).

    Returns
    -------
    arrays : dict
        The arrays with only the kept columns.
    mask : Mask
        The mask without the dropped voxels, with its ROI columns renumbered.
    n_dropped : int
    """
    if keep is None or keep.all():
        return arrays, mask, 0
    renumber = np.cumsum(keep) - 1
    reduced = np.zeros_like(mask.mask)
    reduced[tuple(mask.ijk[keep].T)] = True
    rois = {roi: renumber[cols[keep[cols]]] for roi, cols in mask.roi_columns.items()}
    kept = {name: (a[:, keep] if name.endswith("_fmri") else a) for name, a in arrays.items()}
    return kept, Mask(reduced, mask.affine, mask.ijk[keep], mask.files, rois), int((~keep).sum())


def _alignment(found: SubjectInputs, results: list[RunResult], key: str, in_view: np.ndarray) -> dict[str, Any]:
    # The mean images are compared on the voxels every run saw: zeros outside a run's view are not misalignment.
    return alignment_qc(
        [r.name for r in found.runs], [x.qc[key].mean[in_view] for x in results], [x.qc[key].inside for x in results]
    )


def _subject_item(
    found: SubjectInputs,
    version: str,
    arrays: dict,
    counts: dict,
    qc: dict,
    params: dict[str, dict[str, Any]],
    mask: Mask,
) -> dict[str, Any]:
    """One subject's outputs and figures for one version."""
    figures = {}
    for split in counts:
        value = reliability(arrays[f"{split}_fmri"], arrays[f"{split}_labels"], mask.roi_columns)
        if value is not None:
            figures[split] = value
    space = params[version]["space"]
    key = space if space == "native" else f"{space}-{params[version]['interpolation']}"
    sessions = len({run.session for run in found.runs})
    warnings = []
    if space == "native" and sessions > 1:
        warnings.append(
            "space native over several sessions: every run is read voxel for voxel, without head-motion "
            "correction or alignment across sessions, so a column need not be the same tissue in every run "
            "(see alignment.median_r)"
        )
    return {
        "arrays": arrays,
        "counts": counts,
        "mask": mask,
        "alignment": qc.get(key),
        "reliability": figures,
        "warnings": warnings,
    }


def _log_subject(recipe: Recipe, subject: str, version: str, item: dict[str, Any], warned: set) -> None:
    counts = item["counts"]
    log.info(
        "%s %s %s: %s",
        recipe.name,
        version,
        subject,
        "; ".join(
            f"{split} {c['kept']} samples ({c['dropped'][DROP_REPEAT]} one-back repeats excluded, "
            f"{c['dropped'][DROP_SHORT]} blocks cut by short runs)"
            for split, c in counts.items()
        ),
    )
    if item.get("out_of_view"):
        log.info(
            "%s %s %s: %d of %d voxels dropped: out of the field of view of %d run(s) (head motion at the volume's edge)",
            recipe.name,
            version,
            subject,
            item["out_of_view"],
            item["out_of_view"] + item["mask"].ijk.shape[0],
            len((item["alignment"] or {}).get("partly_out_of_view", [])),
        )
    qc = item["alignment"]
    if qc is not None:
        log.info(
            "%s %s %s: alignment QC: run mean images vs the subject's median image, r median %.3f, min %.3f; %s",
            recipe.name,
            version,
            subject,
            qc["median_r"],
            qc["min_r"],
            f"{len(qc['flagged'])} run(s) flagged" if qc["flagged"] else "no run flagged",
        )
        for name in qc["flagged"]:
            entry = next(r for r in qc["runs"] if r["run"] == name)
            log.warning(
                "%s %s %s: run %s looks misaligned (r %.3f, threshold %.3f; %.1f%% of ROI voxels in view)",
                recipe.name,
                version,
                subject,
                name,
                entry["r"],
                qc["threshold"],
                100 * entry["inside"],
            )
    for message in item["warnings"]:
        if (version, message) not in warned:  # once per version, not once per subject
            warned.add((version, message))
            log.warning("%s %s: %s", recipe.name, version, message)
    for split, figures in item["reliability"].items():
        log.info("%s %s %s: reliability (%s): %s", recipe.name, version, subject, split, summary_line(figures))


@dataclass
class _Shared:
    """What every version of one preparation shares: the stimulus table, images and source."""

    table: pd.DataFrame
    images: dict[str, np.ndarray] | None
    image_inputs: list[dict]
    release: dict[str, Any]
    stimuli: Any


def _shared_outputs(recipe: Recipe, root: Path, events_by_split: dict, stimuli: Any, fmriprep: Path | None) -> _Shared:
    table = catalogue(events_by_split)
    images, image_inputs = None, []
    if stimuli is not None:
        table, images, image_inputs = build_images(table, stimuli, recipe.resolution)
        missing = [s for s in table["split"].unique() if s not in images]
        if missing:
            log.warning(
                "%s: no image of the %s split(s): their images_<split>.npy are not written", stimuli, ", ".join(missing)
            )
    release = _release_info(recipe, root)
    if fmriprep is not None:
        release["fmriprep"] = {"folder": str(fmriprep), **recipe.fmriprep, **_git_head(fmriprep)}
    return _Shared(table, images, image_inputs, release, stimuli)


def _keep_earlier(
    target: Path, tmp: Path, built: dict[str, Any], old: dict[str, Any], shared: _Shared
) -> tuple[dict, pd.DataFrame]:
    """Hard-link the subjects (and images) prepared earlier under the same parameters into ``tmp``."""
    kept: dict[str, Any] = {}
    table = shared.table
    for subject, meta in old.get("subjects", {}).items():
        if subject not in built["subjects"]:
            for path in (target / subject).rglob("*"):
                if path.is_file():
                    _link_or_copy(path, tmp / path.relative_to(target))
            kept[subject] = meta
    if shared.images is None:
        for path in target.glob("images_*.npy"):
            _link_or_copy(path, tmp / path.name)
        old_table = target / "stimuli.tsv"
        if old_table.is_file() and old.get("images"):
            previous = pd.read_csv(old_table, sep="\t", dtype=str, keep_default_na=False)
            table = table.merge(
                previous[["split", "image_index", "sha256"]].astype({"image_index": int}),
                on=["split", "image_index"],
                how="left",
                suffixes=("_x", ""),
            )
            table["sha256"] = table["sha256"].fillna("n/a")
            table = table.drop(columns=["sha256_x"])
    return kept, table


def _subject_meta(recipe: Recipe, version: str, subject: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "n_voxels": int(item["arrays"]["train_fmri"].shape[1]),
        "voxels_out_of_view": {
            "dropped": item.get("out_of_view", 0),
            "why": "left the field of view of at least one run under head motion (no data there), so "
            "dropped from every split; mask.nii.gz and roi_voxels are what remains",
        },
        "rois": list(recipe.version(version)["rois"]),
        "roi_voxels": {roi: int(cols.size) for roi, cols in item["mask"].roi_columns.items()},
        "mask": f"{subject}/mask.nii.gz",
        "voxel_order": f"{subject}/voxel_ijk.npy (rows of np.argwhere(mask): C order of i, j, k)",
        "mask_files": [str(p) for p in item["mask"].files],
        **{
            split: {**counts, "expected": recipe.splits[split].get("expected_samples")}
            for split, counts in item["counts"].items()
        },
        "alignment": item["alignment"],
        "reliability": item["reliability"],
        "warnings": item["warnings"],
    }


def _write_version(recipe: Recipe, version: str, target: Path, built: dict[str, Any], shared: _Shared) -> None:
    """Write one version into a temporary folder beside ``target`` and swap it in."""
    old = read_manifest(target)
    with atomic_dir(target) as tmp:
        subjects_meta, table = ({}, shared.table) if old is None else _keep_earlier(target, tmp, built, old, shared)
        n_images = table["split"].value_counts().to_dict()
        for subject, item in built["subjects"].items():
            _write_subject(tmp / subject, item["arrays"], item["mask"])
            subjects_meta[subject] = _subject_meta(recipe, version, subject, item)
            # The source's reference reconstructions (the synthetic oracle), read like chance by scoring.
            refs = copy_references(recipe.references, Path(shared.release["source"]), tmp / subject, subject, n_images)
            subjects_meta[subject]["references"] = refs
        _guard_write(
            tmp / "stimuli.tsv", lambda: write_text_atomic(tmp / "stimuli.tsv", table.to_csv(sep="\t", index=False))
        )
        if shared.images is not None:
            for split, stack in shared.images.items():
                _save_npy(tmp / f"images_{split}.npy", stack)
        image_splits = sorted(p.name[len("images_") : -len(".npy")] for p in tmp.glob("images_*.npy"))
        params = recipe.version(version)
        manifest = {
            "dataset": recipe.name,
            "title": recipe.title,
            "version": version,
            "space": params["space"],
            "interpolation": params.get("interpolation") if params["space"] == "T1w" else None,
            "recipe": {
                "name": recipe.name,
                "file": str(recipe.path) if recipe.path else None,
                "file_sha256": sha256_file(recipe.path) if recipe.path and recipe.path.is_file() else None,
            },
            "parameters": recipe.parameters(version),
            "parameters_hash": recipe.parameters_hash(version),
            "release": shared.release,
            "inputs": _dedupe(built["inputs"] + ([] if old is None else old.get("inputs", []))),
            "stimuli_folder": str(shared.stimuli) if shared.stimuli is not None else (old or {}).get("stimuli_folder"),
            "stimulus_images": shared.image_inputs
            if shared.images is not None
            else (old or {}).get("stimulus_images", []),
            "images": {"train", "test"} <= set(image_splits),
            "image_splits": image_splits,
            "warnings": sorted({w for meta in subjects_meta.values() for w in meta.get("warnings", [])}),
            "subjects": dict(sorted(subjects_meta.items())),
            "package_versions": package_versions(),
            "fmri_bench_version": __version__,
            "created": utc_now(),
            "outputs": _hash_outputs(tmp),
        }
        _guard_write(tmp / MANIFEST, lambda: write_json_atomic(tmp / MANIFEST, manifest))


def _dedupe(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        seen.setdefault(record["path"], record)
    return [seen[k] for k in sorted(seen)]


# --------------------------------------------------------------------------- verify


def verify(
    dataset: str = "synthetic",
    *,
    versions: str | Sequence[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Re-hash every output of the prepared versions against their manifests.

    Parameters
    ----------
    dataset : str
        The dataset name.
    versions : str or sequence of str, optional
        Versions to check (default: every prepared version).
    data_home : path-like, optional
        The data home.

    Returns
    -------
    list of Path
        The verified version folders.

    Raises
    ------
    DataError
        One line naming the first file that is missing, extra, or differs.
    """
    base = resolve_data_home(data_home) / check_name(dataset, "dataset name")
    if versions in (None, "all"):
        # .<version>.partial-* / .old-* folders are a killed run's leftovers, never versions.
        found = base.glob("*") if base.is_dir() else []
        names = sorted(p.name for p in found if not p.name.startswith(".") and (p / MANIFEST).is_file())
        if not names:
            raise DataError(f"{base}: no prepared version of {dataset}; run `fmri-bench prepare {dataset}` first")
    else:
        names = [check_name(v, "version name") for v in _as_list(versions) or []]
    checked = []
    for version in names:
        folder = base / version
        manifest = read_manifest(folder)
        if manifest is None:
            raise DataError(f"{folder / MANIFEST}: missing; run `fmri-bench prepare {dataset} --version {version}`")
        recorded = manifest.get("outputs", {})
        for rel, info in sorted(recorded.items()):
            path = folder / rel
            if not path.is_file():
                raise DataError(f"{path}: missing (listed in {folder / MANIFEST})")
            if path.stat().st_size != info["bytes"] or sha256_file(path) != info["sha256"]:
                raise DataError(f"{path}: sha256 differs from {folder / MANIFEST} (the file was modified)")
        for path in sorted(folder.rglob("*")):
            rel = str(path.relative_to(folder))
            if path.is_file() and path.name != MANIFEST and rel not in recorded:
                raise DataError(f"{path}: not listed in {folder / MANIFEST} (an extra file)")
        checked.append(folder)
    return checked


__all__ = ["prepare", "verify", "read_manifest", "FmriBenchError"]
