"""``pca-ridge``: PCA of the fMRI, ridge regression (alpha by cross-validation) to pixels.

The seed notebook's direct pixel decoder: standardize the voxels, keep the leading
principal components, and regress the pixels of a low-resolution copy of each training
image (e.g. 32x32 RGB) with :class:`sklearn.linear_model.RidgeCV` (efficient
leave-one-out over a grid of alphas). Reconstructions are upsampled to the test-image
size. Blurry ("soupy") by construction: it predicts the conditional mean of the pixels.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from fmri_bench.baselines._base import (
    BASELINES,
    Baseline,
    TrainData,
    image_rows,
    images_to_float,
    resize_images,
    train_targets,
)
from fmri_bench.data import PreparedSubject

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 6, 15))


def make_decoder(n_components: int, n_samples: int, n_voxels: int, alphas=DEFAULT_ALPHAS, seed: int = 0) -> Pipeline:
    """StandardScaler -> PCA(n) -> RidgeCV: the fMRI-to-target pipeline of the ridge baselines.

    ``n`` is clipped to ``min(n_components, n_samples - 1, n_voxels)``.
    """
    n = max(1, min(int(n_components), n_samples - 1, n_voxels))
    return make_pipeline(
        StandardScaler(),
        PCA(n_components=n, random_state=seed),
        RidgeCV(alphas=np.asarray(alphas, dtype=float)),
    )


@BASELINES.register("pca-ridge")
class PCARidge(Baseline):
    """PCA of the fMRI -> RidgeCV -> low-resolution pixels, upsampled.

    Parameters
    ----------
    n_components : int
        Principal components of the standardized training fMRI (clipped to the data).
    resolution : int
        Side of the decoded pixel grid (RGB), e.g. 32 -> 3072 targets.
    average_train : bool
        Average the training blocks per image before fitting (the test split is averaged too).
    """

    description = "PCA of the fMRI -> RidgeCV -> 32x32 RGB pixels, upsampled"

    def __init__(self, n_components: int = 300, resolution: int = 32, average_train: bool = True) -> None:
        self.n_components = n_components
        self.resolution = resolution
        self.average_train = average_train

    def fit(self, data: TrainData) -> "PCARidge":
        (subject,) = data.subjects
        if self.average_train:
            X, rows = train_targets(subject, data)
        else:
            X = np.asarray(subject.train_fmri, dtype=np.float32)
            rows = image_rows(subject, data, np.asarray(subject.train_labels))
        targets = resize_images(images_to_float(data.images_train), int(self.resolution))
        Y = targets[rows].reshape(len(rows), -1)
        self.decoder_ = make_decoder(self.n_components, X.shape[0], X.shape[1], seed=data.seed).fit(X, Y)
        self.output_size_ = data.output_size
        return self

    def reconstruct(self, subject: PreparedSubject) -> np.ndarray:
        r = int(self.resolution)
        pred = self.decoder_.predict(np.asarray(subject.test_fmri, dtype=np.float32))
        low = np.clip(pred, 0.0, 1.0).reshape(-1, r, r, 3).astype(np.float32)
        return resize_images(low, self.output_size_)
