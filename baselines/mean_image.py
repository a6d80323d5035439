"""``mean-image``: the chance row. Every test image is reconstructed as the mean training image.

Any decoder that uses the brain data has to beat this on PixCorr and pixel identification.
"""

from __future__ import annotations

import numpy as np

from fmri_bench.baselines._base import BASELINES, Baseline, TrainData, images_to_float, resize_images
from fmri_bench.data import PreparedSubject


@BASELINES.register("mean-image")
class MeanImage(Baseline):
    """Predict the mean training image for every test image (ignores the fMRI)."""

    description = "chance row: the mean training image for every test image"

    def __init__(self) -> None:
        pass

    def fit(self, data: TrainData) -> "MeanImage":
        mean = images_to_float(data.images_train).mean(axis=0, keepdims=True)
        self.mean_image_ = resize_images(mean, data.output_size)[0]
        return self

    def reconstruct(self, subject: PreparedSubject) -> np.ndarray:
        return np.repeat(self.mean_image_[None], len(subject.test_labels), axis=0)
