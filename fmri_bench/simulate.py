"""Synthetic BIDS dataset laid out like OpenNeuro ds001506 1.3.x, with a known encoding model.

``simulate_dataset(out_dir, size="default", seed=0)`` writes a dataset whose file names,
events columns and codes, sidecar keys and ROI mask names are those of ds001506
("Deep Image Reconstruction", Shen et al. 2019), with procedural stimulus images and
BOLD generated from the ground-truth encoding model below. Everything is a deterministic
function of (size, seed): the same arguments give byte-identical files.

Ground-truth encoding model
---------------------------
1. **Images.** Procedural 128 px RGB images (numpy + Pillow): a background (flat colour,
   colour gradient, sinusoidal grating or band-passed noise texture) and 1-3 shapes
   (disc, square, triangle, bar, ring) filled with a flat colour, a grating or a noise
   texture. Each *category* is a style (palette, preferred shapes, textures); its images
   vary position, size, orientation and colour. Test categories are new styles, as in the
   real data where test images come from categories not used for training.
2. **Feature maps.** Each image is block-averaged to a 32x32 grid (4x4 blocks of the
   128 px image, RGB in [0, 1]) and turned into 7 feature maps (:data:`FEATURES`):
   luminance ``(R+G+B)/3``, red-green ``R-G``, blue-yellow ``B-(R+G)/2``, and edge energy
   ``(gx cos t + gy sin t)^2`` for t = 0, 45, 90, 135 degrees, where ``gy, gx =
   np.gradient(luminance)``. Each map is standardized with the dataset-wide mean and
   standard deviation of that feature (``feature_mean``/``feature_std`` in derivatives).
3. **Shared latent channels.** A population of K channels, common to all subjects, in 5
   levels (V1, V2, V3, hV4, higher visual cortex). Channel c has an isotropic Gaussian
   receptive field (centre ``x, y`` in image units [0, 1], x to the right, y downwards;
   width ``sigma`` growing with level: about 0.05 in V1 to 0.25 in the higher level) and a
   tuning vector over the 7 features (sparse for low levels, dense for the higher one).
   Its drive is ``d_c = sum_f tuning[c, f] * sum_p rf_c[p] * F_f[p]`` with ``rf_c`` the
   Gaussian normalized to sum 1; ``z_c`` is ``d_c`` standardized across all images
   (``channel_mean``/``channel_std``).
4. **Voxels.** Each subject has its own voxels: ROI masks on a small 2 mm grid (V1-V3
   dorsal/ventral, hV4, LOC, FFA, PPA, and HVC = LOC+FFA+PPA plus a band in front, per
   hemisphere), a retinotopic target per voxel (contralateral hemifield; dorsal ROIs
   the lower, ventral ROIs the upper quadrant; higher ROIs near the centre), and a
   linear mix of ``m`` channels of its ROI's level picked near that target with its own
   random positive weights: ``a_v = (sum_k w[v, k] z_{c[v, k]} - a_mean_v) / a_std_v``
   (unit variance across images). This shared latent structure with subject-specific
   mixing is what shared-response-model alignment can exploit.
5. **BOLD.** The block height of voxel v for an image is ``h_v = amp_v * (0.5 + a_v)``
   in percent signal change (``amp_v`` around 1 %). Each block is a boxcar (its onset
   and duration from events.tsv) convolved with the canonical SPM HRF
   (:func:`spm_hrf`, the same numbers as ``nilearn.glm.first_level.spm_hrf``, sampled
   at TR/16) and read at the start of each volume: ``signal_v(t) = sum_b X[t, b] h_v(image_b)``. The volume is
   ``baseline_v * (1 + (signal_v + noise_v) / 100) + drift_v`` with AR(1) noise
   (``ar_rho``) of standard deviation ``noise_pct_v = sd_t(signal_v) / snr`` (the
   configured SNR, an amplitude ratio per voxel), a slow per-run drift (linear +
   quadratic Legendre terms), rounded to int16 like scanner data. Voxels outside the
   ROIs carry the same noise and drift but no stimulus signal; voxels outside the
   brain hold a low background.

Everything needed to recompute the model goes into ``derivatives/simulation/``:
``simulation.json`` (size preset, seed, SNR, simulator version), ``stimuli.tsv``,
``short_runs.tsv``, ``shared/*.npy`` (channel parameters, feature and channel
statistics, ``z`` for every image) and ``sub-0X/*.npy`` (ROI voxel indices and labels,
channel indices and weights, ``amp``, ``baseline``, ``noise_pct``, per-image noise-free
block heights ``heights_train``/``heights_test`` in percent). :func:`noise_free_signal`
rebuilds a run's noise-free signal from these and the run's events.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmri_bench.errors import FmriBenchError
from fmri_bench.progress import make_progress

__all__ = [
    "FEATURES",
    "ROIS",
    "SIMULATOR_VERSION",
    "SIZES",
    "SizePreset",
    "block_average",
    "block_regressors",
    "feature_maps",
    "load_stimuli",
    "noise_free_signal",
    "ridge_pixel_correlation",
    "sanity_check_accuracy",
    "simulate_dataset",
    "spm_hrf",
]

#: Bumped whenever the same (size, seed) would produce different files.
SIMULATOR_VERSION = "2"

ROIS = ("V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA", "HVC")
HEMISPHERES = ("LH", "RH")
FEATURES = ("luminance", "red_green", "blue_yellow", "edge_0", "edge_45", "edge_90", "edge_135")
FEATURE_GRID = 32
LEVELS = ("V1", "V2", "V3", "hV4", "higher")
# ROI -> level of the latent channels its voxels mix.
_ROI_LEVEL = {"V1d": 0, "V1v": 0, "V2d": 1, "V2v": 1, "V3d": 2, "V3v": 2, "hV4": 3,
              "LOC": 4, "FFA": 4, "PPA": 4, "HVC": 4}
_LEVEL_SIGMA = (0.05, 0.07, 0.10, 0.15, 0.25)
_OVERSAMPLING = 16
TASK = "perception"


@dataclass(frozen=True)
class SizePreset:
    """One dataset size: every number that shapes the simulated dataset.

    Attributes
    ----------
    n_subjects, n_train, train_reps, n_test, test_reps
        Subjects; training images and presentations of each; test images and theirs.
    images_per_run, onebacks_per_run
        Unique images and one-back repetitions (event_type 2) in one run.
    runs_per_session
        Runs per ``ses-perceptionNaturalImage{Training,Test}0N`` session.
    grid
        BOLD grid (x, y, z) in voxels of ``voxel_mm``.
    image_px
        Side of the square stimulus PNGs.
    channels_per_level
        Shared latent channels per level (V1, V2, V3, hV4, higher).
    mix
        Channels mixed by each voxel.
    snr, ar_rho, drift_pct
        Signal/noise amplitude ratio, AR(1) coefficient, drift scale (% of baseline).
    images_per_category
        Training images per category (test images are one per category).
    """

    name: str
    n_subjects: int
    n_train: int
    train_reps: int
    n_test: int
    test_reps: int
    images_per_run: int
    onebacks_per_run: int
    runs_per_session: int
    grid: tuple[int, int, int]
    voxel_mm: float = 2.0
    tr: float = 2.0
    image_px: int = 128
    channels_per_level: tuple[int, ...] = (160, 120, 90, 60, 60)
    mix: int = 3
    snr: float = 0.3
    ar_rho: float = 0.4
    drift_pct: float = 0.5
    images_per_category: int = 4
    initial_rest_s: float = 32.0
    block_s: float = 8.0
    final_rest_s: float = 6.0

    def as_dict(self) -> dict:
        """Return the preset as a JSON-ready dict."""
        return dataclasses.asdict(self)


#: The size presets, by name.
SIZES: dict[str, SizePreset] = {
    "tiny": SizePreset(
        name="tiny", n_subjects=2, n_train=60, train_reps=2, n_test=10, test_reps=6,
        images_per_run=10, onebacks_per_run=1, runs_per_session=4, grid=(16, 16, 8),
        # More signal than default: tests on 60 training images need a clear effect.
        images_per_category=4, snr=0.3,
    ),
    "default": SizePreset(
        name="default", n_subjects=3, n_train=600, train_reps=2, n_test=50, test_reps=8,
        images_per_run=50, onebacks_per_run=5, runs_per_session=8, grid=(20, 20, 12),
        # Calibrated (bench/calibrate_simulate.py): pairwise SVM sanity check ~0.7 per subject.
        images_per_category=4, snr=0.12,
    ),
}

_BOLD_SIDECAR = {
    "Manufacturer": "SIEMENS",
    "ManufacturersModelName": "Verio",
    "MagneticFieldStrength": 3.0,
    "FlipAngle": 80.0,
    "EchoTime": 0.043,
    "MultibandAccelerationFactor": 4,
    "TaskName": TASK,
}
EVENTS_COLUMNS = ("onset", "duration", "event_type", "stimulus_id", "stimulus_name",
                  "category_index", "image_index", "response_time")


def _rng(seed: int, *stream: int) -> np.random.Generator:
    # Independent named streams: adding a stream never shifts another one.
    return np.random.default_rng([int(seed), *stream])


# --------------------------------------------------------------------------- images

_SHAPES = ("disc", "square", "triangle", "bar", "ring")
_FILLS = ("flat", "grating", "noise")
_BACKGROUNDS = ("flat", "gradient", "grating", "noise")


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))))


def _noise_texture(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """Band-passed noise in [0, 1]: white noise low-passed in the Fourier domain."""
    white = rng.standard_normal((n, n))
    f = np.fft.fftfreq(n)
    radius = np.hypot(f[:, None], f[None, :])
    filt = np.exp(-((radius * n / scale) ** 2))
    tex = np.real(np.fft.ifft2(np.fft.fft2(white) * filt))
    tex -= tex.min()
    return tex / max(tex.max(), 1e-9)


def _pattern(rng: np.random.Generator, kind: str, n: int, c1: np.ndarray, c2: np.ndarray,
             yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """An (n, n, 3) fill: flat c1, a grating between c1 and c2, or a noise texture."""
    if kind == "flat":
        return np.broadcast_to(c1, (n, n, 3)).copy()
    if kind == "grating":
        theta = rng.uniform(0, np.pi)
        freq = rng.uniform(2.0, 10.0) / n
        phase = rng.uniform(0, 2 * np.pi)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    elif kind == "gradient":
        theta = rng.uniform(0, 2 * np.pi)
        t = (xx * np.cos(theta) + yy * np.sin(theta)) / n
        t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    else:
        t = _noise_texture(rng, n, rng.uniform(3.0, 12.0))
    return c1 * (1 - t[..., None]) + c2 * t[..., None]


def _shape_mask(kind: str, n: int, cx: float, cy: float, r: float, theta: float,
                yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A soft (1 px edge) mask in [0, 1] for one shape of radius ``r`` pixels."""
    u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
    v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
    if kind == "disc":
        inside = r - np.hypot(u, v)
    elif kind == "ring":
        d = np.hypot(u, v)
        inside = np.minimum(r - d, d - 0.55 * r)
    elif kind == "square":
        inside = 0.8 * r - np.maximum(np.abs(u), np.abs(v))
    elif kind == "bar":
        inside = np.minimum(1.2 * r - np.abs(u), 0.28 * r - np.abs(v))
    else:  # triangle: three half-planes of an equilateral triangle
        angles = np.array([np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3])
        inside = np.min(
            [0.5 * r - (u * np.cos(a) + v * np.sin(a)) for a in angles], axis=0
        )
    return np.clip(inside + 0.5, 0.0, 1.0)


def _category_style(rng: np.random.Generator) -> dict:
    n_shapes_pref = int(rng.integers(1, 4))
    return {
        "hues": rng.uniform(0, 1, size=3).tolist(),
        "saturation": float(rng.uniform(0.3, 1.0)),
        "background": str(rng.choice(_BACKGROUNDS)),
        "bg_value": float(rng.uniform(0.1, 0.9)),
        "shapes": [str(s) for s in rng.choice(_SHAPES, size=2, replace=False)],
        "fill": str(rng.choice(_FILLS)),
        "n_shapes": n_shapes_pref,
        "centre": rng.uniform(0.3, 0.7, size=2).tolist(),
    }


def _render_image(rng: np.random.Generator, style: dict, n: int) -> np.ndarray:
    """Render one image of a category ``style`` as uint8 (n, n, 3)."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    hues = style["hues"]
    sat = style["saturation"]

    def colour(i: int) -> np.ndarray:
        return _hsv_to_rgb(hues[i % 3] + rng.normal(0, 0.04), sat + rng.normal(0, 0.1),
                           rng.uniform(0.35, 1.0))

    bg_v = style["bg_value"]
    c1 = _hsv_to_rgb(hues[2] + rng.normal(0, 0.05), 0.5 * sat, bg_v + rng.normal(0, 0.08))
    c2 = _hsv_to_rgb(hues[1] + rng.normal(0, 0.05), 0.6 * sat, 1.0 - bg_v + rng.normal(0, 0.08))
    img = _pattern(rng, style["background"], n, c1, c2, yy, xx)
    n_shapes = int(np.clip(style["n_shapes"] + rng.integers(-1, 2), 1, 3))
    for i in range(n_shapes):
        kind = style["shapes"][i % 2] if rng.uniform() < 0.8 else str(rng.choice(_SHAPES))
        centre = np.asarray(style["centre"]) + rng.normal(0, 0.18, size=2)
        cx, cy = np.clip(centre, 0.1, 0.9) * n
        r = rng.uniform(0.1, 0.3) * n / (1 + 0.3 * i)
        mask = _shape_mask(kind, n, cx, cy, r, rng.uniform(0, np.pi), yy, xx)
        fill = style["fill"] if rng.uniform() < 0.7 else str(rng.choice(_FILLS))
        fg = _pattern(rng, fill, n, colour(i), colour(i + 1), yy, xx)
        img = img * (1 - mask[..., None]) + fg * mask[..., None]
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def _make_stimuli(preset: SizePreset, seed: int, progress=None) -> tuple[list[dict], np.ndarray]:
    """Return (stimulus rows, uint8 images) for training then test images.

    Names mimic ImageNet (``n<8 digits>_<image no>``) but use wnids >= 90000000, which
    ImageNet does not, so a synthetic stimulus can never be taken for a real one.
    """
    rng = _rng(seed, 1)
    n_train_cat = math.ceil(preset.n_train / preset.images_per_category)
    n_cat = n_train_cat + preset.n_test
    wnids = rng.choice(np.arange(90_000_000, 99_999_999), size=n_cat, replace=False)
    styles = [_category_style(rng) for _ in range(n_cat)]
    rows: list[dict] = []
    images: list[np.ndarray] = []
    jobs: list[tuple[int, int]] = []
    task = progress.add_task("stimulus images", total=preset.n_train + preset.n_test) if progress else None
    for split, count in (("train", preset.n_train), ("test", preset.n_test)):
        for idx in range(1, count + 1):
            if split == "train":
                cat = (idx - 1) // preset.images_per_category + 1
                cat_pos = cat - 1
            else:
                cat = idx  # one test image per category; category_index == image_index as in ds001506
                cat_pos = n_train_cat + idx - 1
            image_no = int(rng.integers(1, 50_000))
            wnid = int(wnids[cat_pos])
            rows.append({
                "split": split,
                "image_index": idx,
                "category_index": cat,
                "stimulus_name": f"n{wnid:08d}_{image_no}",
                "stimulus_id": f"{wnid}.{image_no:06d}",
                "background": styles[cat_pos]["background"],
                "shapes": "+".join(styles[cat_pos]["shapes"]),
                "fill": styles[cat_pos]["fill"],
            })
            jobs.append((cat_pos, idx))

    def render(job: tuple[int, int]) -> np.ndarray:
        # Each image has its own random stream, so rendering order does not matter.
        return _render_image(_rng(seed, 2, *job), styles[job[0]], preset.image_px)

    # numpy releases the GIL in its array loops: two threads render about 1.5x faster.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for img in pool.map(render, jobs):
            images.append(img)
            if task is not None:
                progress.advance(task)
    # Guard against a name collision (same wnid and image_no) inside one split.
    names = [r["stimulus_name"] for r in rows]
    if len(set(names)) != len(names):  # pragma: no cover - astronomically unlikely
        raise RuntimeError("duplicate stimulus names; choose another seed")
    return rows, np.stack(images)


# ------------------------------------------------------------------- encoding model


def feature_maps(images: np.ndarray) -> np.ndarray:
    """Return the raw 7 feature maps of uint8 images (n, H, W, 3) on the 32x32 grid.

    See the module docstring (step 2); ``H`` and ``W`` must be multiples of 32.
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


def _channel_drive(features: np.ndarray, channels: dict[str, np.ndarray],
                   feature_mean: np.ndarray, feature_std: np.ndarray) -> np.ndarray:
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


def _retinotopic_targets(roi_names: list[str], hemis: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
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


def block_regressors(onsets: np.ndarray, durations: np.ndarray, n_volumes: int,
                     tr: float) -> np.ndarray:
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


def _slice_timing(nz: int, tr: float, multiband: int) -> list[float]:
    """Interleaved multiband slice times like the ds001506 sidecars (times repeat per band)."""
    shots = nz // multiband if nz % multiband == 0 else nz
    order = list(range(0, shots, 2)) + list(range(1, shots, 2))
    times = [0.0] * shots
    for rank, s in enumerate(order):
        times[s] = round(rank * tr / shots, 4)
    return [times[k % shots] for k in range(nz)]


def _run_schedule(preset: SizePreset, rng: np.random.Generator) -> list[dict]:
    """The runs of one subject: split, session, run number, the images shown in order."""
    runs = []
    for split, n_img, reps in (("train", preset.n_train, preset.train_reps),
                               ("test", preset.n_test, preset.test_reps)):
        sequence = np.concatenate([rng.permutation(n_img) + 1 for _ in range(reps)])
        chunks = [sequence[i:i + preset.images_per_run] for i in range(0, len(sequence), preset.images_per_run)]
        for k, chunk in enumerate(chunks):
            session = k // preset.runs_per_session + 1
            label = "Training" if split == "train" else "Test"
            n_rep = min(preset.onebacks_per_run, len(chunk))
            # One-back repeats follow their original immediately, never the first block.
            repeat_after = set(rng.choice(np.arange(len(chunk)), size=n_rep, replace=False).tolist())
            blocks = []
            for pos, img in enumerate(chunk):
                blocks.append((int(img), 1))
                if pos in repeat_after:
                    blocks.append((int(img), 2))
            runs.append({
                "split": split,
                "session": f"ses-perceptionNaturalImage{label}{session:02d}",
                "run": k % preset.runs_per_session + 1,
                "blocks": blocks,
            })
    return runs


def _events_table(blocks: list[tuple[int, int]], stim: dict[int, dict], preset: SizePreset,
                  rng: np.random.Generator) -> tuple[str, np.ndarray, np.ndarray, float]:
    """Return (events.tsv text, block onsets, block durations, run length in seconds)."""
    lines = ["\t".join(EVENTS_COLUMNS)]

    def fmt(x: float) -> str:
        return f"{x:g}"

    lines.append(f"0\t{fmt(preset.initial_rest_s)}\t-1\tn/a\tn/a\tn/a\tn/a\tn/a")
    onsets, durs = [], []
    t = preset.initial_rest_s
    for img, code in blocks:
        s = stim[img]
        rt = f"{t + rng.uniform(0.6, 1.6):.6f}" if code == 2 else "n/a"
        lines.append("\t".join([fmt(t), fmt(preset.block_s), str(code), s["stimulus_id"],
                                s["stimulus_name"], str(s["category_index"]), str(img), rt]))
        onsets.append(t), durs.append(preset.block_s)
        t += preset.block_s
    lines.append(f"{fmt(t)}\t{fmt(preset.final_rest_s)}\t-2\tn/a\tn/a\tn/a\tn/a\tn/a")
    return "\n".join(lines) + "\n", np.array(onsets), np.array(durs), t + preset.final_rest_s


def _read_events(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(onset, duration, event_type, image_index) of every stimulus/one-back row."""
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    col = {c: i for i, c in enumerate(header)}
    onset, dur, code, image = [], [], [], []
    for r in rows:
        et = int(float(r[col["event_type"]]))
        if et in (1, 2):
            onset.append(float(r[col["onset"]]))
            dur.append(float(r[col["duration"]]))
            code.append(et)
            image.append(int(r[col["image_index"]]))
    return np.array(onset), np.array(dur), np.array(code), np.array(image)


# ------------------------------------------------------------------------ writing


def _save_nifti(path: Path, data: np.ndarray, affine: np.ndarray, tr: float | None) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    if tr is not None:
        img.header.set_zooms(tuple(img.header.get_zooms()[:3]) + (tr,))
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    nib.save(img, str(path))


def _write_tsv(path: Path, header: list[str], rows: list[list]) -> None:
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_json(path: Path, obj: dict, indent: int = 4) -> None:
    path.write_text(json.dumps(obj, indent=indent) + "\n", encoding="utf-8")


def _save_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", np.asarray(arr), allow_pickle=False)


def _record_path(root: Path) -> Path:
    return root / "derivatives" / "simulation" / "simulation.json"


def _check_existing(out_dir: Path, size: str, seed: int) -> bool:
    """True if out_dir already holds this simulation; raise if it holds something else."""
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise FmriBenchError(f"{out_dir} exists and is not a folder; expected a new or empty folder for the simulated dataset")
    if not any(out_dir.iterdir()):
        return False
    record = _record_path(out_dir)
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise FmriBenchError(
            f"{out_dir} is not empty and is not a simulated dataset; expected a new or empty folder"
        ) from None
    found = (info.get("size"), info.get("seed"), info.get("simulator_version"))
    if found[:2] != (size, seed):
        raise FmriBenchError(
            f"{out_dir} holds a simulation with size={found[0]} seed={found[1]}; "
            f"expected size={size} seed={seed} (choose a new folder)"
        )
    if found[2] != SIMULATOR_VERSION:
        raise FmriBenchError(
            f"{out_dir} was simulated by simulator version {found[2]}, expected version "
            f"{SIMULATOR_VERSION}; delete that folder to simulate it again"
        )
    return True


def simulate_dataset(out_dir: str | os.PathLike[str], *, size: str = "default", seed: int = 0) -> Path:
    """Write the synthetic ds001506-like BIDS dataset into ``out_dir``; return its root.

    Parameters
    ----------
    out_dir : path-like
        New (or empty) folder. An earlier simulation with the same size, seed and
        simulator version is returned as is, without rewriting.
    size : {"tiny", "default"}
        Size preset (see :data:`SIZES`).
    seed : int
        Seed of every random draw; the same (size, seed) gives byte-identical files.

    Returns
    -------
    Path
        ``out_dir`` (the BIDS root).
    """
    if size not in SIZES:
        raise FmriBenchError(f"unknown size {size!r}; expected one of: {', '.join(SIZES)}")
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise FmriBenchError(f"seed must be an integer, got {seed!r}") from None
    if seed < 0:
        raise FmriBenchError(f"seed must be a non-negative integer, got {seed}")
    out_dir = Path(out_dir).expanduser().absolute()
    if _check_existing(out_dir, size, seed):
        return out_dir
    return _simulate(out_dir, SIZES[size], seed)


def _simulate(out_dir: Path, preset: SizePreset, seed: int) -> Path:
    """Simulate ``preset`` into ``out_dir`` through a temporary folder beside it."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        from threadpoolctl import threadpool_limits

        # Same bytes whatever BLAS threading the caller set up: a multi-threaded matrix
        # product may sum in another order and change the last bits of the derivatives.
        with threadpool_limits(limits=1, user_api="blas"):
            _write_dataset(tmp, preset, seed)
        if out_dir.exists():
            if _check_existing(out_dir, preset.name, seed):  # written meanwhile by another process
                shutil.rmtree(tmp, ignore_errors=True)
                return out_dir
            out_dir.rmdir()  # empty
        try:
            os.rename(tmp, out_dir)
        except OSError:
            # Another process renamed the same simulation into place first.
            if not _check_existing(out_dir, preset.name, seed):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _write_dataset(root: Path, preset: SizePreset, seed: int) -> None:
    nx, ny, nz = preset.grid
    vs = preset.voxel_mm
    affine = np.array([[vs, 0, 0, -vs * (nx - 1) / 2], [0, vs, 0, -vs * (ny - 1) / 2],
                       [0, 0, vs, -vs * (nz - 1) / 2], [0, 0, 0, 1.0]])
    deriv = root / "derivatives" / "simulation"
    deriv.mkdir(parents=True)
    progress = make_progress()
    progress.start()
    try:
        _write_all(root, preset, seed, affine, deriv, progress)
    finally:
        progress.stop()


def _write_all(root: Path, preset: SizePreset, seed: int, affine: np.ndarray, deriv: Path, progress) -> None:
    from PIL import Image

    nx, ny, nz = preset.grid
    vs = preset.voxel_mm
    # Stimuli, features and the shared latent channels.
    rows, images = _make_stimuli(preset, seed, progress)
    (root / "stimuli").mkdir()
    for r, img in zip(rows, images):
        Image.fromarray(img).save(root / "stimuli" / f"{r['stimulus_name']}.png", compress_level=1)
    stim_cols = ["stimulus_name", "stimulus_id", "split", "image_index", "category_index",
                 "background", "shapes", "fill"]
    _write_tsv(deriv / "stimuli.tsv", stim_cols, [[r[c] for c in stim_cols] for r in rows])
    feats = feature_maps(images)
    feature_mean = feats.mean(axis=(0, 2, 3))
    feature_std = feats.std(axis=(0, 2, 3))
    channels = _make_channels(preset, seed)
    drive = _channel_drive(feats, channels, feature_mean, feature_std)
    channel_mean, channel_std = drive.mean(axis=0), drive.std(axis=0)
    z = (drive - channel_mean) / channel_std
    _save_arrays(deriv / "shared", {**channels, "feature_mean": feature_mean, "feature_std": feature_std,
                                    "channel_mean": channel_mean, "channel_std": channel_std,
                                    "z_train": z[: preset.n_train], "z_test": z[preset.n_train:]})
    stim_by_split = {
        split: {r["image_index"]: r for r in rows if r["split"] == split} for split in ("train", "test")
    }

    sidecar = {**_BOLD_SIDECAR, "RepetitionTime": preset.tr,
               "SliceTiming": _slice_timing(nz, preset.tr, _BOLD_SIDECAR["MultibandAccelerationFactor"])}
    sidecar = {k: sidecar[k] for k in ("Manufacturer", "ManufacturersModelName", "MagneticFieldStrength",
                                       "FlipAngle", "EchoTime", "RepetitionTime", "SliceTiming",
                                       "MultibandAccelerationFactor", "TaskName")}
    brain = _brain_mask(preset.grid)
    short_rows: list[list] = []
    with ThreadPoolExecutor(max_workers=2) as writer:
        for s in range(1, preset.n_subjects + 1):
            sub = f"sub-{s:02d}"
            rng = _rng(seed, 10, s)
            label, hemi = _roi_labels(preset.grid, rng)
            masks = _roi_masks(label, hemi)
            anat = root / "sourcedata" / sub / "anat"
            anat.mkdir(parents=True)
            for (h, roi), m in masks.items():
                _save_nifti(anat / f"{sub}_mask_{h}_{roi}.nii.gz", m.astype(np.uint8), affine, None)

            # ROI voxels and their mixing of the shared channels.
            flat_label = label.reshape(-1)
            roi_idx = np.flatnonzero(flat_label >= 0)
            roi_names = [ROIS[i] for i in flat_label[roi_idx]]
            roi_hemi = hemi.reshape(-1)[roi_idx]
            targets = _retinotopic_targets(roi_names, roi_hemi, rng)
            n_roi = len(roi_idx)
            chan_idx = np.empty((n_roi, preset.mix), dtype=np.int64)
            for v, roi in enumerate(roi_names):
                pool = np.flatnonzero(channels["channel_level"] == _ROI_LEVEL[roi])
                d2 = (channels["channel_x"][pool] - targets[v, 0]) ** 2 + (channels["channel_y"][pool] - targets[v, 1]) ** 2
                scale = 0.05 + _LEVEL_SIGMA[_ROI_LEVEL[roi]]
                p = np.exp(-d2 / (2 * scale**2)) + 1e-12
                chan_idx[v] = rng.choice(pool, size=preset.mix, replace=False, p=p / p.sum())
            weights = rng.gamma(2.0, 1.0, size=(n_roi, preset.mix))
            weights /= weights.sum(axis=1, keepdims=True)
            raw = np.einsum("nvk,vk->nv", z[:, chan_idx], weights)  # (n_images, n_roi)
            a_mean, a_std = raw.mean(axis=0), raw.std(axis=0)
            a = (raw - a_mean) / a_std
            amp = np.exp(rng.normal(np.log(1.0), 0.25, n_roi))
            heights = amp * (0.5 + a)  # percent signal change per image
            n_vox = nx * ny * nz
            baseline = np.where(brain.reshape(-1), 1000.0 * np.exp(rng.normal(0, 0.1, n_vox)), 30.0)

            schedule = _run_schedule(preset, rng)
            # Runs to cut short, like the 47 short runs of ds001506 (e.g. 233 instead of 239 volumes).
            train_runs = [i for i, r in enumerate(schedule) if r["split"] == "train"]
            short = {int(rng.choice(train_runs)): int(rng.integers(1, 7))}

            # Pass 1: events, regressors and noise-free signal, to set the noise level.
            run_data = []
            for i, run in enumerate(schedule):
                stim = stim_by_split[run["split"]]
                text, onsets, durs, length = _events_table(run["blocks"], stim, preset, rng)
                n_expected = int(round(length / preset.tr))
                n_vol = n_expected - short.get(i, 0)
                X = block_regressors(onsets, durs, n_vol, preset.tr)
                imgs = np.array([img for img, _ in run["blocks"]])
                offset = 0 if run["split"] == "train" else preset.n_train
                signal = X @ heights[imgs - 1 + offset]  # (n_vol, n_roi) percent
                run_data.append((run, text, n_vol, n_expected, length, signal))
            pooled = np.concatenate([sig - sig.mean(axis=0) for *_, sig in run_data])
            signal_sd = pooled.std(axis=0)
            noise_pct = np.full(n_vox, float(np.median(signal_sd)) / preset.snr)
            noise_pct *= np.exp(rng.normal(0, 0.1, n_vox))
            noise_pct[roi_idx] = signal_sd / preset.snr

            noise_pct_32 = noise_pct.astype(np.float32)
            baseline_32 = baseline.astype(np.float32)
            task = progress.add_task(f"{sub} runs", total=len(run_data))
            pending: list = []
            for i, (run, text, n_vol, n_expected, length, signal) in enumerate(run_data):
                func = root / sub / run["session"] / "func"
                func.mkdir(parents=True, exist_ok=True)
                stem = f"{sub}_{run['session']}_task-{TASK}_run-{run['run']:02d}"
                (func / f"{stem}_events.tsv").write_text(text, encoding="utf-8")
                _write_json(func / f"{stem}_bold.json", sidecar)
                run_rng = _rng(seed, 20, s, i)
                eps = run_rng.standard_normal((n_vol, n_vox), dtype=np.float32)
                noise = _ar1(eps, preset.ar_rho)
                pct = noise * noise_pct_32[None, :]
                pct[:, roi_idx] += signal
                t = np.linspace(-1, 1, n_expected)[:n_vol]
                legendre = np.stack([t, 1.5 * t**2 - 0.5], axis=1)  # (n_vol, 2)
                drift = legendre @ run_rng.normal(0, preset.drift_pct, (2, n_vox))
                pct += drift.astype(np.float32)
                bold = baseline_32[None, :] * (1 + pct / np.float32(100.0))
                outside = ~brain.reshape(-1)
                bold[:, outside] = 30.0 + 4.0 * run_rng.standard_normal((n_vol, int(outside.sum())), dtype=np.float32)
                vol = np.clip(np.round(bold), 0, 32767).astype(np.int16)
                vol = np.ascontiguousarray(vol.T).reshape(nx, ny, nz, n_vol)
                # gzip (zlib releases the GIL) runs beside the next run's arithmetic.
                pending.append(writer.submit(_save_nifti, func / f"{stem}_bold.nii.gz", vol, affine, preset.tr))
                while len(pending) > 3:
                    pending.pop(0).result()
                    progress.advance(task)
                if n_vol < n_expected:
                    short_rows.append([stem, n_vol, n_expected, f"{length:g}",
                                       f"{(n_expected - n_vol) * preset.tr:g}"])
            while pending:
                pending.pop(0).result()
                progress.advance(task)
            progress.remove_task(task)

            rf_w = weights
            _save_arrays(deriv / sub, {
                "roi_voxel_index": roi_idx,
                "roi_label": flat_label[roi_idx],
                "roi_hemisphere": roi_hemi,
                "retinotopic_target": targets,
                "channel_index": chan_idx,
                "channel_weight": rf_w,
                "rf_x": np.sum(rf_w * channels["channel_x"][chan_idx], axis=1),
                "rf_y": np.sum(rf_w * channels["channel_y"][chan_idx], axis=1),
                "rf_sigma": np.sum(rf_w * channels["channel_sigma"][chan_idx], axis=1),
                "a_mean": a_mean,
                "a_std": a_std,
                "amp": amp,
                "baseline": baseline,
                "noise_pct": noise_pct,
                "signal_sd": signal_sd,
                "heights_train": heights[: preset.n_train],
                "heights_test": heights[preset.n_train:],
            })

    _write_tsv(deriv / "short_runs.tsv", ["run", "volumes", "expected_volumes", "events_len_s", "missing_s"],
               short_rows)
    record = {
        "simulator_version": SIMULATOR_VERSION,
        "size": preset.name,
        "seed": seed,
        "snr": preset.snr,
        "snr_definition": "per ROI voxel: sd over time of the noise-free signal (run means removed) / sd of the AR(1) noise",
        "ar_rho": preset.ar_rho,
        "drift_pct": preset.drift_pct,
        "hrf": "SPM canonical (= nilearn.glm.first_level.spm_hrf), sampled at TR/16, read at volume start",
        "features": list(FEATURES),
        "feature_grid": FEATURE_GRID,
        "levels": list(LEVELS),
        "roi_level": _ROI_LEVEL,
        "rois": list(ROIS),
        "preset": preset.as_dict(),
        "subjects": [f"sub-{s:02d}" for s in range(1, preset.n_subjects + 1)],
        "short_runs": [r[0] for r in short_rows],
    }
    _write_json(deriv / "simulation.json", record, indent=2)
    _write_json(root / "dataset_description.json", {
        "Name": "fmri-bench synthetic dataset (ds001506 layout)",
        "License": "CC0",
        "Authors": ["fmri-bench simulate"],
        "Acknowledgements": "",
        "HowToAcknowledge": "",
        "Funding": "",
        "ReferencesAndLinks": [
            "Shen, Horikawa, Majima, and Kamitani (2019) Deep image reconstruction from human brain activity. "
            "PLOS Computational Biology. http://dx.doi.org/10.1371/journal.pcbi.1006633 (layout imitated)"
        ],
        "DatasetDOI": "",
        "BIDSVersion": "1.0.2",
    })
    (root / "README").write_text(
        "# fmri-bench synthetic dataset\n\n"
        f"SYNTHETIC data written by `fmri-bench simulate` (simulator version {SIMULATOR_VERSION}, "
        f"size={preset.name}, seed={seed}). It is laid out like OpenNeuro ds001506 1.3.x "
        "(Deep Image Reconstruction) but holds no real brain data: the BOLD comes from a known "
        "encoding model of procedural images (see fmri_bench/simulate.py and derivatives/simulation/).\n\n"
        f"- {preset.n_subjects} subjects, {preset.n_train} training images x {preset.train_reps}, "
        f"{preset.n_test} test images x {preset.test_reps}\n"
        f"- grid {nx}x{ny}x{nz} at {vs:g} mm, TR {preset.tr:g} s, SNR {preset.snr:g}\n"
        "- stimuli/<stimulus_name>.png: the images; stimulus wnids >= n90000000 are not ImageNet ids\n",
        encoding="utf-8",
    )
    (root / "CHANGES").write_text(f"{SIMULATOR_VERSION} synthetic\n  - simulated by fmri-bench\n", encoding="utf-8")
    (root / "sourcedata").mkdir(exist_ok=True)
    (root / "sourcedata" / "README").write_text(
        "# ROI mask images (synthetic)\n\n'sourcedata/sub-*/anat' holds binary ROI masks on the EPI grid, "
        "named '<subject>_mask_<hemisphere>_<ROI>.nii.gz' as in ds001506.\n", encoding="utf-8")


def noise_free_signal(root: str | os.PathLike[str], subject: str, events_path: str | os.PathLike[str],
                      n_volumes: int) -> np.ndarray:
    """Rebuild one run's noise-free signal (percent change) in the ROI voxels.

    Parameters
    ----------
    root : path-like
        The simulated BIDS root.
    subject : str
        e.g. ``"sub-01"``.
    events_path : path-like
        The run's events.tsv; its session name says whether it is a test run.
    n_volumes : int
        Volumes in the run's BOLD file.

    Returns
    -------
    ndarray, shape (n_volumes, n_roi_voxels)
        In the order of ``derivatives/simulation/<subject>/roi_voxel_index.npy``.
    """
    root = Path(root)
    info = json.loads(_record_path(root).read_text(encoding="utf-8"))
    tr = float(info["preset"]["tr"])
    split = "test" if "NaturalImageTest" in Path(events_path).name else "train"
    heights = np.load(root / "derivatives" / "simulation" / subject / f"heights_{split}.npy", allow_pickle=False)
    onset, dur, _, image = _read_events(Path(events_path))
    X = block_regressors(onset, dur, n_volumes, tr)
    return X @ heights[image - 1]


# --------------------------------------------------------------- calibration helpers


def block_average(root: str | os.PathLike[str], subject: str, split: str, *,
                  rois: tuple[str, ...] = ROIS[:10], delay_s: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """The v1 "block average" samples of one subject, for calibrating the simulator.

    Per run: linear detrend and z-score per voxel, shift by ``delay_s``, mean of the
    volumes inside each stimulus block (event_type 1; blocks past the last volume are
    dropped). Voxels: the union of ``rois`` in both hemispheres.

    Returns
    -------
    (samples (n_blocks, n_voxels), image_index (n_blocks,))
    """
    import nibabel as nib
    from scipy.signal import detrend

    root = Path(root)
    label = "Training" if split == "train" else "Test"
    mask = None
    for h in HEMISPHERES:
        for roi in rois:
            m = np.asarray(nib.load(root / "sourcedata" / subject / "anat" / f"{subject}_mask_{h}_{roi}.nii.gz").dataobj) > 0
            mask = m if mask is None else mask | m
    xs, ys = [], []
    for bold_path in sorted(root.glob(f"{subject}/ses-perceptionNaturalImage{label}*/func/*_bold.nii.gz")):
        img = nib.load(bold_path)
        tr = float(img.header.get_zooms()[3])
        data = np.asarray(img.dataobj, dtype=np.float64)[mask].T  # (T, V)
        data = detrend(data, axis=0)
        sd = data.std(axis=0)
        data = data / np.where(sd > 0, sd, 1.0)
        onset, dur, code, image = _read_events(Path(str(bold_path).replace("_bold.nii.gz", "_events.tsv")))
        times = np.arange(data.shape[0]) * tr
        for o, d, c, im in zip(onset, dur, code, image):
            if c != 1:
                continue
            sel = (times >= o + delay_s) & (times < o + d + delay_s)
            if o + d + delay_s > times[-1] + tr or not sel.any():
                continue
            xs.append(data[sel].mean(axis=0))
            ys.append(im)
    return np.asarray(xs), np.asarray(ys)


def sanity_check_accuracy(root: str | os.PathLike[str], subject: str, *, n_pairs: int = 200,
                          n_train_blocks: int = 4, n_components: int = 300, seed: int = 0) -> float:
    """Pairwise test-image classification accuracy (the seed's sanity check).

    PCA fit on the training-split samples, then for random pairs of test images an
    ``SVC(gamma='auto')`` on ``n_train_blocks`` blocks of each and tested on the rest.
    """
    from sklearn.decomposition import PCA
    from sklearn.svm import SVC

    x_train, _ = block_average(root, subject, "train")
    x_test, y_test = block_average(root, subject, "test")
    pca = PCA(n_components=min(n_components, *x_train.shape), random_state=0).fit(x_train)
    p_test = pca.transform(x_test)
    rng = np.random.default_rng(seed)
    labels = np.unique(y_test)
    accs = []
    for _ in range(n_pairs):
        a, b = rng.choice(labels, size=2, replace=False)
        tr_idx, te_idx = [], []
        for lab in (a, b):
            idx = rng.permutation(np.flatnonzero(y_test == lab))
            tr_idx.extend(idx[:n_train_blocks]), te_idx.extend(idx[n_train_blocks:])
        clf = SVC(gamma="auto").fit(p_test[tr_idx], y_test[tr_idx])
        accs.append(float(np.mean(clf.predict(p_test[te_idx]) == y_test[te_idx])))
    return float(np.mean(accs))


def load_stimuli(root: str | os.PathLike[str], split: str) -> np.ndarray:
    """The stimulus images of a split as uint8 (n, H, W, 3), in ascending image_index."""
    from PIL import Image

    root = Path(root)
    lines = (root / "derivatives" / "simulation" / "stimuli.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    rows = sorted((r for r in rows if r["split"] == split), key=lambda r: int(r["image_index"]))
    return np.stack([np.asarray(Image.open(root / "stimuli" / f"{r['stimulus_name']}.png").convert("RGB"))
                     for r in rows])


def ridge_pixel_correlation(root: str | os.PathLike[str], subject: str, *, px: int = 32) -> float:
    """Mean over pixels of the correlation across test images of ridge-predicted and true pixels.

    Ridge (alpha by leave-one-out CV) from the training block averages to the
    ``px`` x ``px`` RGB images; predictions for the test images averaged over their blocks.
    A predictor that ignores the fMRI (e.g. the mean image) scores 0.
    """
    from sklearn.linear_model import RidgeCV

    def small(imgs: np.ndarray) -> np.ndarray:
        n, h, w, _ = imgs.shape
        return imgs.reshape(n, px, h // px, px, w // px, 3).mean(axis=(2, 4)).reshape(n, -1) / 255.0

    x_train, y_train = block_average(root, subject, "train")
    x_test, y_test = block_average(root, subject, "test")
    t_train, t_test = small(load_stimuli(root, "train")), small(load_stimuli(root, "test"))
    model = RidgeCV(alphas=np.logspace(0, 5, 11)).fit(x_train, t_train[y_train - 1])
    labels = np.unique(y_test)
    x_avg = np.stack([x_test[y_test == lab].mean(axis=0) for lab in labels])
    pred = model.predict(x_avg)
    truth = t_test[labels - 1]
    pc = pred - pred.mean(axis=0)
    tc = truth - truth.mean(axis=0)
    r = (pc * tc).sum(axis=0) / np.sqrt((pc**2).sum(axis=0) * (tc**2).sum(axis=0) + 1e-12)
    return float(np.mean(r))
