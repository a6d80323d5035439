"""Paired comparison of two methods on the same test images, per metric.

For each metric with per-image scores, the per-image differences ``d_i = a_i - b_i`` are
tested with a paired permutation test: under the null hypothesis that both methods are
exchangeable on every image, the sign of each ``d_i`` is arbitrary, so the observed mean
difference is compared with the mean differences of random sign flips (two-sided,
``scipy.stats.permutation_test`` with ``permutation_type="samples"``; exact when 2**N is at
most :data:`N_RESAMPLES`). This is the test MOABB uses to compare pipelines over subjects
(``moabb.analysis.meta_analysis._pairedttest_exhaustive`` / ``_pairedttest_random``: sign
flips of paired differences, the sum as statistic), applied over test images. The p-values
of the metrics of one comparison are Holm-adjusted for the verdicts (several metrics are
tested at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 9999
SEED = 0
ALPHA = 0.05


@dataclass(frozen=True)
class MetricComparison:
    """The paired comparison of one metric.

    Attributes
    ----------
    key : str
        Metric key.
    n : int
        Images compared (pairs where both scores are defined).
    mean_a, mean_b, mean_diff : float
        Means over those images, and of ``a - b``.
    p_value : float
        Two-sided permutation p-value of the mean difference.
    p_holm : float
        Holm-adjusted over the metrics of the comparison.
    verdict : str
        One line, e.g. ``A is better (+0.034, p_holm = 0.0003)``.
    """

    key: str
    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    p_value: float
    p_holm: float
    verdict: str


def paired_permutation_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired (sign-flip) permutation p-value of ``mean(a - b)``.

    Parameters
    ----------
    a, b : ndarray, shape (N,)
        Paired scores.

    Returns
    -------
    float
        1.0 when every difference is 0.
    """
    from scipy.stats import permutation_test

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not np.any(d):
        return 1.0
    result = permutation_test(
        (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=N_RESAMPLES,
        alternative="two-sided",
        rng=np.random.default_rng(SEED),
    )
    return float(min(1.0, result.pvalue))


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (``statsmodels`` ``multipletests(method="holm")``).

    Parameters
    ----------
    p_values : list of float

    Returns
    -------
    list of float
    """
    if not p_values:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(p) for p in multipletests(p_values, method="holm")[1]]


def compare_per_image(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], higher_is_better: Mapping[str, bool]
) -> tuple[list[MetricComparison], dict[str, str]]:
    """Compare two methods' per-image scores, metric by metric.

    Parameters
    ----------
    a, b : mapping
        Metric key -> per-image scores (same images, same order); NaN or None where undefined.
    higher_is_better : mapping
        Metric key -> direction (decides which method a difference favours), in column order:
        the metrics are compared in this order, then any other key of ``a``.

    Returns
    -------
    comparisons : list of MetricComparison
        For the metrics both have.
    skipped : dict
        Metric key -> why it was not compared.
    """
    rows, skipped = [], {}
    for key in list(higher_is_better) + [k for k in a if k not in higher_is_better]:
        if key not in a and key not in b:
            skipped[key] = "no per-image scores (not a mean over test images, or n/a for both)"
            continue
        if key not in a or key not in b:
            skipped[key] = "per-image scores for only one of the two"
            continue
        x = np.array([np.nan if v is None else v for v in a[key]], dtype=np.float64)
        y = np.array([np.nan if v is None else v for v in b[key]], dtype=np.float64)
        if len(x) != len(y):
            skipped[key] = f"{len(x)} and {len(y)} images: not the same test set"
            continue
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 2:
            skipped[key] = "fewer than 2 images with both scores defined"
            continue
        rows.append((key, x[ok], y[ok], paired_permutation_p(x[ok], y[ok])))
    adjusted = holm([p for *_, p in rows])
    out = []
    for (key, x, y, p), p_adj in zip(rows, adjusted):
        diff = float(np.mean(x - y))
        if p_adj >= ALPHA or diff == 0:
            verdict = f"no significant difference (p_holm = {p_adj:.3g})"
        else:
            better = "A" if (diff > 0) == bool(higher_is_better.get(key, True)) else "B"
            verdict = f"{better} is better ({diff:+.4g}, p_holm = {p_adj:.3g})"
        out.append(MetricComparison(key, int(len(x)), float(x.mean()), float(y.mean()), diff, p, p_adj, verdict))
    return out, skipped
