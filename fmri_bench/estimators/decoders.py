"""The linear pixel decoder the ridge baselines share: fMRI -> low-resolution RGB pixels."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from fmri_bench.images import resize_images, to_float_nhwc

#: RidgeCV's alpha grid (efficient leave-one-out over it).
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 6, 15))


def make_decoder(n_components: int | None, n_samples: int, n_voxels: int, random_state: int = 0) -> Pipeline:
    """StandardScaler -> PCA(n) -> RidgeCV, or StandardScaler -> RidgeCV without ``n_components``.

    Parameters
    ----------
    n_components : int or None
        Principal components, clipped to ``min(n_components, n_samples - 1, n_voxels)``;
        None skips the PCA.
    n_samples, n_voxels : int
        The training matrix's shape.
    random_state : int
        Seed of the PCA's randomized solver.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    ridge = RidgeCV(alphas=np.asarray(DEFAULT_ALPHAS, dtype=float))
    if n_components is None:
        return make_pipeline(StandardScaler(), ridge)
    n = max(1, min(int(n_components), n_samples - 1, n_voxels))
    return make_pipeline(StandardScaler(), PCA(n_components=n, random_state=random_state), ridge)


def pixel_targets(images: np.ndarray, resolution: int) -> np.ndarray:
    """Images -> flattened ``resolution`` x ``resolution`` RGB targets in [0, 1] (box-averaged).

    Parameters
    ----------
    images : ndarray, shape (n, H, W, 3)
        uint8 or float in [0, 1].
    resolution : int
        The decoded grid's side.

    Returns
    -------
    ndarray, float32, shape (n, resolution * resolution * 3)
    """
    small = resize_images(to_float_nhwc(images), int(resolution), method="area", channels_last=True)
    return small.reshape(len(small), -1)


def pixels_to_images(pred: np.ndarray, resolution: int, output_size: int) -> np.ndarray:
    """Decoded pixels (n, r*r*3) -> float32 images (n, output_size, output_size, 3) in [0, 1].

    Parameters
    ----------
    pred : ndarray
        The decoder's output.
    resolution : int
        The decoded grid's side.
    output_size : int
        The images' side.

    Returns
    -------
    ndarray, float32
    """
    low = np.clip(pred, 0.0, 1.0).reshape(-1, resolution, resolution, 3).astype(np.float32)
    return np.clip(resize_images(low, output_size, method="area", channels_last=True), 0.0, 1.0)
