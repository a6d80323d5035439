"""Kay et al. (2008)-style image identification, the analyst's side (used by calibrate_simulate.py).

An encoding model per voxel (ridge on a Gabor wavelet pyramid, alpha by exact leave-one-out)
is fitted on the training images; each measured test pattern is identified as the
candidate image whose predicted pattern correlates best with it across voxels (Kay, Naselaris,
Prenger & Gallant 2008, Nature 452:352). The features come from pymoten's static Gabor
pyramid, an implementation independent of the simulator's FFT filter bank, so the check
does not reuse the ground truth's features. pymoten is not a dependency of fmri-bench:
``pip install --no-deps pymoten==0.1.3`` (its opencv dependency is not needed for static
images).
"""

from __future__ import annotations

import numpy as np


def gabor_features(images: np.ndarray, px: int = 64) -> np.ndarray:
    """Kay's pyramid with pymoten: luminance energy at 1-16 cycles/image, signed coarse luminance and colour.

    Wavelets are one cycle apart (``filter_spacing = 1 / 0.6`` envelope sds), 8 orientations,
    on images block-averaged to ``px`` pixels: complex-cell energy of ``(R+G+B)/3 - 0.5`` at 1,
    2, 4, 8, 16 cpi and its signed simple-cell outputs at 0-4 cpi; signed outputs and energy of
    ``R-G`` and ``B-(R+G)/2`` at 0-4 cpi (the stimuli are in colour; Kay's were grey).

    Parameters
    ----------
    images : ndarray, uint8, shape (n, H, W, 3)
        The candidate images.
    px : int
        Side after block averaging.

    Returns
    -------
    features : ndarray, shape (n, n_features)
    signed : ndarray of bool
        Which columns are signed linear outputs (the others are energies).
    """
    import os

    os.environ.setdefault("TQDM_DISABLE", "1")  # pymoten's progress bars
    import moten

    n, h, w, _ = images.shape
    rgb = images.astype(np.float32).reshape(n, px, h // px, px, w // px, 3).mean(axis=(2, 4)) / 255.0
    channels = [
        (rgb.mean(-1) - 0.5, [0, 1, 2, 4, 8, 16]),
        (rgb[..., 0] - rgb[..., 1], [0, 1, 2, 4]),
        (rgb[..., 2] - 0.5 * (rgb[..., 0] + rgb[..., 1]), [0, 1, 2, 4]),
    ]
    out, signed = [], []
    for img, sfs in channels:
        pyramid = moten.pyramids.StimulusStaticGaborPyramid(
            img,
            spatial_frequencies=sfs,
            spatial_orientations=tuple(np.arange(8) * 22.5),
            include_edges=True,
            filter_spacing=1.0 / 0.6,
        )
        sin, cos = (np.asarray(a, dtype=np.float64) for a in pyramid.view.raw_project_stimulus(img))
        sf = np.asarray(pyramid.view.parameters["spatial_freq"])
        linear = sf <= 4
        for block, is_signed in (
            (np.sqrt(sin[:, sf > 0] ** 2 + cos[:, sf > 0] ** 2), False),
            (cos[:, linear], True),
            (sin[:, linear & (sf > 0)], True),
        ):
            out.append(block)
            signed.append(np.full(block.shape[1], is_signed))
    return np.concatenate(out, axis=1), np.concatenate(signed)


def compress_features(features: np.ndarray, reference: np.ndarray, signed: np.ndarray) -> np.ndarray:
    """``log(1 + x / m)`` of the energies (``m`` their median over ``reference``); signed columns scaled.

    Parameters
    ----------
    features, reference : ndarray
        Features to transform, and the training rows that set the scale.
    signed : ndarray of bool
        Signed columns.

    Returns
    -------
    ndarray
    """
    scale = np.median(np.abs(reference), axis=0) + 1e-9
    out = np.log1p(np.abs(features) / scale)
    out[:, signed] = features[:, signed] / scale[signed]
    return out


class KayEncoder:
    """Voxel-wise ridge encoding models, one alpha per voxel by exact leave-one-out (dual form).

    Parameters
    ----------
    features : ndarray, shape (n, F)
        Training images' features.
    responses : ndarray, shape (n, V)
        Their measured responses (repetition averages).
    alphas : ndarray
        The ridge penalties tried.
    """

    def __init__(self, features: np.ndarray, responses: np.ndarray, alphas: np.ndarray | None = None) -> None:
        alphas = np.logspace(-1, 5, 13) if alphas is None else alphas
        self.mu, self.sd = features.mean(0), features.std(0) + 1e-9
        self.x = (features - self.mu) / self.sd
        self.ym = responses.mean(0)
        y = responses - self.ym
        d, u = np.linalg.eigh(self.x @ self.x.T)
        keep = d > 1e-9 * d.max()  # the centred rows' null direction (the intercept) is dropped
        d, u = d[keep], u[:, keep]
        uty = u.T @ y
        best = np.full(y.shape[1], np.inf)
        self.alpha = np.zeros(y.shape[1])
        self.loo_r = np.zeros(y.shape[1])
        for a in alphas:
            g = a / (d + a)
            loo_res = (u @ (g[:, None] * uty)) / ((u**2 * g[None, :]).sum(1))[:, None]
            err = (loo_res**2).mean(0)
            pred = y - loo_res
            pc = pred - pred.mean(0)
            r = (pc * y).sum(0) / np.sqrt((pc**2).sum(0) * (y**2).sum(0) + 1e-12)
            better = err < best
            best[better], self.alpha[better], self.loo_r[better] = err[better], a, r[better]
        self.dual = np.zeros_like(y)
        for a in np.unique(self.alpha):
            m = self.alpha == a
            self.dual[:, m] = u @ ((1 / (d + a))[:, None] * uty[:, m])

    def predict(self, features: np.ndarray, voxels: np.ndarray) -> np.ndarray:
        """Predicted responses (n, len(voxels)) of candidate images.

        Parameters
        ----------
        features : ndarray
            Candidate images' features.
        voxels : ndarray
            The voxels to predict.

        Returns
        -------
        ndarray
        """
        x = (features - self.mu) / self.sd
        return x @ self.x.T @ self.dual[:, voxels] + self.ym[voxels]


def identification_accuracy(measured: np.ndarray, predicted: np.ndarray, truth: np.ndarray | None = None) -> float:
    """Fraction of measured patterns whose best-correlated predicted pattern is their own image's.

    Each voxel is centred on the candidates' mean prediction (measured data on the measured
    rows' mean): patterns relative to the mean response, as in Kay et al.

    Parameters
    ----------
    measured : ndarray, shape (m, V)
        Measured patterns.
    predicted : ndarray, shape (N, V), N >= m
        Predicted patterns of every candidate.
    truth : ndarray, optional
        Candidate row of each measured row (default: row j for j).

    Returns
    -------
    float
    """
    p = predicted - predicted.mean(0)
    y = measured - measured.mean(0)
    p = (p - p.mean(1, keepdims=True)) / (p.std(1, keepdims=True) + 1e-12)
    y = (y - y.mean(1, keepdims=True)) / (y.std(1, keepdims=True) + 1e-12)
    truth = np.arange(len(measured)) if truth is None else truth
    return float(np.mean(np.argmax(y @ p.T, axis=1) == truth))
