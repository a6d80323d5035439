"""Run a baseline: train on the train split, reconstruct the test split, write, score.

:func:`run_baseline` is the library function behind ``fmri-bench run-baseline``; the demo
calls it for every baseline and subject, so it holds no global state between calls.
"""

from __future__ import annotations

import ast
import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.baselines._base import BASELINES, Baseline, TrainData, seed_everything, to_uint8
from fmri_bench.data import load, load_images, prepared_dir, prepared_subjects
from fmri_bench.errors import DataError, FmriBenchError
from fmri_bench.io import save_npy_atomic, sha256_file, write_json_atomic
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.paths import leaderboard_dir
from fmri_bench.progress import console, progress_enabled
from fmri_bench.provenance import package_versions, utc_now

__all__ = ["RunResult", "run_baseline", "baseline_names", "coerce_params", "resolve_device"]



@dataclass
class RunResult:
    """The outcome of one baseline on one subject.

    Attributes
    ----------
    submission_path : Path or None
        The submission .npy (None for a classification baseline).
    sidecar_path : Path
        The JSON sidecar (for a classification baseline: its result).
    metrics : dict
        Score-report metrics (reconstruction; empty without scoring) or the
        classification result (e.g. svm-sanity's accuracy and interval).
    timings : dict
        Seconds spent in ``fit``, ``reconstruct`` (or ``evaluate``) and ``score``.
    """

    baseline: str
    kind: str
    dataset: str
    version: str
    subject: str
    submission_path: Path | None
    sidecar_path: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def baseline_names() -> list[str]:
    """Return the registered baseline names (built-in and entry points)."""
    return BASELINES.names()


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; refuse ``cuda`` without a GPU."""
    if device not in ("auto", "cpu", "cuda"):
        raise FmriBenchError(f"unknown device {device!r}; expected auto, cpu or cuda")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise FmriBenchError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    return device


def _coerce(value: Any, default: Any, key: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if isinstance(default, bool):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            return value
        if isinstance(default, (tuple, list)):
            return type(default)(ast.literal_eval(value))
    except (ValueError, SyntaxError):
        raise FmriBenchError(
            f"parameter {key}={value!r} is not a valid {type(default).__name__} (default {default!r})"
        ) from None
    try:  # default None or another type: a Python literal if it is one, else the string
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def coerce_params(cls: type, params: dict[str, Any] | None) -> dict[str, Any]:
    """Check ``params`` against ``cls.__init__`` and convert strings to the defaults' types."""
    signature = inspect.signature(cls.__init__)
    accepted = {p.name: p for p in signature.parameters.values() if p.name != "self"}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        key = key.replace("-", "_")
        if key not in accepted and not takes_any:
            known = ", ".join(k for k, p in accepted.items() if p.kind is not p.VAR_KEYWORD) or "none"
            raise FmriBenchError(f"unknown parameter {key!r} for this baseline; expected one of: {known}")
        default = accepted[key].default if key in accepted else None
        out[key] = _coerce(value, None if default is inspect.Parameter.empty else default, key)
    return out


def _train_image_index(folder: Path, n_images: int, subjects: list) -> np.ndarray:
    """image_index of each row of images_train.npy (ascending)."""
    stimuli = folder / "stimuli.tsv"
    if stimuli.is_file():
        import pandas as pd

        table = pd.read_csv(stimuli, sep="\t")
        if {"split", "image_index"} <= set(table.columns):
            index = np.unique(table.loc[table["split"].astype(str) == "train", "image_index"].to_numpy(dtype=int))
            if index.size == n_images:
                return index
    union = np.unique(np.concatenate([np.asarray(s.train_labels) for s in subjects]))
    if union.size != n_images:
        raise DataError(
            f"{folder}: images_train.npy has {n_images} images but the training labels name {union.size}; "
            "re-run fmri-bench prepare"
        )
    return union


def _say(message: str) -> None:
    if progress_enabled():
        console.print(message, highlight=False)


def _score(path: Path, **kwargs: Any) -> dict[str, Any]:
    try:
        from fmri_bench.scoring import score_submission
    except ImportError as exc:
        raise FmriBenchError(f"scoring is not available ({exc}); run with --no-score") from None
    report = score_submission(path, **kwargs)
    return dict(report.metrics)


def _record_classification(row: dict[str, Any], leaderboard: Path) -> None:
    try:
        from fmri_bench.leaderboard import Leaderboard
    except ImportError as exc:
        raise FmriBenchError(f"the leaderboard is not available ({exc}); run with --no-score") from None
    Leaderboard(leaderboard).upsert(row)


def _classification_row(metrics: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
    """A leaderboard row: numbers in ``metrics``, ``<key>_ci95_low/high`` pairs in ``intervals``."""
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    intervals = {
        k[: -len("_ci95_low")]: [numbers[k], numbers[k.replace("_low", "_high")]]
        for k in numbers
        if k.endswith("_ci95_low") and k.replace("_low", "_high") in numbers
    }
    return {
        "kind": "classification",
        "name": provenance["baseline"],
        "dataset": provenance["dataset"],
        "version": provenance["version"],
        "subject": provenance["subject"],
        "metrics": numbers,
        "intervals": intervals,
        "details": {k: v for k, v in metrics.items() if k not in numbers},
        **{k: v for k, v in provenance.items() if k not in ("baseline", "kind", "dataset", "version", "subject")},
    }


def run_baseline(
    name: str,
    *,
    dataset: str = "synthetic",
    version: str = "v1",
    subject: str = "sub-01",
    seed: int = 0,
    device: str = "auto",
    out: str | os.PathLike[str] | None = None,
    leaderboard: str | os.PathLike[str] | None = None,
    score: bool = True,
    data_home: str | os.PathLike[str] | None = None,
    params: dict[str, Any] | None = None,
) -> list[RunResult]:
    """Train a baseline on the train split and reconstruct the test split of each subject.

    Parameters
    ----------
    name : str
        A registered baseline (``fmri-bench list baselines``).
    dataset, version : str
        The prepared dataset version to run on.
    subject : str
        ``"sub-01"`` etc., or ``"all"`` for every prepared subject.
    seed : int
        Seed of every random choice; same seed, same submission bytes on the CPU.
    device : {"auto", "cpu", "cuda"}
        Where torch-based baselines train.
    out : path-like, optional
        Output folder (default ``<data-home>/submissions/<dataset>/<version>/<name>``);
        writes ``<subject>.npy`` (uint8 N,H,W,3, images_test order) and ``<subject>.json``.
    leaderboard : path-like, optional
        Leaderboard folder for the score rows (default: :func:`fmri_bench.paths.leaderboard_dir`).
    score : bool
        Score each submission and record it in the leaderboard.
    data_home : path-like, optional
        The data home.
    params : dict, optional
        Baseline parameters (``__init__`` keywords); strings are converted to the defaults' types.

    Returns
    -------
    list of RunResult
        One per subject, in subject order.
    """
    import torch

    # seed_everything switches torch to deterministic kernels; give the caller (e.g. the
    # demo, which scores next in the same process) its own settings back afterwards.
    flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        return _run(name, dataset=dataset, version=version, subject=subject, seed=seed, device=device, out=out,
                    leaderboard=leaderboard, score=score, data_home=data_home, params=params)  # fmt: skip
    finally:
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])


def _run(
    name: str,
    *,
    dataset: str,
    version: str,
    subject: str,
    seed: int,
    device: str,
    out: str | os.PathLike[str] | None,
    leaderboard: str | os.PathLike[str] | None,
    score: bool,
    data_home: str | os.PathLike[str] | None,
    params: dict[str, Any] | None,
) -> list[RunResult]:
    cls: type[Baseline] = BASELINES.get(name)
    home = resolve_data_home(data_home)
    folder = prepared_dir(dataset, version, data_home=home)
    available = prepared_subjects(dataset, version, data_home=home)
    if not available:
        raise DataError(f"no subject is prepared for {dataset} {version} in {folder}; run `fmri-bench prepare {dataset} --version {version}`")
    if subject == "all":
        targets = available
    elif subject in available:
        targets = [subject]
    else:
        raise DataError(f"{subject} is not prepared for {dataset} {version}; prepared subjects: {', '.join(available)} (or all)")
    device = resolve_device(device)
    kwargs = coerce_params(cls, params)
    kind = getattr(cls, "kind", "reconstruction")
    average_test = bool(getattr(cls, "average_test", True))
    pooled = bool(getattr(cls, "pooled", False))

    images_train = np.asarray(load_images(dataset, version, "train", data_home=home))
    images_test = load_images(dataset, version, "test", data_home=home)
    n_test, output_size = int(images_test.shape[0]), int(images_test.shape[1])
    manifest_sha = sha256_file(folder / "manifest.json")
    out_dir = Path(out) if out is not None else home / "submissions" / dataset / version / name
    board = leaderboard_dir(leaderboard, home)

    loaded = {s: load(dataset, version, s, data_home=home, average_test=average_test) for s in (available if pooled else targets)}
    train_index = _train_image_index(folder, images_train.shape[0], list(loaded.values()))

    def train_data(subjects: list) -> TrainData:
        return TrainData(
            subjects=subjects, images_train=images_train, train_image_index=train_index,
            output_size=output_size, seed=seed, device=device, cache_dir=home / "cache",
            dataset=dataset, version=version,
        )  # fmt: skip

    results: list[RunResult] = []
    shared_model: Baseline | None = None
    shared_fit_s = 0.0
    for target in targets:
        _say(f"[bold]{name}[/bold] {dataset} {version} {target}")
        timings: dict[str, float] = {}
        if pooled and shared_model is not None:
            model = shared_model
            timings["fit"] = shared_fit_s
        else:
            seed_everything(seed)
            model = cls(**kwargs)
            start = time.perf_counter()
            model.fit(train_data(list(loaded.values()) if pooled else [loaded[target]]))
            timings["fit"] = time.perf_counter() - start
            if pooled:
                shared_model, shared_fit_s = model, timings["fit"]
        subject_data = loaded[target]
        provenance = {
            "baseline": name,
            "kind": kind,
            "origin": BASELINES.origin(name),
            "parameters": model.get_params() if hasattr(model, "get_params") else kwargs,
            "seed": seed,
            "device": device,
            "dataset": dataset,
            "version": version,
            "subject": target,
            "manifest_sha256": manifest_sha,
            "package_versions": package_versions(),
            "created": utc_now(),
        }
        sidecar = out_dir / f"{target}.json"
        if kind == "classification":
            start = time.perf_counter()
            metrics = dict(model.evaluate(subject_data, train_data([subject_data])))
            timings["evaluate"] = time.perf_counter() - start
            write_json_atomic(sidecar, {**provenance, "metrics": metrics, "timings": timings})
            if score:
                _record_classification(_classification_row(metrics, provenance), board)
            results.append(RunResult(name, kind, dataset, version, target, None, sidecar, metrics, timings, provenance["parameters"]))
            continue

        start = time.perf_counter()
        images = to_uint8(model.reconstruct(subject_data))
        timings["reconstruct"] = time.perf_counter() - start
        expected = (n_test, output_size, output_size, 3)
        if images.shape != expected:
            raise FmriBenchError(f"baseline {name} returned reconstructions of shape {images.shape}; expected {expected}")
        path = out_dir / f"{target}.npy"
        save_npy_atomic(path, images)
        sidecar_obj = {**provenance, "timings": timings, "submission_sha256": sha256_file(path), "shape": list(images.shape)}
        write_json_atomic(sidecar, sidecar_obj)
        metrics: dict[str, Any] = {}
        if score:
            start = time.perf_counter()
            metrics = _score(path, dataset=dataset, version=version, subject=target, name=name, leaderboard=board, record=True, data_home=home)
            timings["score"] = time.perf_counter() - start
            write_json_atomic(sidecar, {**sidecar_obj, "timings": timings})
        results.append(RunResult(name, kind, dataset, version, target, path, sidecar, metrics, timings, provenance["parameters"]))
    return results
