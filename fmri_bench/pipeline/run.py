"""Run a baseline: prepared arrays -> fitted estimator -> reconstructions -> submission -> score."""

from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.data import PreparedData, load, prepared_dir, prepared_subjects
from fmri_bench.errors import DataError, FmriBenchError
from fmri_bench.estimators import BASELINES, Baseline, coerce_params, resolve_device
from fmri_bench.images import to_uint8
from fmri_bench.io import sha256_file, write_json_atomic
from fmri_bench.leaderboard import Leaderboard, classification_row
from fmri_bench.paths import check_name
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.progress import get_logger
from fmri_bench.provenance import package_versions, utc_now
from fmri_bench.submission import write_submission

log = get_logger(__name__)


@dataclass
class RunResult:
    """The outcome of one baseline on one subject.

    Attributes
    ----------
    baseline, kind, dataset, version, subject : str
        What ran.
    submission_path : Path or None
        The submission .npy (None for a classification baseline).
    sidecar_path : Path
        The JSON sidecar (for a classification baseline: its result).
    metrics : dict
        Score-report metrics (reconstruction; empty without scoring), or the
        classification result (``accuracy``, ``ci95``, ``chance``, ``p_value``, ``details``).
    timings : dict
        Seconds spent in ``fit``, ``predict`` (or ``evaluate``) and ``score``.
    params : dict
        The estimator's parameters.
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


def make_estimator(
    name: str, params: dict[str, Any] | None, *, seed: int, device: str, memory: Path | None
) -> Baseline:
    """Instantiate a registered baseline with checked parameters (before any data is read).

    ``random_state``, ``device`` and ``memory`` are set from the run when the baseline
    takes them and ``params`` does not.

    Parameters
    ----------
    name : str
        A registered baseline.
    params : dict, optional
        Parameters as given (strings are converted to the defaults' types).
    seed : int
        The run's seed.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    memory : Path, optional
        A cache folder for models shared between runs.

    Returns
    -------
    Baseline
    """
    cls = BASELINES.get(name)
    kwargs = coerce_params(cls, params)
    accepted = inspect.signature(cls.__init__).parameters
    run_values = {"random_state": seed, "device": device, "memory": None if memory is None else str(memory)}
    for key, value in run_values.items():
        if key in accepted and key not in kwargs:
            kwargs[key] = value
    estimator = cls(**kwargs)
    estimator.check_params()
    return estimator


def _targets(available: list[str], subject: str, where: str) -> list[str]:
    if subject == "all":
        return available
    if subject in available:
        return [subject]
    raise DataError(f"{subject} is not prepared for {where}; prepared subjects: {', '.join(available)} (or all)")


def _fit_predict(estimator: Baseline, loaded: dict[str, PreparedData], targets: list[str]) -> tuple[dict, float, float]:
    """Fit on the train splits and reconstruct the test splits; return images per subject and seconds."""
    start = time.perf_counter()
    if estimator.multi_subject:
        subjects = list(loaded)
        estimator.fit(
            [loaded[s].X_train for s in subjects], [loaded[s].images_train[loaded[s].y_train] for s in subjects]
        )
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        predictions = dict(zip(subjects, estimator.predict([loaded[s].X_test for s in subjects])))
        return {s: predictions[s] for s in targets}, fit_s, time.perf_counter() - start
    images, fit_s, predict_s = {}, 0.0, 0.0
    for s in targets:
        t0 = time.perf_counter()
        estimator.fit(loaded[s].X_train, loaded[s].images_train[loaded[s].y_train])
        t1 = time.perf_counter()
        images[s] = estimator.predict(loaded[s].X_test)
        fit_s, predict_s = fit_s + t1 - t0, predict_s + time.perf_counter() - t1
    return images, fit_s / len(targets), predict_s / len(targets)


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
    split: str = "test",
) -> list[RunResult]:
    """Train a baseline on the train split and reconstruct the test split (or ``split``) of each subject.

    Parameters
    ----------
    name : str
        A registered baseline (``fmri-bench list baselines``).
    dataset, version : str
        The prepared dataset version to run on.
    subject : str
        ``"sub-01"`` etc., or ``"all"`` for every prepared subject.
    seed : int
        The estimator's ``random_state``; same seed, same submission bytes on the CPU.
    device : {"auto", "cpu", "cuda"}
        Where torch-based baselines run.
    out : path-like, optional
        Output folder (default ``<data-home>/submissions/<dataset>/<version>/<name>``);
        writes ``<subject>.npy`` (uint8 N,H,W,3, images_test order) and ``<subject>.json``.
    leaderboard : path-like, optional
        Leaderboard folder for the score rows; required when ``score`` is true.
    score : bool
        Score each submission and record it in the leaderboard.
    data_home : path-like, optional
        The data home.
    params : dict, optional
        Baseline parameters (``__init__`` keywords); strings are converted to the defaults' types.
    split : str
        The split to reconstruct and score: ``test``, or ``artificial`` / ``letter`` where
        prepared (the estimator sees it as its test data; the submission follows
        ``images_<split>.npy`` and goes to ``<name>-<split>`` by default).

    Returns
    -------
    list of RunResult
        One per subject, in subject order.
    """
    check_name(name, "baseline name")
    check_name(split, "split")
    if score and leaderboard is None:
        raise FmriBenchError("run_baseline(score=True) needs a leaderboard folder")
    home = resolve_data_home(data_home)
    device = resolve_device(device)
    estimator = make_estimator(name, params, seed=seed, device=device, memory=home / "cache")
    targets, loaded = _load_subjects(estimator, dataset, version, subject, home, split)
    default_out = home / "submissions" / dataset / version / (name if split == "test" else f"{name}-{split}")
    run = _Run(
        name=name, estimator=estimator, seed=seed, device=device, home=home,
        manifest_sha=sha256_file(prepared_dir(dataset, version, data_home=home) / "manifest.json"),
        out_dir=Path(out) if out is not None else default_out,
        leaderboard=Path(leaderboard) if score else None, split=split,
    )  # fmt: skip
    log.info("%s on %s %s: %s", name, dataset, version, ", ".join(targets))
    if estimator.kind == "classification":
        return [_classify(run, loaded[s]) for s in targets]
    images, fit_s, predict_s = _fit_predict(estimator, loaded, targets)
    return [_write_and_score(run, loaded[s], images[s], {"fit": fit_s, "predict": predict_s}) for s in targets]


def _load_subjects(
    estimator: Baseline, dataset: str, version: str, subject: str, home: Path, split: str = "test"
) -> tuple[list[str], dict[str, PreparedData]]:
    """The subjects to reconstruct and the data the estimator needs (every subject for a multi-subject one)."""
    available = prepared_subjects(dataset, version, data_home=home)
    if not available:
        raise DataError(
            f"no subject is prepared for {dataset} {version} in {home / dataset / version}; "
            f"run `fmri-bench prepare {dataset} --version {version}`"
        )
    targets = _targets(available, subject, f"{dataset} {version}")
    needed = available if estimator.multi_subject else targets
    loaded = {s: load(dataset, version, s, data_home=home, average_test=estimator.average_test) for s in needed}
    if loaded[needed[0]].images_train is None:
        raise DataError(
            f"{dataset} {version} was prepared without stimulus images; baselines need them "
            "(prepare again with --stimuli IMAGE_DIR)"
        )
    if split != "test":
        for data in loaded.values():
            if f"X_{split}" not in data or data[f"images_{split}"] is None:
                what = "arrays" if f"X_{split}" not in data else "images (prepare again with --stimuli IMAGE_DIR)"
                raise DataError(f"{data.subject} of {dataset} {version} has no {split} {what}")
            # the estimator reconstructs its test data: the split's
            data.X_test, data.y_test, data.images_test = data[f"X_{split}"], data[f"y_{split}"], data[f"images_{split}"]
    return targets, loaded


@dataclass
class _Run:
    """What every subject of one run_baseline call shares."""

    name: str
    estimator: Baseline
    seed: int
    device: str
    home: Path
    manifest_sha: str
    out_dir: Path
    leaderboard: Path | None
    split: str = "test"

    def provenance(self, data: PreparedData) -> dict[str, Any]:
        # A baseline that runs a network the metrics may also use declares it (``networks_``).
        networks = [str(n) for n in getattr(self.estimator, "networks_", [])]
        return {
            **({"networks": networks} if networks else {}),
            "baseline": self.name,
            "kind": self.estimator.kind,
            "origin": BASELINES.origin(self.name),
            "parameters": self.estimator.get_params(),
            "seed": self.seed,
            "device": self.device,
            "dataset": data.dataset,
            "version": data.version,
            "subject": data.subject,
            "split": self.split,
            "manifest_sha256": self.manifest_sha,
            "package_versions": package_versions(),
            "created": utc_now(),
        }


def _classify(run: _Run, data: PreparedData) -> RunResult:
    estimator = run.estimator
    start = time.perf_counter()
    estimator.fit(data.X_train, data.y_train)
    fit_s = time.perf_counter() - start
    result = estimator.evaluate({"train": (data.X_train, data.y_train), "test": (data.X_test, data.y_test)})
    timings = {"fit": fit_s, "evaluate": time.perf_counter() - start - fit_s}
    provenance = run.provenance(data)
    sidecar = run.out_dir / f"{data.subject}.json"
    write_json_atomic(sidecar, {**provenance, "result": result.as_dict(), "timings": timings})
    if run.leaderboard is not None:
        Leaderboard(run.leaderboard).upsert(classification_row(result.as_dict(), provenance))
    return RunResult(run.name, estimator.kind, data.dataset, data.version, data.subject, None, sidecar,
                     result.as_dict(), timings, provenance["parameters"])  # fmt: skip


def _write_and_score(run: _Run, data: PreparedData, images: np.ndarray, timings: dict[str, float]) -> RunResult:
    images = to_uint8(images)
    expected = tuple(data.images_test.shape)
    if images.shape != expected:
        raise FmriBenchError(
            f"baseline {run.name} returned reconstructions of shape {images.shape}; expected {expected}"
        )
    path = run.out_dir / f"{data.subject}.npy"
    provenance = run.provenance(data)
    write_submission(path, images, {**provenance, "timings": timings})
    metrics: dict[str, Any] = {}
    if run.leaderboard is not None:
        from fmri_bench.pipeline.score import score_submission

        start = time.perf_counter()
        report = score_submission(path, dataset=data.dataset, version=data.version, subject=data.subject,
                                  name=run.name, leaderboard=run.leaderboard, record=True, data_home=run.home,
                                  split=run.split)  # fmt: skip
        metrics = dict(report.metrics)
        timings = {**timings, "score": time.perf_counter() - start}
    return RunResult(run.name, run.estimator.kind, data.dataset, data.version, data.subject, path,
                     path.with_suffix(".json"), metrics, timings, provenance["parameters"])  # fmt: skip
