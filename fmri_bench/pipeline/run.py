"""Run a baseline: prepared arrays -> fitted estimator -> reconstructions -> submission -> score."""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Sequence
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
from fmri_bench.pipeline.workers import map_in_workers, one_blas_thread
from fmri_bench.prepare.parallel import effective_jobs
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
    generator_seeds : list of int
        A generator-based baseline run over several generator seeds: the seeds (empty
        otherwise). ``metrics`` are then the mean over them.
    seed_sd : dict
        Metric key -> sample sd over the generator seeds (None where n/a).
    seed_metrics : dict
        Generator seed -> that seed's metrics.
    seed_submissions : dict
        Generator seed -> its submission .npy (the first seed's is ``submission_path``).
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
    generator_seeds: list[int] = field(default_factory=list)
    seed_sd: dict[str, float | None] = field(default_factory=dict)
    seed_metrics: dict[int, dict[str, Any]] = field(default_factory=dict)
    seed_submissions: dict[int, Path] = field(default_factory=dict)


#: Parameters that fix a generator-based baseline's image prior: one run, no average over seeds.
PRIOR_PARAMS = ("generator", "gan_images", "generator_seed")
MAX_SEED = 2**32 - 1


def parse_generator_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: distinct integers in 0..2**32-1 (one clear line otherwise).

    Parameters
    ----------
    text : str
        Comma-separated seeds.

    Returns
    -------
    list of int
    """
    try:
        seeds = [int(part) for part in str(text).split(",")]
    except ValueError:
        seeds = []
    if not seeds or any(not 0 <= s <= MAX_SEED for s in seeds) or len(set(seeds)) != len(seeds):
        raise FmriBenchError(
            f"--generator-seeds {text!r}: expected distinct integers in 0..{MAX_SEED} separated by commas, e.g. 0,1,2"
        )
    return seeds


def generator_seeds_for(
    estimator: Baseline, params: dict[str, Any] | None, requested: Sequence[int] | None
) -> list[int] | None:
    """The generator seeds a run averages over; None: one fit, as the parameters say.

    A generator-based baseline (``generator_seeds`` declared on its class) runs over its
    declared seeds unless ``params`` fixes the prior (:data:`PRIOR_PARAMS`); ``requested``
    overrides the declared seeds (one seed: one ordinary run with that ``generator_seed``).

    Parameters
    ----------
    estimator : Baseline
        The checked estimator (one seed requested: its ``generator_seed`` is set).
    params : dict or None
        The parameters as given.
    requested : sequence of int or None
        ``--generator-seeds``.

    Returns
    -------
    list of int or None
    """
    declared = tuple(type(estimator).generator_seeds)
    fixed = [k for k in PRIOR_PARAMS if k in (params or {})]
    if requested is None:
        return list(declared) if declared and not fixed else None
    seeds = parse_generator_seeds(",".join(str(s) for s in requested))
    if not declared:
        raise FmriBenchError(
            f"--generator-seeds: baseline {type(estimator).__name__} uses no image generator; expected one of: "
            + ", ".join(n for n in BASELINES.names() if BASELINES.get(n).generator_seeds)
        )
    if "generator" in fixed or "generator_seed" in fixed:
        raise FmriBenchError(f"give --generator-seeds or the {' / '.join(fixed)} parameter, not both")
    if len(seeds) == 1:
        estimator.set_params(generator_seed=seeds[0])
        return None
    return seeds


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


@dataclass
class _Fitted:
    """What the records need of a model fitted in a worker process: parameters, networks, kind."""

    params: dict[str, Any]
    networks_: list[str]
    kind: str

    @classmethod
    def of(cls, model: Any) -> _Fitted:
        return cls(model.get_params(), [str(n) for n in getattr(model, "networks_", [])], model.kind)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return dict(self.params)


def _fit_predict_subject(estimator: Baseline, data: PreparedData) -> tuple[np.ndarray, float, float, _Fitted]:
    """Fit a clone on one subject's train split and reconstruct its test split (in a worker or here)."""
    from sklearn.base import clone

    model = clone(estimator)
    start = time.perf_counter()
    model.fit(data.X_train, data.images_train[data.y_train])
    fit_s = time.perf_counter() - start
    images = model.predict(data.X_test)
    return images, fit_s, time.perf_counter() - start - fit_s, _Fitted.of(model)


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
    generator_seeds: Sequence[int] | None = None,
    n_jobs: int = 1,
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
    generator_seeds : sequence of int, optional
        A generator-based baseline is fit once per generator seed (:func:`generator_seeds_for`):
        each seed's submission is written (the first as ``<subject>.npy``, the others as
        ``<subject>.generator-seed<N>.npy``) and scored, and ONE row per subject is recorded:
        the mean over seeds with their sd. One seed: an ordinary run with that seed.
    n_jobs : int
        Subjects fit at once in worker processes (negative: count back from the CPUs); same bytes.

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
    seeds = generator_seeds_for(estimator, params, generator_seeds)  # None: one fit
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
    return _run_seeds(run, loaded, targets, seeds, n_jobs) if seeds else _reconstruct(run, loaded, targets, n_jobs)


def _reconstruct(run: _Run, loaded: dict[str, PreparedData], targets: list[str], n_jobs: int) -> list[RunResult]:
    """Fit, predict, write and score every subject (in worker processes with ``n_jobs``)."""
    estimator = run.estimator
    if estimator.multi_subject or effective_jobs(n_jobs) == 1 or len(targets) == 1:
        images, fit_s, predict_s = one_blas_thread(_fit_predict, estimator, loaded, targets)
        return [_write_and_score(run, loaded[s], images[s], {"fit": fit_s, "predict": predict_s}) for s in targets]
    done = map_in_workers(_fit_predict_subject, [(estimator, loaded[s]) for s in targets], n_jobs)
    return [
        _write_and_score_report(run, loaded[s], images, {"fit": fit_s, "predict": predict_s}, estimator=fitted)[0]
        for s, (images, fit_s, predict_s, fitted) in zip(targets, done)
    ]


def _predict(estimator: Baseline, loaded: dict[str, PreparedData], targets: list[str]) -> dict[str, np.ndarray]:
    if estimator.multi_subject:
        predictions = dict(zip(loaded, estimator.predict([loaded[s].X_test for s in loaded])))
        return {s: predictions[s] for s in targets}
    (subject,) = targets
    return {subject: estimator.predict(loaded[subject].X_test)}


def _fit_predict_seeds(
    estimator: Baseline, loaded: dict[str, PreparedData], targets: list[str], seeds: list[int], n_jobs: int = 1
) -> dict[int, tuple[dict[str, np.ndarray], float, float, Baseline]]:
    """Per generator seed: images per subject, fit and predict seconds (per subject) and an estimator.

    The first seed is fit; a baseline with ``with_generator_seed`` refits only its
    generator-dependent parts for the others (the same predictions, sooner), any other is
    cloned and fit again.
    """
    out: dict[int, tuple[dict[str, np.ndarray], float, float, _Fitted]] = {}
    groups = [targets] if estimator.multi_subject else [[s] for s in targets]
    jobs = [(estimator, loaded if estimator.multi_subject else {s: loaded[s] for s in group}, group, seeds)
            for group in groups]  # fmt: skip
    for per_seed in map_in_workers(_fit_predict_group, jobs, n_jobs):
        for generator_seed, (images, fit_s, predict_s, model) in per_seed.items():
            before = out.get(generator_seed, ({}, 0.0, 0.0, model))
            out[generator_seed] = ({**before[0], **images}, before[1] + fit_s, before[2] + predict_s, model)
    return {g: (images, f / len(groups), p / len(groups), m) for g, (images, f, p, m) in out.items()}


def _fit_predict_group(
    estimator: Baseline, loaded: dict[str, PreparedData], group: list[str], seeds: list[int]
) -> dict[int, tuple[dict[str, np.ndarray], float, float, _Fitted]]:
    """One subject (or the subjects of a multi-subject baseline) over every generator seed (in a worker or here)."""
    from sklearn.base import clone

    out = {}
    fitted = clone(estimator).set_params(generator_seed=seeds[0])
    for generator_seed in seeds:
        log.info("%s %s: generator seed %d", type(estimator).__name__, ", ".join(group), generator_seed)
        if generator_seed == seeds[0] or not hasattr(fitted, "with_generator_seed"):
            model = fitted if generator_seed == seeds[0] else clone(fitted).set_params(generator_seed=generator_seed)
            images, fit_s, predict_s = _fit_predict(model, loaded, group)
        else:
            start = time.perf_counter()
            model = fitted.with_generator_seed(generator_seed)
            fit_s = time.perf_counter() - start
            images = _predict(model, loaded, group)
            predict_s = time.perf_counter() - start - fit_s
        out[generator_seed] = (images, fit_s, predict_s, _Fitted.of(model))
    return out


def _run_seeds(
    run: _Run, loaded: dict[str, PreparedData], targets: list[str], seeds: list[int], n_jobs: int = 1
) -> list[RunResult]:
    """Fit, predict, write and score once per generator seed; record the mean over seeds per subject."""
    per_seed: dict[str, dict[int, tuple[RunResult, Any]]] = {s: {} for s in targets}
    for generator_seed, (images, fit_s, predict_s, model) in _fit_predict_seeds(
        run.estimator, loaded, targets, seeds, n_jobs
    ).items():
        stem = "{subject}" if generator_seed == seeds[0] else f"{{subject}}.generator-seed{generator_seed}"
        for s in targets:
            per_seed[s][generator_seed] = _write_and_score_report(
                run, loaded[s], images[s], {"fit": fit_s, "predict": predict_s}, estimator=model, stem=stem,
                seeds=seeds, record=False,
            )  # fmt: skip
    return [_record_seeds(run, loaded[s], per_seed[s]) for s in targets]


def _record_seeds(run: _Run, data: PreparedData, per_seed: dict[int, tuple[RunResult, Any]]) -> RunResult:
    """One result per subject from its per-seed results: the mean and sd over seeds, recorded once."""
    results = {g: result for g, (result, _) in per_seed.items()}
    first = next(iter(results.values()))
    timings = {k: sum(r.timings.get(k, 0.0) for r in results.values()) for k in first.timings}
    metrics: dict[str, Any] = {}
    sd: dict[str, float | None] = {}
    if run.leaderboard is not None:
        from fmri_bench.pipeline.score import record_over_seeds

        start = time.perf_counter()
        report = record_over_seeds({g: rep for g, (_, rep) in per_seed.items()}, leaderboard=run.leaderboard,
                                   data_home=run.home)  # fmt: skip
        metrics, sd = dict(report.metrics), dict(report.seed_sd)
        timings["score"] = timings.get("score", 0.0) + time.perf_counter() - start
    return RunResult(
        run.name, first.kind, data.dataset, data.version, data.subject, first.submission_path, first.sidecar_path,
        metrics, timings, first.params, generator_seeds=list(results), seed_sd=sd,
        seed_metrics={g: r.metrics for g, r in results.items()},
        seed_submissions={g: r.submission_path for g, r in results.items()},
    )  # fmt: skip


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

    def provenance(self, data: PreparedData, estimator: Baseline | None = None) -> dict[str, Any]:
        estimator = estimator if estimator is not None else self.estimator
        # A baseline that runs a network the metrics may also use declares it (``networks_``).
        networks = [str(n) for n in getattr(estimator, "networks_", [])]
        return {
            **({"networks": networks} if networks else {}),
            "baseline": self.name,
            "kind": self.estimator.kind,
            "origin": BASELINES.origin(self.name),
            "parameters": estimator.get_params(),
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
    """Write ``<subject>.npy`` and its sidecar, score it and record the row."""
    return _write_and_score_report(run, data, images, timings)[0]


def _write_and_score_report(
    run: _Run, data: PreparedData, images: np.ndarray, timings: dict[str, float], *,
    estimator: Baseline | None = None, stem: str = "{subject}", seeds: list[int] | None = None, record: bool = True,
) -> tuple[RunResult, Any]:  # fmt: skip
    """Write one submission (``<stem>.npy``) and score it; return the result and the ScoreReport (None unscored).

    ``record=False`` (one generator seed of several) scores without recording: the mean over
    seeds is recorded from the reports.
    """
    images = to_uint8(images)
    expected = tuple(data.images_test.shape)
    if images.shape != expected:
        raise FmriBenchError(
            f"baseline {run.name} returned reconstructions of shape {images.shape}; expected {expected}"
        )
    path = run.out_dir / f"{stem.format(subject=data.subject)}.npy"
    provenance = run.provenance(data, estimator)
    if seeds is not None:
        provenance["generator_seeds"] = list(seeds)  # this file is one of the run's seeds
    write_submission(path, images, {**provenance, "timings": timings})
    metrics: dict[str, Any] = {}
    report = None
    if run.leaderboard is not None:
        from fmri_bench.pipeline.score import score_submission

        start = time.perf_counter()
        report = score_submission(path, dataset=data.dataset, version=data.version, subject=data.subject,
                                  name=run.name, leaderboard=run.leaderboard if record else None, record=record,
                                  data_home=run.home, split=run.split)  # fmt: skip
        metrics = dict(report.metrics)
        timings = {**timings, "score": time.perf_counter() - start}
    result = RunResult(run.name, (estimator or run.estimator).kind, data.dataset, data.version, data.subject, path,
                       path.with_suffix(".json"), metrics, timings, provenance["parameters"])  # fmt: skip
    return result, report
