"""The oracle decoder: the best linear decoder of the test images' pixels from the measured test data.

Construction
------------
Let ``x`` be an image's pixels (RGB in [0, 1] at the stimulus resolution, flattened) and
``y`` the measured response to it, in the units of the v1 measurement: the run's ROI
voxels (percent signal change, before head motion and int16 rounding) linearly
detrended and z-scored per run, shifted by 4 s, averaged over each 8 s block, and
averaged over the ``k`` repetitions of a test image. The simulation says

    y = g * h(x) + e,    E[e] = 0,    Cov(e) = Sigma_e / k

with ``h(x)`` the noise-free block heights (percent), ``g_v = c_{0,v} / s_v`` the gain from
percent to measured units (``c_0``: the HRF-dependent gain of a block on its own block
average; ``s_v``: the runs' z-score scale, measured) and ``e`` one presentation's noise: the
scanner noise after the measurement (:func:`fmri_bench.raw.simulate.noise.block_noise_cov`
divided by ``s s^T``) plus the leakage of the neighbouring blocks through late and early
HRFs (``sum_{lag != 0} (g_lag g_lag^T) o C_hh``, ``C_hh`` the covariance of the heights).

The linear minimum-mean-squared-error (Wiener) estimator is

    x_hat = mu_x + C_xr (C_rr + Sigma_e / k)^{-1} (y - mu_y)

with ``r = g * h(x)`` the noise-free response. The oracle takes ``mu_x``, ``C_xr``, ``C_rr``
from the *training* images (their pixels and true noise-free responses), the noise
covariance from the model (it knows the noise level), and ``mu_y`` from the measured
training samples. It is ridge regression from the noise-free training responses to the
pixels with the regularizer ``n Sigma_e / k`` in place of ``alpha I``: no linear decoder
trained on the same images beats it in expected squared error (up to the sampling error
of their moments). It is computed in the dual (Woodbury) form, with ``n x n`` systems only:
``W = Sigma^{-1} R^T (n I + R Sigma^{-1} R^T)^{-1} X`` (``R``, ``X`` the centred training rows).

The decoder reads the motion-free ROI voxels: it knows the true model, head position included.
"""

from __future__ import annotations

import numpy as np

from fmri_bench.raw.simulate.anatomy import Subject
from fmri_bench.raw.simulate.config import ModelParams, SizePreset
from fmri_bench.raw.simulate.model import design, quantized_peaks
from fmri_bench.raw.simulate.noise import block_noise_cov, block_windows

LAGS = (-1, 0, 1, 2, 3)  # blocks before (positive) and after (negative) a block that leak into its average


class Measurement:
    """The v1 measurement of the simulated ROI voxels, accumulated run by run for the oracle.

    Parameters
    ----------
    n_voxels : int
        ROI voxels.
    n_images : dict
        Split -> images (``train``, ``test``).
    """

    def __init__(self, n_voxels: int, n_images: dict[str, int]) -> None:
        self.sums = {s: np.zeros((n, n_voxels)) for s, n in n_images.items()}
        self.counts = {s: np.zeros(n) for s, n in n_images.items()}
        self.scales = {s: [] for s in n_images}

    def add(self, split: str, images: np.ndarray, samples: np.ndarray, scale: np.ndarray) -> None:
        """Add one run's measured samples (:func:`measure_run`).

        Parameters
        ----------
        split : str
            ``train`` or ``test``.
        images : ndarray, shape (n,)
            The image_index of each sample.
        samples : ndarray, shape (n, V)
            The samples.
        scale : ndarray, shape (V,)
            The run's z-score scale.
        """
        for image, sample in zip(images, samples):
            self.sums[split][image - 1] += sample
            self.counts[split][image - 1] += 1
        self.scales[split].append(scale)

    def average(self, split: str) -> np.ndarray:
        """The repetition average per image (image_index order).

        Parameters
        ----------
        split : str
            ``train`` or ``test``.

        Returns
        -------
        ndarray, shape (n_images, V)
        """
        return self.sums[split] / np.maximum(self.counts[split], 1)[:, None]

    def sample_mean(self, split: str) -> np.ndarray:
        """The mean over every measured sample of a split.

        Parameters
        ----------
        split : str
            ``train`` or ``test``.

        Returns
        -------
        ndarray, shape (V,)
        """
        return self.sums[split].sum(axis=0) / max(self.counts[split].sum(), 1)

    def scale(self, split: str) -> np.ndarray:
        """The mean z-score scale (percent) over the split's runs.

        Parameters
        ----------
        split : str
            ``train`` or ``test``.

        Returns
        -------
        ndarray, shape (V,)
        """
        return np.mean(self.scales[split], axis=0)


def measure_run(
    series: np.ndarray, blocks: list[tuple[int, int]], windows: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The v1 measurement of one run: linear detrend, z-score per voxel, mean over each stimulus block's window.

    Parameters
    ----------
    series : ndarray, shape (T, V)
        The run's ROI voxels, percent signal change.
    blocks : list of (image_index, event_type)
        The run's blocks.
    windows : list of ndarray
        :func:`fmri_bench.raw.simulate.noise.block_windows` of the blocks.

    Returns
    -------
    images : ndarray
        The image_index of each kept sample (event_type 1, window inside the run).
    samples : ndarray, shape (n, V)
    scale : ndarray, shape (V,)
        The z-score scale (percent).
    """
    n = len(series)
    trend = np.stack([np.ones(n), np.linspace(-1, 1, n)], axis=1)
    x = series.astype(np.float64)
    x -= trend @ (np.linalg.pinv(trend) @ x)  # scipy.signal.detrend's linear detrend, as a projection
    sd = x.std(axis=0)
    x /= np.where(sd > 0, sd, 1.0)
    kept = [(image, w) for (image, code), w in zip(blocks, windows) if code == 1 and len(w)]
    average = np.zeros((len(kept), n))
    for row, (_, w) in enumerate(kept):
        average[row, w] = 1.0 / len(w)
    return np.array([image for image, _ in kept], dtype=np.int64), average @ x, sd


def block_gains(peaks: np.ndarray, preset: SizePreset, delay_s: float) -> np.ndarray:
    """The gain of the block ``lag`` positions earlier on a block's v1 average, per voxel, (V, 5).

    Parameters
    ----------
    peaks : ndarray, shape (V,)
        Quantized HRF peaks.
    preset : SizePreset
        ``tr``, ``block_s``.
    delay_s : float
        The measurement's shift.

    Returns
    -------
    ndarray
        Columns in :data:`LAGS` order (lag 0: the block's own image).
    """
    tr, length = preset.tr, preset.block_s
    onsets = np.array([length * (5 - k) for k in LAGS], dtype=float)  # the block of interest at 5 L
    window = ((5 * length + delay_s) / tr + np.arange(int(round(length / tr)))).astype(int)
    out = np.zeros((len(peaks), len(LAGS)))
    for p in np.unique(peaks):
        x = design(onsets, np.full(len(onsets), length), int(window[-1]) + 2, tr, float(p))
        out[peaks == p] = x[window].mean(axis=0)
    return out


def _measured_noise_cov(subj: Subject, preset: SizePreset, heights_train: np.ndarray, scale: np.ndarray) -> tuple:
    """(Sigma_e for one presentation in measured units, own-block gain g0) -- see the module docstring."""
    params = preset.params
    n_blocks = preset.images_per_run + preset.onebacks_per_run
    length = preset.initial_rest_s + preset.block_s * n_blocks + preset.final_rest_s
    run = {"n_volumes": int(round(length / preset.tr)), "n_blocks": n_blocks, "tr": preset.tr}
    run.update(block_s=preset.block_s, rest_s=preset.initial_rest_s)
    # float32: half the time of float64, reconstructions equal to 5e-5 of their range (measured)
    s32 = scale.astype(np.float32)
    cov = block_noise_cov(subj, params, run, preset.voxel_mm, np.float32)
    cov /= np.outer(s32, s32)
    gains = block_gains(quantized_peaks(subj, params.hrf_peak_step), preset, params.oracle_delay_s)
    centred = heights_train - heights_train.mean(axis=0)
    c_hh = centred.T @ centred / len(centred)
    for j, lag in enumerate(LAGS):
        if lag != 0:
            g = (gains[:, j] / scale).astype(np.float32)
            cov += np.outer(g, g) * c_hh.astype(np.float32)
    return cov, gains[:, LAGS.index(0)] / scale


def wiener_coefficients(responses: np.ndarray, noise_cov: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Dual coefficients (m, n) of the Wiener decoder: ``x_hat = mu_x + coef @ (X - mu_x)``.

    Parameters
    ----------
    responses : ndarray, shape (n, V)
        Noise-free training responses, centred.
    noise_cov : ndarray, shape (V, V)
        Covariance of the noise of the data to decode (float32 or float64: the computation's precision).
    measured : ndarray, shape (m, V)
        The data to decode, centred with the training samples' mean.

    Returns
    -------
    ndarray, float64
    """
    import scipy.linalg

    n = len(responses)
    responses, measured = responses.astype(noise_cov.dtype), measured.astype(noise_cov.dtype)
    cho = scipy.linalg.cho_factor(noise_cov, lower=True, overwrite_a=True)
    si_rt = scipy.linalg.cho_solve(cho, responses.T)  # Sigma^-1 R^T, (V, n)
    gram = n * np.eye(n) + (responses @ si_rt).astype(np.float64)
    return np.linalg.solve(gram.T, (measured @ si_rt).astype(np.float64).T).T


def oracle_reconstructions(
    subj: Subject,
    preset: SizePreset,
    heights_train: np.ndarray,
    train_images: np.ndarray,
    measurement: Measurement,
) -> np.ndarray:
    """The oracle decoder's reconstructions of the test images, uint8 at the stimulus resolution.

    Parameters
    ----------
    subj : Subject
        The subject.
    preset : SizePreset
        Timing, repetitions and the model parameters.
    heights_train : ndarray, shape (n_train, V)
        The true noise-free block heights of the training images.
    train_images : ndarray, uint8, shape (n_train, H, W, 3)
        The training stimuli.
    measurement : Measurement
        The v1 measurement of every natural-image run.

    Returns
    -------
    ndarray, uint8, shape (n_test, H, W, 3), test image_index order
    """
    scale = measurement.scale("test")
    cov, gain = _measured_noise_cov(subj, preset, heights_train, scale)
    responses = gain * heights_train
    responses -= responses.mean(axis=0)
    measured = measurement.average("test") - measurement.sample_mean("train")
    coef = wiener_coefficients(responses, cov / preset.test_reps, measured).astype(np.float32)
    pixels = train_images.reshape(len(train_images), -1).astype(np.float32) / 255.0
    mean = pixels.mean(axis=0)
    recon = mean + coef @ (pixels - mean)
    out = np.clip(np.round(recon * 255.0), 0, 255).astype(np.uint8)
    return out.reshape(len(measured), *train_images.shape[1:])


def standard_blocks(preset: SizePreset, onsets: np.ndarray, n_volumes: int, params: ModelParams) -> list[np.ndarray]:
    """The v1 measurement's block windows of a natural-image run.

    Parameters
    ----------
    preset : SizePreset
        ``tr``, ``block_s``.
    onsets : ndarray
        The run's block onsets.
    n_volumes : int
        The run's volumes.
    params : ModelParams
        ``oracle_delay_s``.

    Returns
    -------
    list of ndarray
    """
    return block_windows(onsets, n_volumes, preset.tr, preset.block_s, params.oracle_delay_s)
