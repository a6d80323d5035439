"""``srm-ridge``: align every subject with SRM, train one ridge decoder on the pooled data.

The seed notebook aligns the three subjects with a Shared Response Model "to triple the
data": SRM (brainiak) is fit on the per-image averaged training responses of the images
every subject saw; one RidgeCV decoder maps the shared responses of all subjects (stacked)
to low-resolution pixels; a subject's test responses are reconstructed through its own
SRM map.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import MultiSubjectBaseline, register
from fmri_bench.estimators.base import check_pairs
from fmri_bench.estimators.decoders import make_decoder, pixel_targets, pixels_to_images
from fmri_bench.estimators.srm import SRMAligner, shared_images


@register("srm-ridge")
class SRMRidge(MultiSubjectBaseline):
    """SRM across subjects -> one RidgeCV decoder on the pooled shared responses -> pixels.

    Parameters
    ----------
    features : int
        Dimension of the SRM shared space.
    n_iter : int
        SRM iterations.
    resolution : int
        Side of the decoded pixel grid (RGB).
    random_state : int
        Seed of SRM's initialization.

    Attributes
    ----------
    aligner_ : SRMAligner
        The fitted shared response model.
    decoder_ : sklearn.pipeline.Pipeline
        StandardScaler -> RidgeCV on the pooled shared responses.
    n_subjects_, output_size_ : int
    """

    description = "SRM shared space of all subjects -> one pooled RidgeCV decoder -> 32x32 RGB pixels"
    _parameter_constraints = {
        "features": [Interval(Integral, 1, None, closed="left")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "resolution": [Interval(Integral, 4, 256, closed="both")],
        "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both")],
    }

    def __init__(self, features: int = 100, n_iter: int = 10, resolution: int = 32, random_state: int = 0) -> None:
        self.features = features
        self.n_iter = n_iter
        self.resolution = resolution
        self.random_state = random_state

    def fit(self, X: Sequence[np.ndarray], images: Sequence[np.ndarray]) -> SRMRidge:
        """Fit SRM on the images every subject saw, then the pooled decoder.

        Parameters
        ----------
        X : list of ndarray
            Each subject's training fMRI.
        images : list of ndarray
            Each subject's stimulus per sample.

        Returns
        -------
        self
        """
        self.check_params()
        pairs = [check_pairs(x, imgs, f"subject {i}") for i, (x, imgs) in enumerate(zip(X, images))]
        responses, shared = shared_images([p[0] for p in pairs], [p[1] for p in pairs])
        self.aligner_ = SRMAligner(features=self.features, n_iter=self.n_iter, random_state=self.random_state)
        shared_responses = self.aligner_.fit_transform(responses)
        targets = pixel_targets(shared, self.resolution)
        stacked = np.vstack(shared_responses)
        self.decoder_ = make_decoder(None, *stacked.shape).fit(stacked, np.tile(targets, (len(responses), 1)))
        self.n_subjects_ = len(responses)
        self.output_size_ = int(shared.shape[1])
        return self

    def _check_subjects(self, X: Sequence[np.ndarray]) -> None:
        if len(X) != self.n_subjects_:
            raise FmriBenchError(f"{len(X)} subjects given; the model was fit on {self.n_subjects_} (same order)")

    def predict(self, X: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Reconstruct each subject's test samples through its own SRM map.

        Parameters
        ----------
        X : list of ndarray
            Each subject's test fMRI, in the order of ``fit``.

        Returns
        -------
        list of ndarray, float32 (n_i, H, W, 3) in [0, 1]
        """
        self._check_subjects(X)
        return [self.decode(self.aligner_.transform(x, i)) for i, x in enumerate(X)]

    def decode(self, shared: np.ndarray) -> np.ndarray:
        """Shared responses (n, k) -> images (n, H, W, 3) in [0, 1].

        Parameters
        ----------
        shared : ndarray, shape (n, k)
            Responses in the shared space.

        Returns
        -------
        ndarray, float32
        """
        return pixels_to_images(self.decoder_.predict(shared), int(self.resolution), self.output_size_)
