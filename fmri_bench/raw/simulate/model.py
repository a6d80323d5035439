"""The encoding model: pRF pooling of the feature maps into noise-free block heights, and the HRFs.

Section 3 and 4 of the :mod:`fmri_bench.raw.simulate` docstring give the equations.
"""

from __future__ import annotations

import math

import numpy as np

from fmri_bench.raw.simulate.anatomy import Subject
from fmri_bench.raw.simulate.config import AREAS, EARLY_AREAS, OVERSAMPLING, ModelParams

#: The raw model components, in the order of ``components_test.npy``.
COMPONENTS = ("energy", "first", "specific")


def prf_weights(x: np.ndarray, y: np.ndarray, sigma: np.ndarray, grid: int) -> np.ndarray:
    """Gaussian pRFs integrated over each cell of the pooling grid, (G*G, V) float32.

    ``w[p, v]`` is the exact mass of the isotropic Gaussian in cell p (differences of the
    normal CDF, separable), so a pRF lying partly outside the image loses that part: the
    grey screen around the image drives nothing.

    Parameters
    ----------
    x, y, sigma : ndarray, shape (V,)
        pRF centres and sizes in image units (x to the right, y downwards).
    grid : int
        Cells per side.

    Returns
    -------
    ndarray, float32, shape (grid * grid, V)
    """
    from scipy.special import ndtr

    edges = np.arange(grid + 1) / grid
    wx = np.diff(ndtr((edges[None, :] - x[:, None]) / sigma[:, None]), axis=1)
    wy = np.diff(ndtr((edges[None, :] - y[:, None]) / sigma[:, None]), axis=1)
    w = (wy[:, :, None] * wx[:, None, :]).reshape(len(x), -1)
    w[w < 1e-7] = 0.0  # no float32 denormals from the tails beyond ~5 sd
    return np.ascontiguousarray(w.T, dtype=np.float32)


def _pooled(maps: np.ndarray, weights: np.ndarray, lp: float | None = None) -> np.ndarray:
    """(n, C, G, G) maps pooled by pRF weights (G*G, V) -> (n, C, V); L_p pooling with ``lp``."""
    n, c = maps.shape[:2]
    flat = maps.reshape(n * c, -1)
    if lp is None:
        return (flat @ weights).reshape(n, c, -1)
    return np.power(np.maximum(np.power(flat, lp) @ weights, 0), 1.0 / lp).reshape(n, c, -1)


def _standardized_channels(subj: Subject, key: str, ch: np.ndarray, n_fit: int) -> np.ndarray:
    """The voxel's pooled channels standardized with area-level constants fitted on the training images."""
    if f"ch_mean_{key}" not in subj.norm:
        fit = ch[:n_fit]
        mean = fit.mean(axis=(0, 2), dtype=np.float64)
        var = np.square(fit - mean.astype(np.float32)[None, :, None]).mean(axis=(0, 2), dtype=np.float64)
        subj.norm[f"ch_mean_{key}"] = mean
        subj.norm[f"ch_sd_{key}"] = np.sqrt(var) + 1e-9
    mean = subj.norm[f"ch_mean_{key}"].astype(np.float32)[None, :, None]
    return (ch - mean) * (1 / subj.norm[f"ch_sd_{key}"]).astype(np.float32)[None, :, None]  # float32: 4x faster


def raw_components(subj: Subject, maps: dict, params: ModelParams, n_fit: int) -> dict[str, np.ndarray]:
    """The unnormalized model components per image and voxel, each (n, V) float64.

    With ``W_v`` the voxel's pRF weights (:func:`prf_weights`):

    - ``energy``: early areas ``(sum_c t_vc <W_v, early_c>)^{n_v}``: pRF-pooled, SF- and
      orientation-tuned normalized Gabor energy under a compressive exponent (CSS); higher
      areas ``(sum_c t_vc Q_vc / (eps + mean_c Q_vc))^{n_v}`` with ``Q_vc = <W_v,
      higher_c^2>^{1/2}`` (L2 pooling: position tolerance; normalization across the pool);
    - ``first``: ``sum_c w_vc <W_v, first_c>``: signed, linear in centre-surround luminance and colour;
    - ``specific``: ``sum_k (a_vk . zeta_v)(b_vk . zeta_v) / d``, ``zeta_v`` the voxel's d
      pooled channels standardized with area-level constants fitted on the first ``n_fit``
      (training) images: an idiosyncratic, nonlinear tuning no other subject spans linearly.

    Parameters
    ----------
    subj : Subject
        The subject (its ``norm`` receives the channel constants on first use).
    maps : dict
        :func:`fmri_bench.raw.simulate.features.model_maps` of the images.
    params : ModelParams
        The model parameters.
    n_fit : int
        The first ``n_fit`` images are the training images.

    Returns
    -------
    dict
        ``energy``, ``first``, ``specific``.
    """
    n = maps["early"].shape[0]
    weights = prf_weights(subj.prf_x, subj.prf_y, subj.prf_sigma, params.pool_grid)
    first = _pooled(maps["first"], weights)  # (n, 3, V)
    out = {
        "energy": np.zeros((n, subj.n_voxels)),
        "first": np.einsum("ncv,vc->nv", first, subj.tuning["first"]),
        "specific": np.zeros((n, subj.n_voxels)),
    }
    early = np.isin(subj.area, EARLY_AREAS)
    for key, idx in (("early", np.flatnonzero(early)), ("higher", np.flatnonzero(~early))):
        if not len(idx):
            continue
        if key == "early":
            pooled = _pooled(maps["early"], weights[:, idx])
        else:
            pooled = _pooled(maps["higher"], weights[:, idx], params.higher_lp)
            pooled = pooled / (pooled.mean(axis=1, keepdims=True) + np.float32(params.higher_norm_eps))
        drive = np.einsum("ncv,vc->nv", pooled, subj.tuning[key][idx])
        out["energy"][:, idx] = np.power(np.maximum(drive, 1e-12), subj.tuning["exponent"][idx])
        zeta = _standardized_channels(subj, key, np.concatenate([pooled, first[:, :, idx]], axis=1), n_fit)
        q = subj.tuning[f"q_{key}"][idx].astype(np.float32)  # (v, K, 2, C)
        for k in range(q.shape[1]):
            a = np.einsum("ncv,vc->nv", zeta, q[:, k, 0])
            b = np.einsum("ncv,vc->nv", zeta, q[:, k, 1])
            out["specific"][:, idx] += a * b / q.shape[-1]
    return out


def fit_normalization(subj: Subject, comps_train: dict[str, np.ndarray]) -> None:
    """Store each component's per-voxel mean and per-area scale, from the training images.

    The scale of a component in an area is the median, over the area's voxels whose pRF
    centre is in the image, of the sd over training images: a voxel that sees little of
    the image keeps little signal (it is not blown up by a per-voxel z-score).

    Parameters
    ----------
    subj : Subject
        The subject (``norm`` receives ``<name>_mean`` and ``<name>_scale``).
    comps_train : dict
        :func:`raw_components` of the training images.
    """
    inside = (subj.prf_x > 0) & (subj.prf_x < 1) & (subj.prf_y > 0) & (subj.prf_y < 1)
    for name, values in comps_train.items():
        sd = values.std(axis=0)
        scale = np.ones(subj.n_voxels)
        for a in AREAS:
            m = subj.area == a
            if m.any():
                ref = sd[m & inside] if (m & inside).any() else sd[m]
                scale[m] = max(float(np.median(ref)), 1e-12)
        subj.norm[f"{name}_mean"] = values.mean(axis=0)
        subj.norm[f"{name}_scale"] = scale


def combine(subj: Subject, comps: dict[str, np.ndarray], params: ModelParams, n_train: int) -> np.ndarray:
    """Noise-free block heights (percent signal change) from the raw components.

    ``a_v = sqrt(1 - s) [sqrt(1 - beta_v) e_v + sqrt(beta_v) f_v] + sqrt(s) q_v`` of the
    normalized components (``x_v = (X_v - mean_v) / scale_area``; ``s = subject_share``,
    ``beta_v`` the area's first-order share), then ``h_v = amp_v (mean_response + a_v)``. The
    means and scales are fitted on the first ``n_train`` images (the training images) once.

    Parameters
    ----------
    subj : Subject
        The subject (``norm`` receives the constants on first use).
    comps : dict
        :func:`raw_components`.
    params : ModelParams
        The model parameters.
    n_train : int
        Training images.

    Returns
    -------
    ndarray, float64, shape (n_images, V)
    """
    if "energy_mean" not in subj.norm:
        fit_normalization(subj, {k: v[:n_train] for k, v in comps.items()})
    z = {k: (comps[k] - subj.norm[f"{k}_mean"]) / subj.norm[f"{k}_scale"] for k in comps}
    beta, s = subj.tuning["first_share"], params.subject_share
    shared = np.sqrt(1 - beta) * z["energy"] + np.sqrt(beta) * z["first"]
    activation = np.sqrt(1 - s) * shared + np.sqrt(s) * z["specific"]
    return subj.amp[None, :] * (params.mean_response + activation)


def subject_responses(subj: Subject, maps: dict, params: ModelParams, n_train: int) -> np.ndarray:
    """Noise-free block heights of every image for every ROI voxel: :func:`combine` of :func:`raw_components`.

    Parameters
    ----------
    subj : Subject
        The subject.
    maps : dict
        :func:`fmri_bench.raw.simulate.features.model_maps` of the images, training images first.
    params : ModelParams
        The model parameters.
    n_train : int
        Training images (every constant is fitted on them, so later images never change the model).

    Returns
    -------
    ndarray, float64, shape (n_images, V)
    """
    return combine(subj, raw_components(subj, maps, params, n_fit=n_train), params, n_train)


# ------------------------------------------------------------------------ haemodynamics


def hrf(peak_s: float, dt: float, length_s: float = 32.0) -> np.ndarray:
    """A double-gamma HRF with its maximum at ``peak_s``, sampled every ``dt`` s, summing to 1.

    ``h(t) = g(t; peak + 1, 1) - g(t; peak + 11, 1) / 6`` (gamma densities of shape k, scale 1;
    mode = k - 1): ``peak_s = 5`` is the SPM canonical HRF (shapes 6 and 16, ratio 1/6).

    Parameters
    ----------
    peak_s : float
        Time of the maximum, seconds.
    dt : float
        Sampling step, seconds.
    length_s : float
        Length, seconds.

    Returns
    -------
    ndarray, float64
    """
    t = np.arange(0, length_s, dt)

    def gamma_pdf(x: np.ndarray, k: float) -> np.ndarray:
        out = np.zeros_like(x)
        pos = x > 0
        out[pos] = np.exp((k - 1) * np.log(x[pos]) - x[pos] - math.lgamma(k))
        return out

    h = gamma_pdf(t, peak_s + 1.0) - gamma_pdf(t, peak_s + 11.0) / 6.0
    return h / h.sum()


def design(onsets: np.ndarray, durations: np.ndarray, n_volumes: int, tr: float, peak_s: float) -> np.ndarray:
    """Unit boxcars convolved with :func:`hrf` (peak ``peak_s``), read at each volume start.

    The boxcars are sampled every ``tr / 16`` s; a boxcar's convolution is a difference of the
    HRF's cumulative sums, computed directly.

    Parameters
    ----------
    onsets, durations : array, seconds
        The blocks.
    n_volumes : int
        Volumes to return.
    tr : float
        Repetition time, seconds.
    peak_s : float
        The HRF's peak time.

    Returns
    -------
    ndarray, shape (n_volumes, n_blocks)
    """
    dt = tr / OVERSAMPLING
    cum = np.cumsum(hrf(peak_s, dt))
    first = np.ceil(np.asarray(onsets, dtype=np.float64) / dt - 1e-9).astype(np.int64)
    stop = np.ceil((np.asarray(onsets, dtype=np.float64) + np.asarray(durations)) / dt - 1e-9).astype(np.int64)
    fine = (np.arange(n_volumes) * OVERSAMPLING)[:, None]

    def c(i: np.ndarray) -> np.ndarray:  # sum of hrf[0..i], 0 for i < 0
        return np.where(i < 0, 0.0, cum[np.clip(i, 0, len(cum) - 1)])

    return c(fine - first[None, :]) - c(fine - stop[None, :])


def quantized_peaks(subj: Subject, step: float) -> np.ndarray:
    """The voxels' HRF peaks rounded to ``step`` s, so that voxels share design matrices.

    Parameters
    ----------
    subj : Subject
        The subject.
    step : float
        Quantization step, seconds.

    Returns
    -------
    ndarray
    """
    return np.round(subj.hrf_peak / step) * step


def noise_free_series(
    peaks: np.ndarray, heights: np.ndarray, onsets: np.ndarray, durations: np.ndarray, n_volumes: int, tr: float
) -> np.ndarray:
    """A run's noise-free signal ``sum_b X_{tau_v}[t, b] h_v(image_b)`` (percent), float32.

    Parameters
    ----------
    peaks : ndarray, shape (V,)
        Quantized HRF peak of each voxel.
    heights : ndarray, shape (n_blocks, V)
        Block heights of the run's blocks, in order.
    onsets, durations : ndarray
        The blocks, seconds.
    n_volumes : int
        Volumes.
    tr : float
        Repetition time.

    Returns
    -------
    ndarray, float32, shape (n_volumes, V)
    """
    out = np.zeros((n_volumes, heights.shape[1]), dtype=np.float32)
    for p in np.unique(peaks):
        m = peaks == p
        out[:, m] = (design(onsets, durations, n_volumes, tr, float(p)) @ heights[:, m]).astype(np.float32)
    return out
