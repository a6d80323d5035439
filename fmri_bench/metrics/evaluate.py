"""Evaluate reconstructions against targets: arrays in, metric values out (nlb_tools-style).

:func:`evaluate` never writes a file: recording rows and galleries is the leaderboard's job.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fmri_bench.errors import FmriBenchError
from fmri_bench.images import to_float_nchw
from fmri_bench.metrics.core import METRICS, MetricInputs, MetricUnavailable, bootstrap_interval, ordered_names
from fmri_bench.submission import validate_array


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
    permanent : set
        Keys that are n/a for a reason nothing installed later can change.
    """

    metrics: dict[str, float | None] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    per_image: dict[str, np.ndarray] = field(default_factory=dict)
    permanent: set[str] = field(default_factory=set)


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

    Parameters
    ----------
    targets, submission, metrics
        See :func:`evaluate`.

    Returns
    -------
    Evaluation
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
            if exc.permanent:
                result.permanent.add(metric.key)
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
