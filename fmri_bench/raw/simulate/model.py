"""The ground-truth encoding model: feature maps, latent channels, anatomy, HRF, noise."""

from __future__ import annotations

import math

import numpy as np

from fmri_bench.raw.simulate.config import (
    _LEVEL_SIGMA,
    _OVERSAMPLING,
    _ROI_LEVEL,
    FEATURE_GRID,
    FEATURES,
    HEMISPHERES,
    ROIS,
    SizePreset,
    _rng,
)

# ------------------------------------------------------------------- encoding model


def feature_maps(images: np.ndarray) -> np.ndarray:
    """Return the raw 7 feature maps of uint8 images (n, H, W, 3) on the 32x32 grid.

    See the :mod:`fmri_bench.raw.simulate` docstring (step 2); ``H`` and ``W`` must be
    multiples of 32.

    Parameters
    ----------
    images : ndarray, uint8, shape (n, H, W, 3)
        RGB images (0-255).

    Returns
    -------
    ndarray, float64, shape (n, 7, 32, 32)
        Per grid cell: luminance, red-green, blue-yellow (from RGB in [0, 1]), then the
        squared luminance gradient along 0, 45, 90 and 135 degrees (:data:`FEATURES` order).
    """
    images = np.asarray(images)
    n, h, w, _ = images.shape
    bh, bw = h // FEATURE_GRID, w // FEATURE_GRID
    x = images.astype(np.float64).reshape(n, FEATURE_GRID, bh, FEATURE_GRID, bw, 3).mean(axis=(2, 4)) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    lum = (r + g + b) / 3.0
    gy, gx = np.gradient(lum, axis=(1, 2))
    maps = [lum, r - g, b - (r + g) / 2.0]
    for deg in (0, 45, 90, 135):
        t = np.deg2rad(deg)
        maps.append((gx * np.cos(t) + gy * np.sin(t)) ** 2)
    return np.stack(maps, axis=1)


def _rf_matrix(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gaussian receptive fields on the feature grid, (K, 32*32), each summing to 1."""
    centres = (np.arange(FEATURE_GRID) + 0.5) / FEATURE_GRID
    gx = np.exp(-((centres[None, :] - x[:, None]) ** 2) / (2 * sigma[:, None] ** 2))
    gy = np.exp(-((centres[None, :] - y[:, None]) ** 2) / (2 * sigma[:, None] ** 2))
    rf = gy[:, :, None] * gx[:, None, :]
    rf = rf.reshape(len(x), -1)
    return rf / rf.sum(axis=1, keepdims=True)


def _make_channels(preset: SizePreset, seed: int) -> dict[str, np.ndarray]:
    """The shared latent channels: level, RF centre and width, feature tuning."""
    rng = _rng(seed, 3)
    levels, xs, ys, sigmas, tunings = [], [], [], [], []
    n_feat = len(FEATURES)
    for level, count in enumerate(preset.channels_per_level):
        if level < 4:
            x = rng.uniform(-0.05, 1.05, count)
            y = rng.uniform(-0.05, 1.05, count)
        else:
            x = np.clip(rng.normal(0.5, 0.18, count), 0.05, 0.95)
            y = np.clip(rng.normal(0.5, 0.18, count), 0.05, 0.95)
        sigma = _LEVEL_SIGMA[level] * np.exp(rng.normal(0, 0.2, count))
        # Low levels are selective (sparse Dirichlet), the higher level mixes features.
        conc = (0.3, 0.5, 0.8, 1.2, 2.0)[level]
        tuning = rng.dirichlet(np.full(n_feat, conc), size=count)
        # Colour-opponent and luminance preferences can be of either sign.
        tuning[:, :3] *= rng.choice([-1.0, 1.0], size=(count, 3))
        levels.append(np.full(count, level))
        xs.append(x), ys.append(y), sigmas.append(sigma), tunings.append(tuning)
    return {
        "channel_level": np.concatenate(levels).astype(np.int64),
        "channel_x": np.concatenate(xs),
        "channel_y": np.concatenate(ys),
        "channel_sigma": np.concatenate(sigmas),
        "channel_tuning": np.concatenate(tunings),
    }


def _channel_drive(
    features: np.ndarray, channels: dict[str, np.ndarray], feature_mean: np.ndarray, feature_std: np.ndarray
) -> np.ndarray:
    """Drive d (n_images, K) of every channel (before standardization across images)."""
    f = (features - feature_mean[None, :, None, None]) / feature_std[None, :, None, None]
    rf = _rf_matrix(channels["channel_x"], channels["channel_y"], channels["channel_sigma"])
    n, n_feat = f.shape[:2]
    pooled = (f.reshape(n * n_feat, -1) @ rf.T).reshape(n, n_feat, -1)  # (n, F, K)
    return np.einsum("nfk,kf->nk", pooled, channels["channel_tuning"])


# ------------------------------------------------------------------ anatomy / masks


def _brain_mask(grid: tuple[int, int, int]) -> np.ndarray:
    """A rounded box (superellipsoid) filling most of the grid."""
    idx = np.indices(grid).astype(np.float64)
    total = np.zeros(grid)
    for axis, n in enumerate(grid):
        c = (n - 1) / 2.0
        total += (np.abs(idx[axis] - c) / (n / 2.0)) ** 4
    return total <= 1.0


def _roi_labels(grid: tuple[int, int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Assign ROI labels to the posterior part of the brain of one subject.

    Returns (label, hemisphere): label is an index into ROIS (-1 = none; the index of
    "HVC" marks voxels in HVC only), hemisphere is 0 for LH (low x), 1 for RH.
    Bands run from the occipital pole (low y) forwards: V1, V2, V3, hV4 (ventral),
    then LOC (dorsal), FFA (ventral lateral), PPA (ventral medial), and an HVC-only band.
    """
    nx, ny, nz = grid
    brain = _brain_mask(grid)
    x, y, z = np.indices(grid)
    band_width = max(1.0, ny / 20.0)
    # Subject-specific anatomy: jittered band borders and a shifted dorsal/ventral border.
    depth = (y - 1 + rng.normal(0, 0.3, grid)) / band_width
    z_mid = (nz - 1) / 2.0 + rng.normal(0, 0.5)
    dorsal = z > z_mid
    hemi = (x >= nx / 2.0).astype(np.int64)
    lateral = np.abs(x - (nx - 1) / 2.0) > nx / 4.0
    midline = np.abs(x - (nx - 1) / 2.0) < 1.0
    label = np.full(grid, -1, dtype=np.int64)
    band = np.floor(depth).astype(np.int64)
    valid = brain & ~midline & (y >= 1)
    roi = {name: i for i, name in enumerate(ROIS)}
    for b, (d_name, v_name) in enumerate((("V1d", "V1v"), ("V2d", "V2v"), ("V3d", "V3v"))):
        label[valid & (band == b) & dorsal] = roi[d_name]
        label[valid & (band == b) & ~dorsal] = roi[v_name]
    label[valid & (band == 3) & ~dorsal] = roi["hV4"]
    higher = valid & ((band == 4) | (band == 5))
    label[higher & dorsal] = roi["LOC"]
    label[higher & ~dorsal & lateral] = roi["FFA"]
    label[higher & ~dorsal & ~lateral] = roi["PPA"]
    label[valid & (band == 6)] = roi["HVC"]
    return label, hemi


def _roi_masks(label: np.ndarray, hemi: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """Binary masks per (hemisphere, ROI); HVC = LOC + FFA + PPA + the HVC-only band."""
    masks = {}
    hvc_parts = {ROIS.index(r) for r in ("LOC", "FFA", "PPA", "HVC")}
    for h, hname in enumerate(HEMISPHERES):
        for i, roi in enumerate(ROIS):
            if roi == "HVC":
                m = np.isin(label, list(hvc_parts)) & (hemi == h)
            else:
                m = (label == i) & (hemi == h)
            masks[(hname, roi)] = m
    return masks


def _retinotopic_targets(roi_names: list[str], hemis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) target positions (x, y in [0, 1]) in each voxel's part of the visual field."""
    n = len(roi_names)
    out = np.empty((n, 2))
    for i, (roi, h) in enumerate(zip(roi_names, hemis)):
        # LH sees the right hemifield; dorsal ROIs the lower (y > 0.5) quadrant.
        xlo, xhi = (0.5, 1.0) if h == 0 else (0.0, 0.5)
        if roi.endswith("d"):
            ylo, yhi = 0.5, 1.0
        elif roi.endswith("v"):
            ylo, yhi = 0.0, 0.5
        else:
            ylo, yhi = 0.0, 1.0
        if _ROI_LEVEL[roi] == 4:
            out[i] = np.clip(rng.normal([0.55 if h == 0 else 0.45, 0.5], 0.15), 0.1, 0.9)
        else:
            out[i] = rng.uniform([xlo, ylo], [xhi, yhi])
    return out


# ------------------------------------------------------------------------ timing


def spm_hrf(tr: float, oversampling: int = _OVERSAMPLING, time_length: float = 32.0) -> np.ndarray:
    """The SPM canonical HRF, the same numbers as ``nilearn.glm.first_level.spm_hrf``.

    A difference of gamma densities (peak: shape 6; undershoot: shape 16, ratio 0.167;
    both shifted by one fine sample), sampled every ``tr / oversampling`` seconds over
    ``time_length`` seconds and normalized to sum 1. Written out with numpy so that
    simulating does not import nilearn's GLM stack (seconds of import time).

    Parameters
    ----------
    tr : float
        The repetition time, in seconds.
    oversampling : int
        Fine samples per TR.
    time_length : float
        The HRF's length, in seconds.

    Returns
    -------
    ndarray, float64, shape (round(time_length * oversampling / tr),)
        The HRF at the fine time steps, summing to 1.
    """
    dt = tr / oversampling
    t = np.linspace(0, time_length, int(np.rint(float(time_length) / dt))) - dt

    def gamma_pdf(x: np.ndarray, shape: float) -> np.ndarray:
        out = np.zeros_like(x)
        pos = x > 0
        out[pos] = np.exp((shape - 1) * np.log(x[pos]) - x[pos] - math.lgamma(shape))
        return out

    hrf = gamma_pdf(t, 6.0) - 0.167 * gamma_pdf(t, 16.0)
    return hrf / hrf.sum()


def block_regressors(onsets: np.ndarray, durations: np.ndarray, n_volumes: int, tr: float) -> np.ndarray:
    """Unit-height HRF-convolved boxcars, one column per block, read at each volume start.

    The boxcar is sampled every ``tr / 16`` s and convolved with :func:`spm_hrf`; a
    boxcar's convolution is a difference of the HRF's cumulative sums, computed directly.

    Parameters
    ----------
    onsets, durations : array, seconds
        The blocks (from events.tsv).
    n_volumes : int
        Volumes to return.
    tr : float
        Repetition time in seconds.

    Returns
    -------
    ndarray, shape (n_volumes, n_blocks)
    """
    dt = tr / _OVERSAMPLING
    cum = np.cumsum(spm_hrf(tr))
    onsets = np.asarray(onsets, dtype=np.float64)
    durations = np.asarray(durations, dtype=np.float64)
    first = np.ceil(onsets / dt - 1e-9).astype(np.int64)  # first fine sample inside the block
    stop = np.ceil((onsets + durations) / dt - 1e-9).astype(np.int64)  # first sample after it
    n = (np.arange(n_volumes) * _OVERSAMPLING)[:, None]

    def c(i: np.ndarray) -> np.ndarray:  # sum of hrf[0..i], 0 for i < 0
        return np.where(i < 0, 0.0, cum[np.clip(i, 0, len(cum) - 1)])

    return c(n - first[None, :]) - c(n - stop[None, :])


def _ar1(eps: np.ndarray, rho: float) -> np.ndarray:
    """AR(1) filter along axis 0: e[t] = rho e[t-1] + sqrt(1 - rho^2) eps[t], e[0] = eps[0]."""
    out = np.empty_like(eps)
    out[0] = eps[0]
    c = eps.dtype.type(math.sqrt(1 - rho**2))
    r = eps.dtype.type(rho)
    for t in range(1, len(eps)):
        np.multiply(out[t - 1], r, out=out[t])
        out[t] += c * eps[t]
    return out
