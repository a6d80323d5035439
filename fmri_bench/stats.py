"""Small statistics every stage shares: row-wise Pearson correlation, and reliability (NCSNR, split-half identification).

One implementation: the metrics, the simulator's calibration and prepare's reliability
figures all correlate through these functions.
"""

from __future__ import annotations

import numpy as np


def standardize_rows(x: np.ndarray) -> np.ndarray:
    """Centre each row of ``x`` (flattened) and scale it to unit norm (a constant row becomes 0).

    Row by row into one float64 output: a 425 px RGB image is 4 MB in float64, so each
    row's passes stay in the cache; measured 3x faster than whole-array numpy expressions
    on 50 such images (and half the peak memory).

    Parameters
    ----------
    x : ndarray, shape (N, ...)
        Rows to standardize; trailing axes are flattened.

    Returns
    -------
    ndarray, float64, shape (N, D)
    """
    x = np.asarray(x).reshape(len(x), -1)
    out = np.empty(x.shape, dtype=np.float64)
    for i, row in enumerate(x):
        centred = out[i]
        centred[...] = row
        centred -= centred.mean()
        norm = np.sqrt(np.dot(centred, centred))
        if norm > 0:
            centred /= norm
        else:
            centred[...] = 0.0
    return out


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between row i of ``a`` and row i of ``b`` (0 where a row is constant).

    Row by row in float64 (see :func:`standardize_rows` for why). A row counts as constant
    when its spread is within rounding of its input dtype (rms deviation at most 8 eps times
    its largest magnitude): torch's single-thread bilinear resize of a constant image varies
    by one float32 ulp, and the correlation of that rounding with a target is not a score.

    Parameters
    ----------
    a, b : ndarray, shape (N, ...)
        Paired rows; trailing axes are flattened.

    Returns
    -------
    ndarray, float64, shape (N,)
    """
    a = np.asarray(a).reshape(len(a), -1)
    b = np.asarray(b).reshape(len(b), -1)
    eps_a, eps_b = (8 * np.finfo(np.result_type(m.dtype, np.float32)).eps for m in (a, b))
    r = np.zeros(len(a))
    for i in range(len(a)):
        x = a[i].astype(np.float64)
        y = b[i].astype(np.float64)
        tol = eps_a * np.abs(x).max(initial=0.0), eps_b * np.abs(y).max(initial=0.0)
        x -= x.mean()
        y -= y.mean()
        sxx, syy = np.dot(x, x), np.dot(y, y)
        if sxx > len(x) * tol[0] ** 2 and syy > len(y) * tol[1] ** 2 and sxx * syy > 0:
            r[i] = np.dot(x, y) / np.sqrt(sxx * syy)
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


def _repetitions(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The labels shown at least twice, and the rows of each (in row order)."""
    labels = np.asarray(labels)
    unique, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(order, np.cumsum(counts)[:-1])
    keep = counts >= 2
    return unique[keep], [g for g, k in zip(groups, keep) if k]


def split_half_identification(samples: np.ndarray, labels: np.ndarray) -> float | None:
    """Pairwise identification of each image's pattern across two halves of its repetitions.

    For every image shown at least twice, its repetitions (in row order) are split into
    alternate halves (1st, 3rd, ... and 2nd, 4th, ...) and each half is averaged. Each
    image's first-half pattern is then compared with every other image's second-half
    pattern: a pair is identified when the Pearson r with its own second half is higher
    than with the other image's (ties count one half). The score is the fraction of pairs
    identified, over both directions; chance is 0.5 (the two-way identification of Kamitani
    lab papers, e.g. Horikawa & Kamitani 2017, applied to measured patterns).

    Parameters
    ----------
    samples : ndarray, shape (n_samples, n_voxels)
        One row per presentation.
    labels : ndarray, shape (n_samples,)
        The image each row shows.

    Returns
    -------
    float or None
        None when fewer than two images have two repetitions.
    """
    _, groups = _repetitions(labels)
    if len(groups) < 2:
        return None
    x = np.asarray(samples, dtype=np.float64)
    first = np.stack([x[g[0::2]].mean(axis=0) for g in groups])
    second = np.stack([x[g[1::2]].mean(axis=0) for g in groups])
    r = correlation_matrix(first, second)
    own = np.diag(r)
    n = len(groups)
    beats = (own[:, None] > r).sum(axis=1) + (own[None, :] > r).sum(axis=0)  # rows: A->B, columns: B->A
    ties = (own[:, None] == r).sum(axis=1) + (own[None, :] == r).sum(axis=0) - 2  # the diagonal is no pair
    return float((beats.sum() + 0.5 * ties.sum()) / (2 * n * (n - 1)))


def ncsnr(samples: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """Noise-ceiling signal-to-noise ratio per voxel (Allen et al. 2022, the Natural Scenes Dataset).

    Each voxel's responses are z-scored over all rows; the noise variance is the variance
    across an image's repetitions (ddof 1), averaged over the images shown at least twice;
    ``ncsnr = sqrt(max(0, 1 - noise_var)) / sqrt(noise_var)`` (the NSD paper's Methods,
    "Noise ceiling"; the same steps as its public ``calculate_ncsnr``).

    Parameters
    ----------
    samples : ndarray, shape (n_samples, n_voxels)
        Single-trial responses.
    labels : ndarray, shape (n_samples,)
        The image each row shows.

    Returns
    -------
    ndarray, float64, shape (n_voxels,) or None
        None when no image is shown twice. A constant voxel gets 0.
    """
    _, groups = _repetitions(labels)
    if not groups:
        return None
    x = np.asarray(samples, dtype=np.float64)
    sd = x.std(axis=0)
    z = np.divide(x - x.mean(axis=0), sd, out=np.zeros_like(x), where=sd > 0)
    noise_var = np.mean([z[g].var(axis=0, ddof=1) for g in groups], axis=0)
    noise_sd = np.sqrt(noise_var)
    signal_sd = np.sqrt(np.clip(1.0 - noise_var, 0.0, None))
    return np.divide(signal_sd, noise_sd, out=np.zeros_like(noise_sd), where=noise_sd > 0)


def noise_ceiling(snr: np.ndarray, n_averaged: float) -> np.ndarray:
    """The noise ceiling (% of variance explainable) for responses averaged over ``n_averaged`` trials.

    ``100 * ncsnr**2 / (ncsnr**2 + 1 / n)`` (Allen et al. 2022).

    Parameters
    ----------
    snr : ndarray
        NCSNR values (see :func:`ncsnr`).
    n_averaged : float
        Trials averaged per image.

    Returns
    -------
    ndarray
    """
    snr2 = np.asarray(snr, dtype=np.float64) ** 2
    return 100.0 * snr2 / (snr2 + 1.0 / n_averaged)
