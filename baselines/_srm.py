"""A scikit-learn-style wrapper around brainiak's Shared Response Model (SRM)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from fmri_bench.errors import FmriBenchError


class SRMAligner(TransformerMixin, BaseEstimator):
    """Align several subjects into one shared space with :class:`brainiak.funcalign.srm.SRM`.

    Each subject's voxels are z-scored with its own training statistics (brainiak's
    ``transform`` does not demean), then SRM finds orthonormal maps ``W_i`` (voxels_i x k)
    and a shared response ``S`` with ``X_i ~ W_i S``. A subject's new data is projected
    with ``W_i^T x``.

    Parameters
    ----------
    features : int
        Dimension ``k`` of the shared space (clipped to the samples and voxels).
    n_iter : int
        EM iterations of the probabilistic SRM.
    random_state : int
        Seed of SRM's random initialization of ``W_i``.
    """

    def __init__(self, features: int = 100, n_iter: int = 10, random_state: int = 0) -> None:
        self.features = features
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, X: list[np.ndarray], y=None) -> "SRMAligner":
        """Fit on a list of (n_samples, n_voxels_i) arrays whose rows are the same stimuli."""
        from brainiak.funcalign.srm import SRM

        if len(X) < 2:
            raise FmriBenchError(f"SRM needs at least 2 subjects to align; got {len(X)}")
        n_samples = {x.shape[0] for x in X}
        if len(n_samples) != 1:
            raise FmriBenchError(f"SRM needs the same stimuli (rows) for every subject; got {sorted(n_samples)} rows")
        X = [np.asarray(x, dtype=np.float64) for x in X]
        self.means_ = [x.mean(axis=0) for x in X]
        self.scales_ = [np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0) for x in X]
        k = int(min(self.features, X[0].shape[0] - 1, *(x.shape[1] for x in X)))
        self.n_features_ = k
        self.srm_ = SRM(n_iter=int(self.n_iter), features=k, rand_seed=int(self.random_state))
        self.srm_.fit([self._zscore(x, i).T for i, x in enumerate(X)])
        return self

    def _zscore(self, x: np.ndarray, subject: int) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.means_[subject]) / self.scales_[subject]

    def transform(self, X: np.ndarray, subject: int = 0) -> np.ndarray:
        """Project one subject's (n_samples, n_voxels) data into the shared space (n_samples, k)."""
        return (self.srm_.w_[subject].T @ self._zscore(X, subject).T).T

    def fit_transform(self, X: list[np.ndarray], y=None) -> list[np.ndarray]:
        """Fit, then return every subject's training data in the shared space."""
        self.fit(X)
        return [self.transform(x, i) for i, x in enumerate(X)]
