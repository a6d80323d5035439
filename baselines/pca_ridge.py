"""``pca-ridge``: PCA of the fMRI, ridge regression (alpha by cross-validation) to pixels.

The seed notebook's direct pixel decoder: standardize the voxels, keep the leading
principal components, and regress the pixels of a low-resolution copy of each training
image (e.g. 32x32 RGB) with :class:`sklearn.linear_model.RidgeCV` (efficient
leave-one-out over a grid of alphas). Reconstructions are upsampled to the training
images' size. Blurry ("soupy") by construction: it predicts the conditional mean of the pixels.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval

from fmri_bench.estimators import ReconstructionBaseline, average_by_image, register
from fmri_bench.estimators.base import check_pairs
from fmri_bench.estimators.decoders import make_decoder, pixel_targets, pixels_to_images


@register("pca-ridge")
class PCARidge(ReconstructionBaseline):
    """PCA of the fMRI -> RidgeCV -> low-resolution pixels, upsampled.

    Parameters
    ----------
    n_components : int
        Principal components of the standardized training fMRI (clipped to the data).
    resolution : int
        Side of the decoded pixel grid (RGB), e.g. 32 -> 3072 targets.
    average_train : bool
        Average the samples of each training image before fitting (the test split is
        averaged per image too).
    random_state : int
        Seed of the PCA's randomized solver.

    Attributes
    ----------
    decoder_ : sklearn.pipeline.Pipeline
        StandardScaler -> PCA -> RidgeCV.
    output_size_ : int
        Side of the reconstructions (the training images').
    """

    description = "PCA of the fMRI -> RidgeCV -> 32x32 RGB pixels, upsampled"
    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "resolution": [Interval(Integral, 4, 256, closed="both")],
        "average_train": ["boolean"],
        "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both")],
    }

    def __init__(
        self, n_components: int = 300, resolution: int = 32, average_train: bool = True, random_state: int = 0
    ) -> None:
        self.n_components = n_components
        self.resolution = resolution
        self.average_train = average_train
        self.random_state = random_state

    def fit(self, X: np.ndarray, images: np.ndarray) -> PCARidge:
        """Fit the decoder on samples and their stimuli.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_voxels)
            Training fMRI.
        images : ndarray, shape (n_samples, H, W, 3)
            The stimulus of each sample.

        Returns
        -------
        self
        """
        self.check_params()
        X, images = check_pairs(X, images)
        if self.average_train:
            X, images = average_by_image(X, images)
        X = np.asarray(X, dtype=np.float32)
        Y = pixel_targets(images, self.resolution)
        self.decoder_ = make_decoder(self.n_components, X.shape[0], X.shape[1], self.random_state).fit(X, Y)
        self.output_size_ = int(images.shape[1])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Reconstruct one image per row of ``X``.

        Parameters
        ----------
        X : ndarray, shape (n, n_voxels)
            Test fMRI.

        Returns
        -------
        ndarray, float32, shape (n, H, W, 3), in [0, 1]
        """
        pred = self.decoder_.predict(np.asarray(X, dtype=np.float32))
        return pixels_to_images(pred, int(self.resolution), self.output_size_)
