"""Stage 5, metrics: reconstructions and targets in, metric values out; nothing is written.

- :func:`evaluate` / :func:`evaluate_detailed`: every metric of a scoring protocol on two
  image sets (``protocol="mindeye"`` by default; ``models=`` passes your own modules).
- :mod:`fmri_bench.metrics.protocols`: the protocols (``mindeye``, ``brain-diffuser``,
  ``kamitani``), each a named, versioned set of metric definitions.
- :data:`METRICS`: the default protocol's metrics; plugins register metrics through the
  ``fmri_bench.metrics`` entry-point group (columns of the default protocol) and
  protocols through ``fmri_bench.protocols``.
- :mod:`fmri_bench.metrics.definitions`: the formulas; :mod:`fmri_bench.metrics.resize`:
  the resizes, written out; :mod:`fmri_bench.metrics.references`: the reference rows.
"""

from __future__ import annotations

from fmri_bench.metrics.core import (
    BATCH_SIZE,
    METRICS_VERSION,
    FeatureSpec,
    Metric,
    MetricInputs,
    MetricResult,
    MetricUnavailable,
    bootstrap_interval,
    extract_features,
)
from fmri_bench.metrics.definitions import two_way_identification
from fmri_bench.metrics.evaluate import Evaluation, evaluate, evaluate_detailed
from fmri_bench.metrics.protocols import DEFAULT_PROTOCOL, PROTOCOLS, Protocol, get_protocol, protocol_names

METRICS = get_protocol(DEFAULT_PROTOCOL).metrics


def ordered_names(protocol: str | Protocol | None = None) -> list[str]:
    """Every metric key of ``protocol`` (default: ``mindeye``) in column order.

    Parameters
    ----------
    protocol : str or Protocol, optional

    Returns
    -------
    list of str
    """
    return get_protocol(protocol).names()


__all__ = [
    "BATCH_SIZE",
    "DEFAULT_PROTOCOL",
    "METRICS",
    "METRICS_VERSION",
    "PROTOCOLS",
    "Evaluation",
    "FeatureSpec",
    "Metric",
    "MetricInputs",
    "MetricResult",
    "MetricUnavailable",
    "Protocol",
    "bootstrap_interval",
    "evaluate",
    "evaluate_detailed",
    "extract_features",
    "get_protocol",
    "ordered_names",
    "protocol_names",
    "two_way_identification",
]
