"""``srm-ensemble``: srm-ridge decoding the average of every subject's shared test responses.

Every subject saw the same test images, and SRM maps every subject into one shared space.
So instead of decoding one subject's shared responses (``srm-ridge``), this baseline maps
*every* subject's test responses into the shared space with that subject's own SRM map,
averages them per test image (equal weights, or weights inverse to each subject's SRM
noise variance), and decodes the average with srm-ridge's pooled RidgeCV decoder.
Averaging ``n`` subjects divides the independent noise of the shared responses by up to
``n``.

**Not a single-subject decoder.** The reconstruction of a test image uses the test fMRI
of every subject, so every subject's submission is the same ensemble reconstruction.
Compare it with srm-ridge as "what the group's brains give", not as another per-subject
score. Training is exactly srm-ridge's (same SRM, same decoder, same seed); only the
decoded input differs. ``predict`` needs every subject's test rows to be the same images
in the same order (the test split averaged per image, as :func:`fmri_bench.fetch` gives it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.utils._param_validation import StrOptions

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import register

from .srm_ridge import SRMRidge

#: The subject weightings ``weighting`` accepts.
WEIGHTINGS = ("equal", "noise")


@register("srm-ensemble")
class SRMEnsemble(SRMRidge):
    """srm-ridge, decoding the (weighted) mean over subjects of the shared test responses.

    Parameters
    ----------
    features, n_iter, resolution, random_state
        As for srm-ridge.
    weighting : {"equal", "noise"}
        ``"equal"``: the plain mean over subjects. ``"noise"``: weights proportional to
        ``1 / rho2_i``, the inverse of the noise variance SRM estimated for subject ``i``.

    Attributes
    ----------
    weights_ : ndarray, shape (n_subjects,)
        The subject weights (sum 1), in the order of ``fit``.
    """

    description = (
        "srm-ridge decoding the mean of all subjects' shared test responses "
        "(uses every subject's test fMRI: not a single-subject decoder)"
    )
    _parameter_constraints = {**SRMRidge._parameter_constraints, "weighting": [StrOptions(set(WEIGHTINGS))]}

    def __init__(
        self,
        features: int = 100,
        n_iter: int = 10,
        resolution: int = 32,
        random_state: int = 0,
        weighting: str = "equal",
    ) -> None:
        super().__init__(features=features, n_iter=n_iter, resolution=resolution, random_state=random_state)
        self.weighting = weighting

    def fit(self, X: Sequence[np.ndarray], images: Sequence[np.ndarray]) -> SRMEnsemble:
        """Fit exactly as srm-ridge, then set the subject weights.

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
        super().fit(X, images)
        if self.weighting == "noise":
            raw = 1.0 / np.asarray(self.aligner_.srm_.rho2_, dtype=np.float64)
        else:
            raw = np.ones(self.n_subjects_)
        self.weights_ = raw / raw.sum()
        return self

    def predict(self, X: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Decode the weighted mean shared response; the same images for every subject.

        Parameters
        ----------
        X : list of ndarray
            Each subject's test fMRI (same images, same row order), in the order of ``fit``.

        Returns
        -------
        list of ndarray, float32 (n, H, W, 3) in [0, 1], one (identical) entry per subject
        """
        self._check_subjects(X)
        if len({len(x) for x in X}) != 1:
            raise FmriBenchError("srm-ensemble needs the same test images (rows) for every subject")
        shared = sum(w * self.aligner_.transform(x, i) for i, (w, x) in enumerate(zip(self.weights_, X)))
        images = self.decode(shared)
        return [images] * len(X)
