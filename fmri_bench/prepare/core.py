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
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.prepare.extract import DROP_REPEAT, DROP_SHORT, RunSamples, RunTask, process_run
from fmri_bench.prepare.references import copy_references
from fmri_bench.prepare.stimuli import build_images, catalogue
from fmri_bench.progress import get_logger, track
from fmri_bench.provenance import package_versions, utc_now
from fmri_bench.raw.bids import (
    Run,
    discover_runs,
    list_subjects,
    mask_paths,
    read_events,
    repetition_time,
    sidecar_chain,
)
from fmri_bench.recipe import SPLITS, Recipe, load_recipe

log = get_logger(__name__)

MANIFEST = "manifest.json"
ALL_VERSIONS = "all"


# --------------------------------------------------------------------------- inputs


def _annex_key(path: Path) -> str | None:
    """The git-annex key of an annexed file (the name its symlink points to), if any."""
    if path.is_symlink():
        target = os.readlink(path)
        if "annex/objects/" in target:
            return os.path.basename(target)
    return None


def _input_record(path: Path, root: Path) -> dict[str, Any]:
    record: dict[str, Any] = {"path": str(path.relative_to(root)) if root in path.parents else str(path)}
    try:
        record["bytes"] = path.stat().st_size
    except OSError:
        record["bytes"] = None
    key = _annex_key(path)
    if key:
        record["annex_key"] = key
    return record


def _release_info(recipe: Recipe, root: Path) -> dict[str, Any]:
    """What the source is: pinned release, git commit of the source if it is a clone, description."""
    info: dict[str, Any] = {"source": str(root)}
    if recipe.source["kind"] == "openneuro":
        info.update(
            {"url": recipe.source["url"], "release": recipe.source["release"], "pinned_commit": recipe.source["commit"]}
        )
    else:
        info.update({k: v for k, v in recipe.source.items() if k != "kind"})
    if (root / ".git").exists():
        try:
            head = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            info["commit"] = head
            if recipe.source["kind"] == "openneuro":
                info["matches_pinned_commit"] = head == recipe.source["commit"]
        except (OSError, subprocess.SubprocessError):
            pass
    description = root / "dataset_description.json"
    if description.is_file():
        with contextlib.suppress(ValueError):
            info["dataset_description"] = json.loads(description.read_text(encoding="utf-8"))
    return info


def _load_union_mask(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Union of binary masks (all on one grid); returns (bool 3-D mask, affine)."""
    union = None
    affine = None
    for path in files:
        if not os.path.lexists(path):
            raise DataError(f"{path}: ROI mask missing (expected {path.name} in {path.parent})")
        if not path.exists():
            raise DataError(
                f"{path}: ROI mask not downloaded (a broken annex link; run `datalad get` or pass --source)"
            )
        try:
            img = nib.load(path)
            data = np.asanyarray(img.dataobj) > 0
        except Exception as exc:  # nibabel raises many types for a corrupt file
            raise DataError(f"{path}: cannot read the ROI mask ({type(exc).__name__}: {exc})") from exc
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if union is None:
            union, affine = data.copy(), img.affine
        elif data.shape != union.shape or not np.allclose(img.affine, affine, atol=1e-3):
            raise DataError(f"{path}: mask grid {data.shape} differs from {files[0].name} {union.shape}")
        else:
            union |= data
    assert union is not None and affine is not None
    if not union.any():
        raise DataError(f"{files[0].parent}: the ROI masks select no voxel")
    return union, affine


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


def _subject_tasks(
    recipe: Recipe, root: Path, subject: str, todo: dict[str, dict[str, Any]]
) -> tuple[list[Run], list[RunTask], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Read events, headers and masks of one subject; return its runs and worker tasks."""
    runs = discover_runs(root, recipe, subject)
    masks: dict[str, dict[str, Any]] = {}
    inputs: list[dict[str, Any]] = []
    for version, params in todo.items():
        files = mask_paths(root, recipe, subject, list(params["rois"]))
        mask, affine = _load_union_mask(files)
        ijk = np.argwhere(mask)  # C order of (i, j, k): the column order of the arrays
        masks[version] = {
            "mask": mask,
            "affine": affine,
            "ijk": ijk,
            "flat": np.ravel_multi_index(ijk.T, mask.shape, order="F"),
            "files": files,
        }
        inputs += [_input_record(p, root) for p in files]
    tasks = []
    for run in runs:
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
        for info in masks.values():
            if shape[:3] != info["mask"].shape or not np.allclose(header.affine, info["affine"], atol=1e-3):
                raise DataError(
                    f"{info['files'][0]}: mask grid {info['mask'].shape} does not match the BOLD grid "
                    f"{shape[:3]} of {run.bold.name}"
                )
        tr = repetition_time(run.bold, root)
        if tr is None:
            tr = float(header.header.get_zooms()[3])
            if not tr > 0:
                raise DataError(f"{run.bold}: no RepetitionTime in its sidecars nor in the NIfTI header")
        events = read_events(run.events, recipe.events)
        tasks.append(
            RunTask(
                bold=run.bold,
                events=events,
                tr=tr,
                n_volumes=int(shape[3]),
                voxels={v: m["flat"] for v, m in masks.items()},
                params=todo,
            )
        )
        inputs.append(_input_record(run.bold, root))
        inputs.append(_input_record(run.events, root))
        inputs += [_input_record(p, root) for p in sidecar_chain(run.bold, root)]
    return runs, tasks, masks, inputs


def check_backend(backend: str | None) -> None:
    """Refuse an unknown joblib backend, or dask without dask.distributed, before any work.

    Parameters
    ----------
    backend : str or None
        A joblib backend name.
    """
    if backend is None:
        return
    from joblib.parallel import BACKENDS, EXTERNAL_BACKENDS

    if backend not in BACKENDS and backend not in EXTERNAL_BACKENDS:
        known = ", ".join(sorted({*BACKENDS, *EXTERNAL_BACKENDS}))
        raise FmriBenchError(f"unknown joblib backend {backend!r}; expected one of: {known}")
    if backend == "dask":
        try:
            import distributed  # noqa: F401  joblib's dask backend hands the runs to a dask.distributed Client
        except ImportError:
            raise FmriBenchError(
                "--backend dask needs dask.distributed (pip install distributed) and a running Client"
            ) from None


def _run_parallel(
    tasks: list[RunTask], n_jobs: int, backend: str | None, description: str
) -> list[dict[str, RunSamples]]:
    if n_jobs == 1 and backend is None:
        return [process_run(t) for t in track(tasks, description)]
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")
    return list(track(parallel(delayed(process_run)(t) for t in tasks), description, total=len(tasks)))


def _subject_outputs(
    runs: list[Run], results: list[dict[str, RunSamples]], version: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays: dict[str, np.ndarray] = {}
    counts: dict[str, Any] = {}
    for split in SPLITS:
        picked = [r[version] for run, r in zip(runs, results) if run.split == split]
        arrays[f"{split}_fmri"] = np.concatenate([p.fmri for p in picked]).astype(np.float32, copy=False)
        arrays[f"{split}_labels"] = np.concatenate([p.labels for p in picked]).astype(np.int64)
        dropped = {DROP_REPEAT: 0, DROP_SHORT: 0}
        short_runs = []
        for run, p in zip([r for r in runs if r.split == split], picked):
            for key, n in p.dropped.items():
                dropped[key] += n
            if p.dropped.get(DROP_SHORT):
                short_runs.append({"run": run.name, "blocks_dropped": p.dropped[DROP_SHORT]})
        counts[split] = {
            "runs": len(picked),
            "kept": int(arrays[f"{split}_labels"].size),
            "dropped": dropped,
            "dropped_why": {
                DROP_REPEAT: "one-back repetition block (the task's repeat, not a new sample)",
                DROP_SHORT: "block window (shifted by the haemodynamic delay) passes the run's last volume",
            },
            "short_runs": short_runs,
        }
    return arrays, counts


def _write_subject(folder: Path, arrays: dict[str, np.ndarray], mask_info: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        _save_npy(folder / f"{name}.npy", array)
    mask_img = nib.Nifti1Image(mask_info["mask"].astype(np.uint8), mask_info["affine"])
    _guard_write(folder / "mask.nii.gz", lambda: nib.save(mask_img, folder / "mask.nii.gz"))
    _save_npy(folder / "voxel_ijk.npy", mask_info["ijk"].astype(np.int32))


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
            raise DataError(
                f"{folder} was prepared with other parameters (hash {str(manifest.get('parameters_hash'))[:12]}, "
                f"recipe now {recipe.parameters_hash(version)[:12]}); a version name is frozen: "
                f"give the new parameters a new version name, or delete {folder}"
            )
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


def prepare(
    recipe: str | Recipe,
    source: str | os.PathLike[str],
    *,
    versions: str | Sequence[str] = ALL_VERSIONS,
    subjects: str | Sequence[str] | None = None,
    stimuli: str | os.PathLike[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
    n_jobs: int = 1,
    backend: str | None = None,
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
    data_home : path-like, optional
        Default: ``$FMRI_BENCH_HOME``, else ``~/fmri_bench_data``.
    n_jobs : int
        Runs processed in parallel (joblib).
    backend : str, optional
        joblib backend (``loky``, ``threading``, ``dask`` with a distributed client...).

    Returns
    -------
    list of Path
        The version folders (every requested version).

    Raises
    ------
    DataError
        Bad or missing input (one line naming the file), or a version whose recorded
        parameters differ from the recipe's.
    """
    check_backend(backend)
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    home = resolve_data_home(data_home)
    root = Path(source).expanduser().resolve()
    names = resolve_versions(recipe, versions)
    if not root.is_dir():
        raise DataError(f"{root}: no such BIDS folder (expected a local copy of {recipe.name})")
    todo = pending_versions(recipe, root, versions=names, subjects=subjects, stimuli=stimuli, data_home=home)
    if not todo:
        log.info("%s %s: already prepared in %s (nothing to do)", recipe.name, ", ".join(names), home / recipe.name)
        return [home / recipe.name / v for v in names]
    started = time.perf_counter()
    subject_list = _subject_list(root, subjects, recipe)
    if stimuli is None and (root / "stimuli").is_dir() and recipe.source["kind"] == "simulate":
        stimuli = root / "stimuli"
    params = {v: recipe.version(v) for v in todo}
    built, events_by_split = _extract(recipe, root, subject_list, params, n_jobs, backend)
    shared = _shared_outputs(recipe, root, events_by_split, stimuli)
    for version in todo:
        _write_version(recipe, version, home / recipe.name / version, built[version], shared)
    seconds = time.perf_counter() - started
    log.info("%s %s: prepared in %.1f s -> %s", recipe.name, ", ".join(todo), seconds, home / recipe.name)
    return [home / recipe.name / v for v in names]


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
    n_jobs: int,
    backend: str | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[tuple[Path, pd.DataFrame]]]]:
    """Read every run of every subject once and compute all versions; keep the small results."""
    built: dict[str, dict[str, Any]] = {v: {"subjects": {}, "inputs": []} for v in params}
    events_by_split: dict[str, list[tuple[Path, pd.DataFrame]]] = {s: [] for s in SPLITS}
    for subject in subject_list:
        runs, tasks, masks, inputs = _subject_tasks(recipe, root, subject, params)
        for run, task in zip(runs, tasks):
            events_by_split[run.split].append((run.events, task.events))
        results = _run_parallel(tasks, n_jobs, backend, f"{recipe.name} {subject}: {len(tasks)} runs")
        for version in params:
            arrays, counts = _subject_outputs(runs, results, version)
            built[version]["subjects"][subject] = {"arrays": arrays, "counts": counts, "mask": masks[version]}
            built[version]["inputs"] += inputs
        log.info(
            "%s %s: %s",
            recipe.name,
            subject,
            "; ".join(
                f"{split} {c['kept']} samples ({c['dropped'][DROP_REPEAT]} one-back repeats excluded, "
                f"{c['dropped'][DROP_SHORT]} blocks cut by short runs)"
                for split, c in counts.items()
            ),
        )
        del results
    return built, events_by_split


@dataclass
class _Shared:
    """What every version of one preparation shares: the stimulus table, images and source."""

    table: pd.DataFrame
    images: dict[str, np.ndarray] | None
    image_inputs: list[dict]
    release: dict[str, Any]
    stimuli: Any


def _shared_outputs(recipe: Recipe, root: Path, events_by_split: dict, stimuli: Any) -> _Shared:
    table = catalogue(events_by_split)
    images, image_inputs = None, []
    if stimuli is not None:
        table, images, image_inputs = build_images(table, stimuli, recipe.resolution)
    return _Shared(table, images, image_inputs, _release_info(recipe, root), stimuli)


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
        for name in ("images_train.npy", "images_test.npy"):
            if (target / name).is_file():
                _link_or_copy(target / name, tmp / name)
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
        "rois": list(recipe.version(version)["rois"]),
        "mask": f"{subject}/mask.nii.gz",
        "voxel_order": f"{subject}/voxel_ijk.npy (rows of np.argwhere(mask): C order of i, j, k)",
        "mask_files": [str(p) for p in item["mask"]["files"]],
        **{
            split: {**item["counts"][split], "expected": recipe.splits[split].get("expected_samples")}
            for split in SPLITS
        },
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
        has_images = shared.images is not None or (
            old is not None and bool(old.get("images")) and (tmp / "images_train.npy").is_file()
        )
        manifest = {
            "dataset": recipe.name,
            "title": recipe.title,
            "version": version,
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
            "images": has_images,
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
    base = resolve_data_home(data_home) / dataset
    if versions in (None, "all"):
        names = sorted(p.name for p in base.glob("*") if (p / MANIFEST).is_file()) if base.is_dir() else []
        if not names:
            raise DataError(f"{base}: no prepared version of {dataset}; run `fmri-bench prepare {dataset}` first")
    else:
        names = _as_list(versions) or []
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
