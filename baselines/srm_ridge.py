"""``srm-ridge``: align every subject with SRM, train one ridge decoder on the pooled data.

The seed notebook aligns the three subjects with a Shared Response Model "to triple the
data": SRM (brainiak) is fit on the per-image averaged training responses of the images
every subject saw; one RidgeCV decoder maps the shared responses of all subjects (stacked)
to low-resolution pixels; a subject's test responses are reconstructed through its own
SRM map.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fmri_bench.baselines._base import (
    BASELINES,
    Baseline,
    TrainData,
    common_images,
    images_to_float,
    resize_images,
)
from fmri_bench.baselines._srm import SRMAligner
from fmri_bench.baselines.pca_ridge import DEFAULT_ALPHAS
from fmri_bench.data import PreparedSubject, average_by_label
from fmri_bench.errors import FmriBenchError


def shared_training_responses(data: TrainData, aligner: SRMAligner) -> tuple[list[np.ndarray], np.ndarray]:
    """Fit ``aligner`` on the images every subject saw; return (shared responses, image rows)."""
    common = common_images(data.subjects)
    if common.size < 3:
        raise FmriBenchError(f"SRM needs training images that every subject saw; only {common.size} are shared")
    X = []
    for subject in data.subjects:
        means, labels = average_by_label(subject.train_fmri, subject.train_labels)
        X.append(means[np.searchsorted(labels, common)])
    shared = aligner.fit_transform(X)
    return shared, np.searchsorted(data.train_image_index, common)


@BASELINES.register("srm-ridge")
class SRMRidge(Baseline):
    """SRM across subjects -> one RidgeCV decoder on the pooled shared responses -> pixels.

    Parameters
    ----------
    features : int
        Dimension of the SRM shared space.
    n_iter : int
        SRM iterations.
    resolution : int
        Side of the decoded pixel grid (RGB).
    """

    pooled = True
    description = "SRM shared space of all subjects -> one pooled RidgeCV decoder -> 32x32 RGB pixels"

    def __init__(self, features: int = 100, n_iter: int = 10, resolution: int = 32) -> None:
        self.features = features
        self.n_iter = n_iter
        self.resolution = resolution

    def fit(self, data: TrainData) -> "SRMRidge":
        self.aligner_ = SRMAligner(features=self.features, n_iter=self.n_iter, random_state=data.seed)
        shared, rows = shared_training_responses(data, self.aligner_)
        targets = resize_images(images_to_float(data.images_train), int(self.resolution))[rows]
        Y = np.tile(targets.reshape(len(rows), -1), (len(shared), 1))
        self.decoder_ = make_pipeline(StandardScaler(), RidgeCV(alphas=np.asarray(DEFAULT_ALPHAS))).fit(
            np.vstack(shared), Y
        )
        self.subjects_ = [s.subject for s in data.subjects]
        self.output_size_ = data.output_size
        return self

    def reconstruct(self, subject: PreparedSubject) -> np.ndarray:
        shared = self.aligner_.transform(subject.test_fmri, self.subjects_.index(subject.subject))
        return self.decode(shared)

    def decode(self, shared: np.ndarray) -> np.ndarray:
        """Shared responses (n, k) -> images (n, output_size, output_size, 3) in [0, 1]."""
        r = int(self.resolution)
        low = np.clip(self.decoder_.predict(shared), 0.0, 1.0).reshape(-1, r, r, 3).astype(np.float32)
        return resize_images(low, self.output_size_)
