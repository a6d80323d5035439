"""Small statistics every stage shares: row-wise Pearson correlation.

One implementation: the metrics, the simulator's calibration and prepare's reliability
figures all correlate through these functions.
"""

from __future__ import annotations

import numpy as np


def standardize_rows(x: np.ndarray) -> np.ndarray:
    """Centre each row of ``x`` (flattened) and scale it to unit norm (a constant row becomes 0).

    Parameters
    ----------
    x : ndarray, shape (N, ...)
        Rows to standardize; trailing axes are flattened.

    Returns
    -------
    ndarray, float64, shape (N, D)
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between row i of ``a`` and row i of ``b`` (0 where a row is constant).

    Parameters
    ----------
    a, b : ndarray, shape (N, ...)
        Paired rows; trailing axes are flattened.

    Returns
    -------
    ndarray, float64, shape (N,)
    """
    r = (standardize_rows(a) * standardize_rows(b)).sum(axis=1)
    return np.clip(r, -1.0, 1.0)


def correlation_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``r[i, j]``: Pearson r between row i of ``a`` and row j of ``b`` (rows flattened).

    Parameters
    ----------
    a : ndarray, shape (N, ...)
    b : ndarray, shape (M, ...)

    Returns
    -------
    ndarray, float64, shape (N, M)
    """
    return standardize_rows(a) @ standardize_rows(b).T


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between column j of ``a`` and column j of ``b`` (0 where a column is constant).

    Parameters
    ----------
    a, b : ndarray, shape (N, D)

    Returns
    -------
    ndarray, float64, shape (D,)
    """
    return pearson_rows(np.asarray(a).T, np.asarray(b).T)


def mean_over_subjects(values: list[float | None]) -> tuple[float | None, float | None]:
    """The mean and sample SD of one number over subjects: the one definition every output uses.

    Defined only when every subject has the number: a subject without it (n/a) makes the
    mean n/a too, rather than a mean over a different set of subjects.

    Parameters
    ----------
    values : list of float or None
        One value per subject (None: n/a for that subject).

    Returns
    -------
    (mean, sd) : tuple of float or None
        ``(None, None)`` when a value is missing or the list is empty; sd is 0 for one subject.
    """
    if not values or any(v is None for v in values):
        return None, None
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0
