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

from fmri_bench.raw.simulate.config import FEATURES, ROIS, SIMULATOR_VERSION, SIZES, SizePreset
from fmri_bench.raw.simulate.model import block_regressors, feature_maps, spm_hrf
from fmri_bench.raw.simulate.writer import noise_free_signal, simulate_dataset

__all__ = [
    "FEATURES",
    "ROIS",
    "SIMULATOR_VERSION",
    "SIZES",
    "SizePreset",
    "block_regressors",
    "feature_maps",
    "noise_free_signal",
    "simulate_dataset",
    "spm_hrf",
]
