"""``srm-ensemble``: srm-ridge decoding the average of every subject's shared test responses.

Every subject saw the same test images, and SRM maps every subject into one shared space.
So instead of decoding one subject's shared responses (``srm-ridge``), this baseline maps
*every* subject's test responses into the shared space with that subject's own SRM map,
averages them per test image (equal weights, or weights inverse to each subject's SRM
noise variance), and decodes the average with srm-ridge's pooled RidgeCV decoder.
Averaging ``n`` subjects divides the independent noise of the shared responses by up to
``n``.

**Not a single-subject decoder.** The reconstruction of a test image uses the test fMRI
of every prepared subject who saw it, so every subject's submission is the same ensemble
reconstruction (row for row, for the images the subjects share). Compare it with
srm-ridge as "what the group's brains give", not as another per-subject score. Training
is exactly srm-ridge's (same SRM, same decoder, same seed); only the decoded input
differs.
"""

from __future__ import annotations

import numpy as np

from fmri_bench.baselines._base import BASELINES, TrainData
from fmri_bench.baselines.srm_ridge import SRMRidge
from fmri_bench.data import PreparedSubject
from fmri_bench.errors import FmriBenchError

#: The subject weightings ``weighting`` accepts.
WEIGHTINGS = ("equal", "noise")


@BASELINES.register("srm-ensemble")
class SRMEnsemble(SRMRidge):
    """srm-ridge, decoding the (weighted) mean over subjects of the shared test responses.

    Parameters
    ----------
    features : int
        Dimension of the SRM shared space.
    n_iter : int
        SRM iterations.
    resolution : int
        Side of the decoded pixel grid (RGB).
    weighting : {"equal", "noise"}
        ``"equal"``: the plain mean over subjects. ``"noise"``: weights proportional to
        ``1 / rho2_i``, the inverse of the noise variance SRM estimated for subject ``i``
        (the inverse-variance average when the subjects' shared-space noise is
        independent).

    Attributes
    ----------
    weights_ : ndarray, shape (n_subjects,)
        The subject weights (sum 1), in the order of ``subjects_``.
    """

    description = (
        "srm-ridge decoding the mean of all subjects' shared test responses "
        "(uses every subject's test fMRI: not a single-subject decoder)"
    )

    def __init__(self, features: int = 100, n_iter: int = 10, resolution: int = 32, weighting: str = "equal") -> None:
        super().__init__(features=features, n_iter=n_iter, resolution=resolution)
        self.weighting = weighting

    def fit(self, data: TrainData) -> "SRMEnsemble":
        if self.weighting not in WEIGHTINGS:
            raise FmriBenchError(f"weighting={self.weighting!r} is not known; expected one of: {', '.join(WEIGHTINGS)}")
        super().fit(data)
        if self.weighting == "noise":
            raw = 1.0 / np.asarray(self.aligner_.srm_.rho2_, dtype=np.float64)
        else:
            raw = np.ones(len(data.subjects))
        self.weights_ = raw / raw.sum()
        # The test responses are read in reconstruct(), which is given one subject only.
        self.panel_ = list(data.subjects)
        return self

    def ensemble_shared(self, labels: np.ndarray) -> np.ndarray:
        """The weighted mean shared response of every subject who saw each test image in ``labels``.

        Parameters
        ----------
        labels : ndarray of int, shape (n,)
            Test image_index values (a subject's ``test_labels``).

        Returns
        -------
        ndarray, shape (n, k)
        """
        labels = np.asarray(labels)
        total = np.zeros((labels.size, self.aligner_.n_features_))
        weight = np.zeros(labels.size)
        for i, other in enumerate(self.panel_):
            other_labels = np.asarray(other.test_labels)
            order = np.argsort(other_labels, kind="stable")
            pos = np.minimum(np.searchsorted(other_labels, labels, sorter=order), other_labels.size - 1)
            rows = order[pos]
            seen = other_labels[rows] == labels
            if not seen.any():
                continue
            shared = self.aligner_.transform(np.asarray(other.test_fmri)[rows[seen]], i)
            total[seen] += self.weights_[i] * shared
            weight[seen] += self.weights_[i]
        if (weight <= 0).any():  # pragma: no cover - the subject itself always saw its own test images
            raise FmriBenchError("srm-ensemble: a test image was seen by no fitted subject")
        return total / weight[:, None]

    def reconstruct(self, subject: PreparedSubject) -> np.ndarray:
        if subject.subject not in self.subjects_:
            raise FmriBenchError(
                f"srm-ensemble was fit on {', '.join(self.subjects_)}; {subject.subject} is not one of them"
            )
        return self.decode(self.ensemble_shared(subject.test_labels))
