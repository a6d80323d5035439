"""The formulas the protocols' metrics are built from: one small function each, with its source.

Every function works on arrays that the protocol has already resized and converted (see
:mod:`fmri_bench.metrics.protocols`) and returns one score per test image, or one number
where the published definition is not a mean over images (profile correlation).

NaN conventions differ between the reference codes and are reproduced where they change a
score: MindEye's and Brain-Diffuser's identification compare ``np.corrcoef`` values with
``<``, so a constant feature row (NaN correlation) never wins a comparison;
bdpy drops NaN candidates and shrinks the denominator. Where a published code would return
NaN for a per-image correlation (a constant image), fmri-bench's per-image Pearson r is 0 so
that a constant reconstruction reads as uninformative instead of making the mean NaN.
"""

from __future__ import annotations

import numpy as np

from fmri_bench.stats import correlation_matrix, pearson_rows, standardize_rows

#: ``skimage.color.rgb2gray`` weights (ITU-R BT.709 luma), as in scikit-image 0.17-0.26.
GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def rgb2gray(images_nhwc: np.ndarray) -> np.ndarray:
    """``skimage.color.rgb2gray``: ``rgb @ [0.2125, 0.7154, 0.0721]`` in the input's float dtype.

    Parameters
    ----------
    images_nhwc : ndarray, float, shape (N, H, W, 3)

    Returns
    -------
    ndarray, shape (N, H, W), same float dtype
    """
    return images_nhwc @ np.array(GRAY_WEIGHTS, dtype=images_nhwc.dtype)


def ssim_gaussian_2d(recons: np.ndarray, targets: np.ndarray, *, data_range: float = 1.0) -> np.ndarray:
    """2-D SSIM of grey images as ``skimage.metrics.structural_similarity(recon, target,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)`` computes it
    (scikit-image 0.20-0.26, which MindEye and MindEye2 pinned; the ``multichannel=True`` they
    pass is ignored there).

    Gaussian window sigma 1.5 truncated at 3.5 sigma (11 taps, ``scipy.ndimage`` ``mode='reflect'``),
    population covariance, C1 = (0.01 R)^2, C2 = (0.03 R)^2, mean of the SSIM map with a 5 px
    border cropped (accumulated in float64), computed in the input's float dtype, one image
    at a time (a batched version was 2.4x slower at 425 px: its arrays leave the cache).

    Parameters
    ----------
    recons, targets : ndarray, float, shape (N, H, W)
        Grey images (H, W >= 11).
    data_range : float
        R.

    Returns
    -------
    ndarray, float64, shape (N,)
    """
    from scipy.ndimage import gaussian_filter

    def g(a: np.ndarray) -> np.ndarray:
        return gaussian_filter(a, sigma=SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    pad = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    out = np.empty(len(recons), dtype=np.float64)
    for i, (x, y) in enumerate(zip(recons, targets)):
        ux, uy = g(x), g(y)
        vx = g(x * x) - ux * ux
        vy = g(y * y) - uy * uy
        vxy = g(x * y) - ux * uy
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        out[i] = s[pad:-pad, pad:-pad].mean(dtype=np.float64)
    return out


def ssim_columns_1d(recons: np.ndarray, targets: np.ndarray, *, data_range: float = 1.0) -> np.ndarray:
    """What scikit-image 0.17-0.19 returned for ``structural_similarity(recon, target,
    multichannel=True, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1.0)`` on 2-D grey images (Brain-Diffuser's pin, 0.17.2).

    ``multichannel=True`` makes the last axis the channels, so each of the W **columns** is a
    1-D signal: its SSIM uses a 1-D gaussian (sigma 1.5, truncate 3.5, 11 taps, ``mode='reflect'``)
    down the column, population covariance, 5 samples cropped at each end; the score is the
    mean over the W columns. Source: scikit-image v0.17.2 ``skimage/metrics/_structural_similarity.py``
    lines 91-125 (channel loop) and 138-214; v0.19.3 lines 104-141. float64.

    Parameters
    ----------
    recons, targets : ndarray, float, shape (N, H, W)
        Grey images (H >= 11).
    data_range : float
        R.

    Returns
    -------
    ndarray, float64, shape (N,)
    """
    from scipy.ndimage import gaussian_filter1d

    def g(a: np.ndarray) -> np.ndarray:
        return gaussian_filter1d(a, SSIM_SIGMA, axis=1, mode="reflect", truncate=SSIM_TRUNCATE)

    x, y = recons.astype(np.float64), targets.astype(np.float64)
    ux, uy = g(x), g(y)
    vx = g(x * x) - ux * ux
    vy = g(y * y) - uy * uy
    vxy = g(x * y) - ux * uy
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    per_column = s[:, pad : s.shape[1] - pad, :].mean(axis=1)
    return per_column.mean(axis=1)


def ssim_color_torchmetrics(recons: np.ndarray, targets: np.ndarray, *, crop_border: bool = True) -> np.ndarray:
    """Colour SSIM as ``torchmetrics.StructuralSimilarityIndexMeasure(data_range=1.0,
    reduction="none")`` computes it (the Kamitani lab's ``recon_eval_image.py`` ``get_ssim``).

    11 x 11 gaussian (sigma 1.5), images padded by 5 with ``F.pad(mode="reflect")`` (mirror
    without repeating the edge), depthwise convolution per channel, variances clamped at 0,
    C1 = 0.01^2, C2 = 0.03^2; per image the mean over channels and pixels of the SSIM map,
    with a 5 px border cropped first (torchmetrics up to 1.4; 1.5+ average the whole map; the
    cookbook does not pin torchmetrics, and its script dates from the 1.2/1.3 era). float32.

    Parameters
    ----------
    recons, targets : ndarray, float32, shape (N, 3, H, W)
        Images in [0, 1].
    crop_border : bool
        Crop the 5 px border of the map before the mean (torchmetrics <= 1.4).

    Returns
    -------
    ndarray, float64, shape (N,)
    """
    import torch
    import torch.nn.functional as F

    preds = torch.from_numpy(np.ascontiguousarray(recons, dtype=np.float32))
    target = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
    k = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5) * 2 + 1
    dist = torch.arange(start=(1 - k) / 2, end=(1 + k) / 2, step=1, dtype=torch.float32)
    g = torch.exp(-torch.pow(dist / SSIM_SIGMA, 2) / 2)
    g = (g / g.sum()).unsqueeze(0)
    kernel = torch.matmul(g.t(), g).expand(preds.size(1), 1, k, k)
    pad = (k - 1) // 2
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    p = F.pad(preds, (pad, pad, pad, pad), mode="reflect")
    t = F.pad(target, (pad, pad, pad, pad), mode="reflect")
    out = F.conv2d(torch.cat((p, t, p * p, t * t, p * t)), kernel, groups=preds.size(1)).split(preds.shape[0])
    mu_p_sq, mu_t_sq, mu_pt = out[0].pow(2), out[1].pow(2), out[0] * out[1]
    s_p = torch.clamp(out[2] - mu_p_sq, min=0.0)
    s_t = torch.clamp(out[3] - mu_t_sq, min=0.0)
    s_pt = out[4] - mu_pt
    full = ((2 * mu_pt + c1) * (2 * s_pt + c2)) / ((mu_p_sq + mu_t_sq + c1) * (s_p + s_t + c2))
    if crop_border:
        full = full[..., pad:-pad, pad:-pad]
    return full.reshape(full.shape[0], -1).mean(-1).double().numpy()


def two_way_identification(target_feats: np.ndarray, recon_feats: np.ndarray) -> np.ndarray:
    """Exhaustive two-way identification, vectorized; one score per reconstruction.

    For reconstruction j, the fraction of the N-1 other targets i whose correlation with it
    is strictly lower than that of its own target: ``mean_{i != j} [ r(target_i, recon_j) <
    r(target_j, recon_j) ]`` (chance 0.5; ties fail). A constant feature row has r = 0 here
    (fmri-bench's convention; see :func:`two_way_identification_mindeye` for the published one).

    Parameters
    ----------
    target_feats, recon_feats : ndarray, shape (N, ...)
        Features (or pixels) of the targets and of the reconstructions, in the same order.

    Returns
    -------
    ndarray, shape (N,)
        Per-reconstruction identification accuracy in [0, 1].
    """
    n = len(target_feats)
    if n < 2 or len(recon_feats) != n:
        raise ValueError("two-way identification needs two equally long sets of at least 2 items")
    r = correlation_matrix(target_feats, recon_feats)
    success = r < np.diag(r)[None, :]  # the diagonal is never < itself
    return success.sum(axis=0) / (n - 1)


def two_way_identification_mindeye(target_feats: np.ndarray, recon_feats: np.ndarray) -> np.ndarray:
    """MindEye's ``two_way_identification`` scoring (``Reconstruction_Metrics.py`` lines 151-162;
    Brain-Diffuser's ``pairwise_corr_all`` is the same formula), one score per reconstruction.

    ``r = np.corrcoef(reals, preds)[:N, N:]``; ``success = r < np.diag(r)`` (broadcast over the
    last axis: ``r[i, j] < r[j, j]``), summed over targets i and divided by N - 1. Ties fail; a
    constant row's correlation is NaN and NaN never compares true, so a constant reconstruction
    scores 0 and a constant target is never beaten but stays in the N - 1 denominator.

    Parameters
    ----------
    target_feats, recon_feats : ndarray, shape (N, ...)
        Features of the targets and of the reconstructions, in the same order.

    Returns
    -------
    ndarray, float64, shape (N,)
    """
    n = len(target_feats)
    if n < 2 or len(recon_feats) != n:
        raise ValueError("two-way identification needs two equally long sets of at least 2 items")
    reals = np.asarray(target_feats).reshape(n, -1)
    preds = np.asarray(recon_feats).reshape(n, -1)
    r = correlation_matrix(reals, preds)
    gaps = np.abs(r - np.diag(r)[None, :])
    np.fill_diagonal(gaps, np.inf)
    constant = ~standardize_rows(reals).any(axis=1) | ~standardize_rows(preds).any(axis=1)
    if gaps.min() < 1e-9 or constant.any():
        # A tie (or a constant row): decide it with np.corrcoef on the stacked features, as
        # the original does, so that it rounds the same way and a constant row gives NaN.
        # Otherwise the fast product decides the same (both are exact to about 1e-15);
        # np.corrcoef costs 6x more (1.8 s vs 0.3 s for 50 images of SqueezeNet features).
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.corrcoef(reals, preds)[:n, n:]
    with np.errstate(invalid="ignore"):
        success = r < np.diag(r)[None, :]
    return success.sum(axis=0) / (n - 1)


def pairwise_identification_bdpy(pred: np.ndarray, true: np.ndarray, metric: str = "correlation") -> np.ndarray:
    """bdpy ``pairwise_identification(pred, true, metric, remove_nan=True, remove_nan_dist=True)``
    (``bdpy/evals/metrics.py`` lines 115-159, bdpy 0.25), vectorized; one score per prediction.

    ``d = 1 - scipy.spatial.distance.cdist(p, t, metric)`` (Pearson r for ``"correlation"``,
    ``1 - distance`` for ``"euclidean"``); for prediction i, ``pef = d[i, :] - d[i, i]`` with
    NaN entries dropped (candidate and denominator), score ``sum(pef < 0) / (len(pef) - 1)``.
    Ties fail. Without NaN this equals MindEye's per-reconstruction count.

    Parameters
    ----------
    pred, true : ndarray, shape (N, ...)
        Predictions (reconstructions) and true images, flattened per sample.
    metric : {"correlation", "euclidean"}
        The ``cdist`` metric.

    Returns
    -------
    ndarray, float64, shape (N,)
    """
    from scipy.spatial.distance import cdist

    p = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    t = np.asarray(true, dtype=np.float64).reshape(len(true), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = 1 - cdist(p, t, metric=metric)
        pef = d - np.diag(d)[:, None]
        valid = ~np.isnan(pef)
        return np.sum((pef < 0) & valid, axis=1) / (valid.sum(axis=1) - 1)


def pattern_correlation_bdpy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """bdpy ``pattern_correlation`` (``bdpy/evals/metrics.py`` lines 37-73): per sample, Pearson r
    of the flattened ``x[i]`` and ``y[i]`` (``np.corrcoef``); NaN for a constant sample.

    Parameters
    ----------
    x, y : ndarray, shape (N, ...)

    Returns
    -------
    ndarray, float64, shape (N,)
    """
    r = pearson_rows(x, y)
    constant = ~standardize_rows(x).any(axis=1) | ~standardize_rows(y).any(axis=1)
    r[constant] = np.nan
    return r


def profile_correlation_bdpy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """bdpy ``profile_correlation`` (``bdpy/evals/metrics.py`` lines 9-34): for every position j
    (pixel x channel), Pearson r across the N samples of ``x[:, j]`` and ``y[:, j]``; NaN where a
    position is constant across samples.

    Parameters
    ----------
    x, y : ndarray, shape (N, ...)

    Returns
    -------
    ndarray, float64, shape (D,)
    """
    xt = np.asarray(x, dtype=np.float64).reshape(len(x), -1).T
    yt = np.asarray(y, dtype=np.float64).reshape(len(y), -1).T
    r = pearson_rows(xt, yt)
    constant = ~standardize_rows(xt).any(axis=1) | ~standardize_rows(yt).any(axis=1)
    r[constant] = np.nan
    return r


def correlation_distance(target_feats: np.ndarray, recon_feats: np.ndarray) -> np.ndarray:
    """Per image ``scipy.spatial.distance.correlation(target_i, recon_i)`` = 1 - Pearson r
    (MindEye ``Reconstruction_Metrics.py`` lines 299-343, Brain-Diffuser
    ``evaluate_reconstruction.py`` lines 53, 66-67). Computed in float64 (the papers' scipy
    accumulated float32 vectors: differences of about 1e-7). A constant row counts as r = 0.

    Parameters
    ----------
    target_feats, recon_feats : ndarray, shape (N, D)

    Returns
    -------
    ndarray, float64, shape (N,), in [0, 2]
    """
    return 1.0 - pearson_rows(target_feats, recon_feats)


def rmse_per_image(recons: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per image root mean squared error over pixels and channels, in float64.

    Parameters
    ----------
    recons, targets : ndarray, shape (N, ...)

    Returns
    -------
    ndarray, float64, shape (N,)
    """
    diff = np.asarray(recons, dtype=np.float64) - np.asarray(targets, dtype=np.float64)
    return np.sqrt((diff.reshape(len(diff), -1) ** 2).mean(axis=1))
