"""Scoring: validate a submission, compute every available metric, record a leaderboard row.

- :func:`evaluate` is the nlb_tools-style core: arrays in, ``{metric key: value or None}`` out.
- :func:`score_submission` scores a submission file for one subject of a prepared dataset,
  writes a PNG grid (targets above reconstructions) beside it and records a row.
- :func:`score_subjects` does that for every prepared subject (``--subject all``).
- :func:`record_reference_rows` records the *chance* and *ceiling* rows every score reads
  against: chance = the mean training image given for every test image; ceiling = each
  target blurred down to 32 px and back (bilinear, antialiased).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.errors import FmriBenchError, SubmissionError
from fmri_bench.metrics import (
    METRICS,
    METRICS_VERSION,
    MetricInputs,
    MetricUnavailable,
    bootstrap_interval,
    ordered_names,
    resize_images,
    to_float_nchw,
)
from fmri_bench.submission import validate_array

CEILING_SIZE = 32
CHANCE_NAME = "chance (mean train image)"
CEILING_NAME = f"ceiling ({CEILING_SIZE} px blur)"
GALLERY_ITEMS = 8


@dataclass
class Evaluation:
    """Everything :func:`evaluate_detailed` computed.

    Attributes
    ----------
    metrics : dict
        Metric key -> value, or None when unavailable.
    unavailable : dict
        Metric key -> reason it is n/a.
    intervals : dict
        Identification metric key -> (low, high) 95% bootstrap interval over test images.
    seconds : dict
        Metric key -> wall time (the first metric of a network includes loading it and
        extracting the features that the network's other metrics reuse).
    weights : dict
        Deep metric key -> the weight file used (``filename sha256:...``).
    per_image : dict
        Metric key -> per-image scores.
    """

    metrics: dict[str, float | None] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    per_image: dict[str, np.ndarray] = field(default_factory=dict)


def _check_targets(targets: np.ndarray) -> np.ndarray:
    targets = np.asarray(targets)
    if targets.ndim != 4 or targets.shape[-1] != 3 or targets.shape[1] != targets.shape[2]:
        raise FmriBenchError(f"targets have shape {targets.shape}; expected (N, H, W, 3) square images")
    if targets.dtype != np.uint8 and targets.dtype.kind != "f":
        raise FmriBenchError(f"targets have dtype {targets.dtype}; expected uint8 or float in [0, 1]")
    return targets


def evaluate_detailed(
    targets: np.ndarray,
    submission: np.ndarray,
    metrics: Sequence[str] | None = None,
) -> Evaluation:
    """Compute metrics with their reasons, intervals, timings and weight files.

    See :func:`evaluate` for the parameters.
    """
    targets = _check_targets(targets)
    recons = validate_array(submission, len(targets))
    names = list(metrics) if metrics is not None else ordered_names()
    chosen = [METRICS.get(name) for name in names]
    import torch  # noqa: F401  (imported before the timings, so no metric pays for it)

    inputs = MetricInputs(to_float_nchw(targets), to_float_nchw(recons))
    for metric in chosen:
        if metric.backbone is not None and metric.node is not None:
            inputs.plan(metric.backbone, metric.node, metric.resolution)
    result = Evaluation()
    for metric in chosen:
        start = time.perf_counter()
        try:
            out = metric.compute(inputs)
        except MetricUnavailable as exc:
            result.metrics[metric.key] = None
            result.unavailable[metric.key] = str(exc)
        else:
            result.metrics[metric.key] = float(out.value)
            if out.per_image is not None:
                result.per_image[metric.key] = out.per_image
                if metric.identification:
                    result.intervals[metric.key] = bootstrap_interval(out.per_image)
            if metric.backbone is not None and metric.backbone in inputs.weights_used:
                result.weights[metric.key] = inputs.weights_used[metric.backbone]
        result.seconds[metric.key] = time.perf_counter() - start
    return result


def evaluate(
    targets: np.ndarray,
    submission: np.ndarray,
    metrics: Sequence[str] | None = None,
) -> dict[str, float | None]:
    """Score reconstructions against targets (nlb_tools-style).

    Parameters
    ----------
    targets : ndarray, shape (N, H, W, 3)
        The test images (uint8, or float in [0, 1]), ascending image_index.
    submission : ndarray
        One reconstruction per target: (N, h, w, 3) or (N, 3, h, w), uint8 or float in
        [0, 1], square, at least 32 px. Shapes are checked strictly (SubmissionError).
    metrics : sequence of str, optional
        Metric keys (default: every registered metric).

    Returns
    -------
    dict
        Metric key -> float, or None when the metric is unavailable here (its weights
        are absent); :func:`evaluate_detailed` also gives the reasons.
    """
    return evaluate_detailed(targets, submission, metrics).metrics


# --------------------------------------------------------------------------- images


def _to_uint8_nhwc(images: np.ndarray) -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr
    return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)


def grid_png(targets: np.ndarray, recons: np.ndarray, *, max_items: int | None = None, thumb: int = 96,
             per_row: int = 10) -> bytes:
    """Return PNG bytes of a grid: each cell is a target (top) above its reconstruction (bottom).

    ``targets`` and ``recons`` are (N, H, W, 3), uint8 or float in [0, 1]; each is resized
    to ``thumb`` px with Pillow (bilinear).
    """
    from PIL import Image

    n = len(targets) if max_items is None else min(max_items, len(targets))
    per_row = max(1, min(per_row, n))
    rows = (n + per_row - 1) // per_row
    gap = 4
    width = per_row * (thumb + gap) + gap
    height = rows * (2 * thumb + 3 * gap) + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    t8, r8 = _to_uint8_nhwc(targets[:n]), _to_uint8_nhwc(recons[:n])
    for i in range(n):
        x = gap + (i % per_row) * (thumb + gap)
        y = gap + (i // per_row) * (2 * thumb + 3 * gap)
        for k, img in enumerate((t8[i], r8[i])):
            tile = Image.fromarray(np.ascontiguousarray(img)).resize((thumb, thumb), Image.BILINEAR)
            canvas.paste(tile, (x, y + k * (thumb + gap)))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def chance_submission(train_images: np.ndarray, n_test: int, size: int) -> np.ndarray:
    """The chance reference: the mean training image (at ``size`` px), repeated ``n_test`` times."""
    mean = to_float_nchw(train_images).mean(axis=0, keepdims=True)
    mean = resize_images(mean, size)
    return np.repeat(mean.transpose(0, 2, 3, 1), n_test, axis=0)


def ceiling_submission(targets: np.ndarray, size: int = CEILING_SIZE) -> np.ndarray:
    """The ceiling reference: each target blurred down to ``size`` px and back up."""
    t = to_float_nchw(targets)
    small = resize_images(t, size)
    back = resize_images(small, t.shape[-1])
    return np.clip(back, 0.0, 1.0).transpose(0, 2, 3, 1)


# --------------------------------------------------------------------------- reports


@dataclass
class ScoreReport:
    """The result of scoring one submission for one subject."""

    name: str
    dataset: str
    version: str
    subject: str
    n_images: int
    metrics: dict[str, float | None]
    unavailable: dict[str, str]
    intervals: dict[str, tuple[float, float]]
    seconds: dict[str, float]
    weights: dict[str, str]
    submission: str
    sha256: str
    sidecar: dict[str, Any]
    grid: str | None = None
    recorded: bool = False
    leaderboard: str | None = None
    row: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``metrics`` maps every metric key to its value (null when n/a)."""
        return {
            "name": self.name,
            "dataset": self.dataset,
            "version": self.version,
            "subject": self.subject,
            "n_images": self.n_images,
            "metrics": dict(self.metrics),
            "unavailable": dict(self.unavailable),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "weights": dict(self.weights),
            "submission": self.submission,
            "sha256": self.sha256,
            "sidecar": dict(self.sidecar),
            "grid": self.grid,
            "recorded": self.recorded,
            "leaderboard": self.leaderboard,
            "metrics_version": METRICS_VERSION,
        }


def make_row(
    *,
    name: str,
    dataset: str,
    version: str,
    subject: str,
    evaluation: Evaluation,
    n_images: int,
    sha256: str | None,
    submission: str | None,
    sidecar: dict[str, Any] | None = None,
    reference: bool = False,
) -> dict[str, Any]:
    """Build a leaderboard row (kind "reconstruction") with its provenance."""
    import fmri_bench
    from fmri_bench.provenance import package_versions, utc_now

    versions = package_versions()
    return {
        "kind": "reconstruction",
        "name": name,
        "dataset": dataset,
        "version": version,
        "subject": subject,
        "reference": reference,
        "metrics": {k: (None if v is None else round(float(v), 6)) for k, v in evaluation.metrics.items()},
        "unavailable": dict(evaluation.unavailable),
        "intervals": {k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in evaluation.intervals.items()},
        "weights": dict(evaluation.weights),
        "n_images": n_images,
        "submission": submission,
        "submission_sha256": sha256,
        "sidecar": sidecar or {},
        "metrics_version": METRICS_VERSION,
        "fmri_bench_version": fmri_bench.__version__,
        "versions": {k: versions.get(k) for k in ("numpy", "torch", "torchvision", "scikit-learn")},
        "date": utc_now(),
    }


def _available(row: dict[str, Any]) -> set[str]:
    return {k for k, v in row.get("metrics", {}).items() if v is not None}


def record_reference_rows(
    dataset: str,
    version: str,
    *,
    subjects: Sequence[str] | None = None,
    leaderboard: Any = None,
    data_home: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] | None = None,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Record the chance and ceiling rows of ``dataset``/``version`` for each subject.

    A subject's reference rows are (re)computed only when missing, from an older
    METRICS_VERSION, or lacking a metric that is available now (weights imported since);
    ``force`` recomputes them. The two references are evaluated once and shared by every
    subject (the test images are the same for all subjects).

    Returns the rows written.
    """
    from fmri_bench.data import load_images, prepared_subjects
    from fmri_bench.leaderboard import Leaderboard
    from fmri_bench.paths import leaderboard_dir

    board = leaderboard if isinstance(leaderboard, Leaderboard) else Leaderboard(leaderboard_dir(leaderboard, data_home))
    subjects = list(subjects) if subjects is not None else prepared_subjects(dataset, version, data_home=data_home)
    existing = {(r["name"], r["subject"]): r for r in board.rows()
                if r.get("reference") and r["dataset"] == dataset and r["version"] == version}
    targets = None
    refs: dict[str, tuple[Evaluation, bytes]] = {}
    written = []
    for subject in subjects:
        for ref_name in (CHANCE_NAME, CEILING_NAME):
            row = existing.get((ref_name, subject))
            # Up to date unless the definitions changed or a metric became available since.
            if (row is not None and not force and row.get("metrics_version") == METRICS_VERSION
                    and not _needs_refresh(row, metrics)):
                continue
            if not refs:
                targets = np.asarray(load_images(dataset, version, "test", data_home=data_home))
                train = np.asarray(load_images(dataset, version, "train", data_home=data_home))
                size = targets.shape[1]
                for label, recon in ((CHANCE_NAME, chance_submission(train, len(targets), size)),
                                     (CEILING_NAME, ceiling_submission(targets))):
                    ev = evaluate_detailed(targets, recon, metrics)
                    refs[label] = (ev, grid_png(targets, recon, max_items=GALLERY_ITEMS, thumb=64, per_row=GALLERY_ITEMS))
            ev, png = refs[ref_name]
            new = make_row(name=ref_name, dataset=dataset, version=version, subject=subject, evaluation=ev,
                           n_images=len(targets), sha256=None, submission=None, reference=True)
            board.upsert(new, gallery_png=png)
            written.append(new)
    return written


def _needs_refresh(row: dict[str, Any], metrics: Sequence[str] | None) -> bool:
    from fmri_bench.weights import resolve

    wanted = list(metrics) if metrics is not None else ordered_names()
    have = _available(row)
    for key in wanted:
        if key in have or key not in METRICS:
            continue
        if "at least 2 test images" in row.get("unavailable", {}).get(key, ""):
            continue  # n/a for a reason that no new weights can change
        metric = METRICS.get(key)
        if metric.backbone is None:
            return True  # a pixel metric is always computable
        if resolve(metric.backbone).available:
            return True
    return False


def _default_name(path: Path, sidecar: dict[str, Any]) -> str:
    for key in ("name", "method"):
        value = sidecar.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return path.stem


def score_submission(
    path: str | os.PathLike[str],
    *,
    dataset: str = "synthetic",
    version: str = "v1",
    subject: str = "sub-01",
    name: str | None = None,
    leaderboard: str | os.PathLike[str] | None = None,
    record: bool = True,
    data_home: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> ScoreReport:
    """Validate and score a submission file for one subject; record it and write its PNG grid.

    Parameters
    ----------
    path : path-like
        The submission .npy (see ``leaderboard/README.md`` for the format).
    dataset, version, subject : str
        What it reconstructs; the targets are ``images_test.npy`` of that dataset/version.
    name : str, optional
        The leaderboard name (default: the sidecar's ``name`` or ``method``, else the file stem).
    leaderboard : path-like, optional
        Leaderboard folder (default: :func:`fmri_bench.paths.leaderboard_dir`).
    record : bool
        Record the row (and the reference rows) in the leaderboard.
    data_home : path-like, optional
        The data home.
    metrics : sequence of str, optional
        Metric keys (default: all).

    Returns
    -------
    ScoreReport

    Raises
    ------
    SubmissionError
        Bad submission or sidecar (exit code 2); nothing is written then.
    """
    from fmri_bench.data import load_images, prepared_subjects
    from fmri_bench.errors import DataError
    from fmri_bench.io import atomic_path
    from fmri_bench.leaderboard import Leaderboard
    from fmri_bench.paths import leaderboard_dir
    from fmri_bench.submission import load_submission

    path = Path(path)
    targets = np.asarray(load_images(dataset, version, "test", data_home=data_home))
    subjects = prepared_subjects(dataset, version, data_home=data_home)
    if subject not in subjects:
        raise DataError(f"{subject} is not prepared for {dataset} {version}; prepared subjects: "
                        f"{', '.join(subjects) or 'none'} (or use --subject all)")
    sub = load_submission(path, n_expected=len(targets))
    ev = evaluate_detailed(targets, sub.images, metrics)
    report = ScoreReport(
        name=name or _default_name(path, sub.sidecar), dataset=dataset, version=version, subject=subject,
        n_images=len(targets), metrics=ev.metrics, unavailable=ev.unavailable, intervals=ev.intervals,
        seconds=ev.seconds, weights=ev.weights, submission=str(path), sha256=sub.sha256, sidecar=sub.sidecar,
    )
    grid = path.with_name(f"{path.stem}.grid.png")
    with atomic_path(grid, suffix=".png") as tmp:
        tmp.write_bytes(grid_png(targets, sub.images))
    report.grid = str(grid)
    row = make_row(name=report.name, dataset=dataset, version=version, subject=subject, evaluation=ev,
                   n_images=len(targets), sha256=sub.sha256, submission=path.name, sidecar=sub.sidecar)
    report.row = row
    if record:
        board = Leaderboard(leaderboard_dir(leaderboard, data_home))
        record_reference_rows(dataset, version, subjects=[subject], leaderboard=board, data_home=data_home,
                              metrics=metrics)
        board.upsert(row, gallery_png=grid_png(targets, sub.images, max_items=GALLERY_ITEMS, thumb=64,
                                               per_row=GALLERY_ITEMS))
        report.recorded = True
        report.leaderboard = str(board.folder)
    return report


def subject_files(path: str | os.PathLike[str], subjects: Sequence[str]) -> dict[str, Path]:
    """Map each subject to its submission file for ``--subject all``.

    ``path`` is one of: a template containing ``{subject}`` (``out/{subject}.npy``); a
    folder holding ``<subject>.npy`` per subject; or a single .npy file, which is then
    scored against every subject (for subject-independent methods). Every file must exist.
    """
    text = str(path)
    if "{subject}" in text:
        files = {s: Path(text.format(subject=s)) for s in subjects}
    elif Path(text).is_dir():
        files = {s: Path(text) / f"{s}.npy" for s in subjects}
    else:
        files = {s: Path(text) for s in subjects}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise SubmissionError(f"{missing[0]}: no such file; with --subject all, expected one .npy per prepared "
                              f"subject ({', '.join(subjects)}), as a folder of <subject>.npy or a {{subject}} template")
    return files


def score_subjects(
    path: str | os.PathLike[str],
    *,
    dataset: str = "synthetic",
    version: str = "v1",
    name: str | None = None,
    leaderboard: str | os.PathLike[str] | None = None,
    record: bool = True,
    data_home: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> list[ScoreReport]:
    """Score every prepared subject (``--subject all``); see :func:`subject_files` for ``path``.

    Every file is validated before anything is recorded, so one bad file leaves the
    leaderboard unchanged.
    """
    from fmri_bench.data import load_images, prepared_subjects
    from fmri_bench.submission import load_submission

    subjects = prepared_subjects(dataset, version, data_home=data_home)
    files = subject_files(path, subjects)
    n = len(load_images(dataset, version, "test", data_home=data_home))
    for file in dict.fromkeys(files.values()):
        load_submission(file, n_expected=n)
    if name is None:
        # One name for the method across subjects: the sidecar's name/method, else the
        # file stem (single file), else the folder holding the per-subject files.
        from fmri_bench.submission import load_sidecar

        first = next(iter(files.values()))
        name = _default_name(first, load_sidecar(first))
        if name == first.stem and len(set(files.values())) > 1:
            name = first.parent.name or first.stem
    return [
        score_submission(files[s], dataset=dataset, version=version, subject=s, name=name,
                         leaderboard=leaderboard, record=record, data_home=data_home, metrics=metrics)
        for s in subjects
    ]
