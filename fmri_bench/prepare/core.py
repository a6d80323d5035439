"""Orchestration: raw BIDS -> ``<data-home>/<dataset>/<version>/`` arrays, manifest and verify.

Each version is built in a temporary folder beside its target and renamed into place at
the end, so a failing run leaves nothing half-written and never touches an existing
preparation. A version name is bound to the hash of its recipe parameters.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from fmri_bench import __version__
from fmri_bench.bids import Run, discover_runs, list_subjects, mask_paths, read_events, repetition_time, sidecar_chain
from fmri_bench.errors import DataError, FmriBenchError
from fmri_bench.io import save_npy_atomic, sha256_file, write_json_atomic, write_text_atomic
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.prepare.extract import DROP_REPEAT, DROP_SHORT, RunSamples, RunTask, process_run
from fmri_bench.prepare.stimuli import build_images, catalogue
from fmri_bench.progress import console, track
from fmri_bench.provenance import package_versions, utc_now
from fmri_bench.recipe import SPLITS, Recipe, load_recipe

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
        try:
            info["dataset_description"] = json.loads(description.read_text(encoding="utf-8"))
        except ValueError:
            pass
    return info


def _load_union_mask(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Union of binary masks (all on one grid); returns (bool 3-D mask, affine)."""
    union = None
    affine = None
    for path in files:
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


def _guard_write(path: Path, write) -> None:  # noqa: ANN001
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
    """The manifest of a prepared version folder, or None when there is none."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); delete {folder} and prepare again") from exc


# --------------------------------------------------------------------------- sources


def _resolve_source(recipe: Recipe, source, home: Path, subjects, versions) -> Path:  # noqa: ANN001
    if source is not None:
        root = Path(source).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"{root}: no such BIDS folder (--source expects a local copy of {recipe.name})")
        return root
    if recipe.source["kind"] == "simulate":
        root = home / "raw" / recipe.name
        if not (root / "dataset_description.json").is_file():
            from fmri_bench.simulate import simulate_dataset

            root.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{recipe.name}.partial-", dir=root.parent))
            try:
                console.print(f"simulating the {recipe.name} dataset into {root} (first use)")
                built = simulate_dataset(tmp / recipe.name, size=recipe.source.get("size", "default"),
                                         seed=int(recipe.source.get("seed", 0)))
                if root.exists():
                    shutil.rmtree(root)
                os.replace(built, root)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return root
    from fmri_bench.fetch import fetch

    return fetch(recipe, subjects=subjects, versions=versions, data_home=home)


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
            raise DataError(f"{run.bold}: BOLD file not downloaded (a broken annex link; run `datalad get` or pass --source)")
        try:
            header = nib.load(run.bold)
            shape = header.shape
        except Exception as exc:  # nibabel raises many types for a corrupt header
            raise DataError(f"{run.bold}: cannot read NIfTI ({type(exc).__name__}: {exc})") from exc
        if len(shape) != 4:
            raise DataError(f"{run.bold}: expected a 4-D BOLD image, got shape {shape}")
        for version, info in masks.items():
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
            RunTask(bold=run.bold, events=events, tr=tr, n_volumes=int(shape[3]),
                    voxels={v: m["flat"] for v, m in masks.items()}, params=todo)
        )
        inputs.append(_input_record(run.bold, root))
        inputs.append(_input_record(run.events, root))
        inputs += [_input_record(p, root) for p in sidecar_chain(run.bold, root)]
    return runs, tasks, masks, inputs


def _check_backend(backend: str | None) -> None:
    """Refuse an unknown joblib backend, or dask without dask.distributed, before any work."""
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


def _run_parallel(tasks: list[RunTask], n_jobs: int, backend: str | None, description: str) -> list[dict[str, RunSamples]]:
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


def prepare(
    dataset: str | Recipe = "synthetic",
    *,
    versions: str | Sequence[str] = ALL_VERSIONS,
    subjects: str | Sequence[str] | None = None,
    source: str | os.PathLike[str] | None = None,
    stimuli: str | os.PathLike[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
    n_jobs: int = 1,
    backend: str | None = None,
) -> list[Path]:
    """Prepare versions of a dataset into ``<data-home>/<dataset>/<version>/``.

    Parameters
    ----------
    dataset : str or Recipe
        ``synthetic`` (simulated into ``<data-home>/raw/synthetic`` on first use),
        ``ds001506``, ``ds001246``, the path of a recipe TOML, or a loaded Recipe.
    versions : str or sequence of str
        Versions to build (``"all"`` or e.g. ``("v1", "v2")``).
    subjects : str or sequence of str, optional
        Subjects to prepare (default: all).
    source : path-like, optional
        A local BIDS copy, read only. Default: the simulator (synthetic) or a datalad
        clone of the pinned release in ``<data-home>/raw/<dataset>``.
    stimuli : path-like, optional
        Folder of stimulus images named by stimulus_name. The synthetic dataset brings
        its own (``<bids>/stimuli``).
    data_home : path-like, optional
        Default: ``$FMRI_BENCH_HOME``, else ``~/fmri_bench_data``.
    n_jobs : int
        Runs processed in parallel (joblib).
    backend : str, optional
        joblib backend (``loky``, ``threading``, ``dask`` with a distributed client...).

    Returns
    -------
    list of Path
        The prepared version folders.

    Raises
    ------
    DataError
        Bad or missing input (one line naming the file), or a version whose recorded
        parameters differ from the recipe's.
    """
    _check_backend(backend)
    recipe = dataset if isinstance(dataset, Recipe) else load_recipe(dataset)
    versions = recipe.versions if versions in ("all", None) else _as_list(versions)
    for version in versions:
        recipe.version(version)  # unknown version -> one-line error
    home = resolve_data_home(data_home)
    wanted_subjects = _as_list(subjects)
    started = time.perf_counter()

    # Where the raw BIDS is (or will be): --source, else <data-home>/raw/<dataset>.
    source_root = Path(source).expanduser().resolve() if source is not None else home / "raw" / recipe.name
    # Which versions need work? Same hash + same subjects (+ images if asked) = nothing to do.
    todo: dict[str, dict[str, Any]] = {}
    existing: dict[str, dict[str, Any] | None] = {}
    for version in versions:
        folder = home / recipe.name / version
        manifest = read_manifest(folder)
        existing[version] = manifest
        if manifest is None:
            todo[version] = recipe.version(version)
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
        have = set(manifest.get("subjects", {}))
        need_subjects = wanted_subjects or recipe.subjects
        if need_subjects is None and source_root.is_dir():  # every subject of the source
            need_subjects = list_subjects(source_root)
        need_images = (stimuli is not None) and not manifest.get("images")
        if (need_subjects is None or set(need_subjects) <= have) and not need_images:
            continue
        todo[version] = recipe.version(version)
    if not todo:
        console.print(f"{recipe.name} {', '.join(versions)}: already prepared in {home / recipe.name} (nothing to do)")
        return [home / recipe.name / v for v in versions]

    root = _resolve_source(recipe, source, home, wanted_subjects, list(todo))
    available = list_subjects(root)
    subject_list = wanted_subjects or recipe.subjects or available
    missing = [s for s in subject_list if s not in available]
    if missing:
        raise DataError(f"{root}: no folder for {', '.join(missing)}; subjects there: {', '.join(available) or 'none'}")
    if stimuli is None and (root / "stimuli").is_dir() and recipe.source["kind"] == "simulate":
        stimuli = root / "stimuli"

    # Per subject: read every run once, compute all versions to do, keep the small results.
    per_version: dict[str, dict[str, Any]] = {v: {"subjects": {}, "inputs": []} for v in todo}
    events_by_split: dict[str, list[tuple[Path, pd.DataFrame]]] = {s: [] for s in SPLITS}
    for subject in subject_list:
        runs, tasks, masks, inputs = _subject_tasks(recipe, root, subject, todo)
        for run, task in zip(runs, tasks):
            events_by_split[run.split].append((run.events, task.events))
        results = _run_parallel(tasks, n_jobs, backend, f"{recipe.name} {subject}: {len(tasks)} runs")
        for version in todo:
            arrays, counts = _subject_outputs(runs, results, version)
            per_version[version]["subjects"][subject] = {"arrays": arrays, "counts": counts, "mask": masks[version]}
            per_version[version]["inputs"] += inputs
        console.print(
            f"{recipe.name} {subject}: "
            + "; ".join(
                f"{split} {c['kept']} samples ({c['dropped'][DROP_REPEAT]} one-back repeats excluded, "
                f"{c['dropped'][DROP_SHORT]} blocks cut by short runs)"
                for split, c in counts.items()
            )
        )
        del results

    table = catalogue(events_by_split)
    images: dict[str, np.ndarray] | None = None
    image_inputs: list[dict] = []
    if stimuli is not None:
        table, images, image_inputs = build_images(table, stimuli, recipe.resolution)

    release = _release_info(recipe, root)
    out: list[Path] = []
    for version in versions:
        target = home / recipe.name / version
        if version in todo:
            _write_version(recipe, version, target, per_version[version], existing[version], table, images,
                           image_inputs, release, stimuli)
        out.append(target)
    console.print(f"{recipe.name} {', '.join(todo)}: prepared in {time.perf_counter() - started:.1f} s -> {home / recipe.name}")
    return out


def _write_version(
    recipe: Recipe,
    version: str,
    target: Path,
    built: dict[str, Any],
    old: dict[str, Any] | None,
    table: pd.DataFrame,
    images: dict[str, np.ndarray] | None,
    image_inputs: list[dict],
    release: dict[str, Any],
    stimuli: Any,
) -> None:
    """Write one version into a temporary folder beside ``target`` and swap it in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.partial-", dir=target.parent))
    try:
        subjects_meta: dict[str, Any] = {}
        # Subjects prepared earlier under the same parameters are kept (hard links, no copy).
        if old is not None:
            for subject, meta in old.get("subjects", {}).items():
                if subject not in built["subjects"]:
                    for path in (target / subject).rglob("*"):
                        if path.is_file():
                            _link_or_copy(path, tmp / path.relative_to(target))
                    subjects_meta[subject] = meta
            if images is None:
                old_table = target / "stimuli.tsv"
                for name in ("images_train.npy", "images_test.npy"):
                    if (target / name).is_file():
                        _link_or_copy(target / name, tmp / name)
                if old_table.is_file() and old.get("images"):
                    previous = pd.read_csv(old_table, sep="\t", dtype=str, keep_default_na=False)
                    table = table.merge(previous[["split", "image_index", "sha256"]].astype({"image_index": int}),
                                        on=["split", "image_index"], how="left", suffixes=("_x", ""))
                    table["sha256"] = table["sha256"].fillna("n/a")
                    table = table.drop(columns=["sha256_x"])
        for subject, item in built["subjects"].items():
            _write_subject(tmp / subject, item["arrays"], item["mask"])
            subjects_meta[subject] = {
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
        _guard_write(tmp / "stimuli.tsv", lambda: write_text_atomic(tmp / "stimuli.tsv", table.to_csv(sep="\t", index=False)))
        has_images = images is not None or (old is not None and bool(old.get("images")) and (tmp / "images_train.npy").is_file())
        if images is not None:
            for split, stack in images.items():
                _save_npy(tmp / f"images_{split}.npy", stack)
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
            "release": release,
            "inputs": _dedupe(built["inputs"] + ([] if old is None else old.get("inputs", []))),
            "stimuli_folder": str(stimuli) if stimuli is not None else (old or {}).get("stimuli_folder"),
            "stimulus_images": image_inputs if images is not None else (old or {}).get("stimulus_images", []),
            "images": has_images,
            "subjects": dict(sorted(subjects_meta.items())),
            "package_versions": package_versions(),
            "fmri_bench_version": __version__,
            "created": utc_now(),
            "outputs": _hash_outputs(tmp),
        }
        _guard_write(tmp / MANIFEST, lambda: write_json_atomic(tmp / MANIFEST, manifest))
        # Swap: the old folder is moved aside only once the new one is complete.
        aside = None
        if target.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{version}.old-", dir=target.parent))
            os.replace(target, aside / version)
        os.replace(tmp, target)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
