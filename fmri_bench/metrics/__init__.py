"""Stage 5, metrics: reconstructions and targets in, metric values out; nothing is written.

- :func:`evaluate` / :func:`evaluate_detailed`: every registered metric on two image sets.
- :data:`METRICS`: the registry (one small documented function per metric, in
  :mod:`fmri_bench.metrics.definitions`); plugins register through the
  ``fmri_bench.metrics`` entry-point group.
- :mod:`fmri_bench.metrics.references`: the chance and resolution reference reconstructions.
"""

from __future__ import annotations

from fmri_bench.metrics import definitions as _definitions  # noqa: F401  (registers the built-in metrics)
from fmri_bench.metrics.core import (
    METRICS,
    METRICS_VERSION,
    Metric,
    MetricInputs,
    MetricResult,
    MetricUnavailable,
    bootstrap_interval,
    ordered_names,
    two_way_identification,
)
from fmri_bench.metrics.evaluate import Evaluation, evaluate, evaluate_detailed

__all__ = [
    "METRICS",
    "METRICS_VERSION",
    "Evaluation",
    "Metric",
    "MetricInputs",
    "MetricResult",
    "MetricUnavailable",
    "bootstrap_interval",
    "evaluate",
    "evaluate_detailed",
    "ordered_names",
    "two_way_identification",
]
