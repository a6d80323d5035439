"""Evaluate reconstructions against targets: arrays in, metric values out (nlb_tools-style).

:func:`evaluate` never writes a file: recording rows and galleries is the leaderboard's job.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fmri_bench.errors import FmriBenchError
from fmri_bench.images import to_float_nchw
from fmri_bench.metrics.core import CUSTOM_MODEL, MetricInputs, MetricUnavailable, bootstrap_interval
from fmri_bench.metrics.protocols import DEFAULT_PROTOCOL, Protocol, get_protocol
from fmri_bench.submission import validate_array
from fmri_bench.threads import one_cpu_thread


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
        Deep metric key -> the weight file used (``filename sha256:...``), or a note that a
        caller's module was used.
    per_image : dict
        Metric key -> per-image scores.
    permanent : set
        Keys that are n/a for a reason nothing installed later can change.
    protocol, protocol_version : str, int
        The scoring protocol and its version.
    certified_weights : bool
        False when a metric used a caller's module (``models=``) instead of the certified
        weight file: such results are never recorded on a leaderboard.
    """

    metrics: dict[str, float | None] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    per_image: dict[str, np.ndarray] = field(default_factory=dict)
    permanent: set[str] = field(default_factory=set)
    protocol: str = DEFAULT_PROTOCOL
    protocol_version: int = 1
    certified_weights: bool = True


def _check_targets(targets: np.ndarray) -> np.ndarray:
    targets = np.asarray(targets)
    if targets.ndim != 4 or targets.shape[-1] != 3 or targets.shape[1] != targets.shape[2]:
        raise FmriBenchError(f"targets have shape {targets.shape}; expected (N, H, W, 3) square images")
    if targets.dtype != np.uint8 and targets.dtype.kind != "f":
        raise FmriBenchError(f"targets have dtype {targets.dtype}; expected uint8 or float in [0, 1]")
    return targets


def _run_one(metric: Any, inputs: MetricInputs, result: Evaluation) -> None:
    try:
        out = metric.compute(inputs)
        if not math.isfinite(out.value):
            raise MetricUnavailable(f"{metric.key} is undefined (NaN) for these images", permanent=True)
    except MetricUnavailable as exc:
        result.metrics[metric.key] = None
        result.unavailable[metric.key] = str(exc)
        if exc.permanent:
            result.permanent.add(metric.key)
        return
    result.metrics[metric.key] = float(out.value)
    if out.per_image is not None:
        result.per_image[metric.key] = np.asarray(out.per_image, dtype=np.float64)
        if metric.identification:
            result.intervals[metric.key] = bootstrap_interval(out.per_image)
    if metric.backbone is not None and metric.backbone in inputs.weights_used:
        result.weights[metric.key] = inputs.weights_used[metric.backbone]
        if inputs.weights_used[metric.backbone] == CUSTOM_MODEL:
            result.certified_weights = False


def evaluate_detailed(
    targets: np.ndarray,
    submission: np.ndarray,
    metrics: Sequence[str] | None = None,
    *,
    protocol: str | Protocol = DEFAULT_PROTOCOL,
    models: Mapping[str, Any] | None = None,
    feature_cache: MutableMapping[str, dict[str, np.ndarray]] | None = None,
) -> Evaluation:
    """Compute metrics with their reasons, intervals, timings and weight files.

    Parameters
    ----------
    targets, submission, metrics, protocol, models
        See :func:`evaluate`.
    feature_cache : mutable mapping, optional
        Where the certified network features of the *targets* are looked up and stored,
        keyed by the targets' content, the network's weight file and the preprocessing. The
        caller owns it (this function writes no file): the pipeline passes a folder-backed
        store, so that a fresh process does not run the networks on the same targets again.

    Returns
    -------
    Evaluation
    """
    proto = get_protocol(protocol)
    targets = _check_targets(targets)
    recons = validate_array(submission, len(targets))
    chosen = [proto.metric(name) for name in (list(metrics) if metrics is not None else proto.names())]
    from fmri_bench.weights import get_backbone

    for key in models or {}:
        get_backbone(key)  # an unknown backbone name: one line listing the known ones
    import torch  # noqa: F401  (imported before the timings, so no metric pays for it)

    inputs = MetricInputs(
        to_float_nchw(targets), to_float_nchw(recons), dict(models or {}), feature_cache=feature_cache
    )
    for metric in chosen:
        if metric.feature is not None:
            inputs.plan(metric.feature)
    result = Evaluation(protocol=proto.name, protocol_version=proto.version)
    with one_cpu_thread():  # the same bytes on any core count
        for metric in chosen:
            start = time.perf_counter()
            _run_one(metric, inputs, result)
            result.seconds[metric.key] = time.perf_counter() - start
    return result


def evaluate(
    targets: np.ndarray,
    submission: np.ndarray,
    metrics: Sequence[str] | None = None,
    *,
    protocol: str | Protocol = DEFAULT_PROTOCOL,
    models: Mapping[str, Any] | None = None,
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
        Metric keys of the protocol (default: all of them).
    protocol : str or Protocol
        The scoring protocol (``fmri-bench list protocols``): ``mindeye`` (default),
        ``brain-diffuser``, ``kamitani``.
    models : mapping, optional
        Backbone name (``fmri-bench weights list``: ``alexnet``, ``inception_v3``,
        ``efficientnet_b1``, ``clip_vit_l14``...) -> a torch module to use instead of the
        certified weight file, e.g. ``models={"alexnet": torchvision.models.alexnet()}``. It
        must have the backbone's architecture (the same feature-extraction node names; for
        CLIP an ``encode_image`` method) and is used as given (put it in eval mode). Results
        computed with it are marked (``Evaluation.certified_weights`` is False) and are never
        recorded on a leaderboard.

    Returns
    -------
    dict
        Metric key -> float, or None when the metric is unavailable here (its weights
        are absent); :func:`evaluate_detailed` also gives the reasons.
    """
    return evaluate_detailed(targets, submission, metrics, protocol=protocol, models=models).metrics
