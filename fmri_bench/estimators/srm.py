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

    def fit(self, X: list[np.ndarray], y=None) -> SRMAligner:
        """Fit on a list of (n_samples, n_voxels_i) arrays whose rows are the same stimuli.

        Parameters
        ----------
        X : list of ndarray, shape (n_samples, n_voxels_i)
            One array per subject (at least 2), rows in the same stimulus order.
        y : None
            Ignored (scikit-learn convention).

        Returns
        -------
        SRMAligner
            ``self``, with ``n_features_`` = min(features, n_samples - 1, smallest n_voxels_i).

        Raises
        ------
        FmriBenchError
            Fewer than 2 subjects, or subjects with different numbers of rows.
        """
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
        """Project one subject's (n_samples, n_voxels) data into the shared space (n_samples, k).

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_voxels_i)
            The subject's data, in the voxels it was fitted with.
        subject : int
            The subject's position in the list given to :meth:`fit`.

        Returns
        -------
        ndarray, float64, shape (n_samples, n_features_)
        """
        return (self.srm_.w_[subject].T @ self._zscore(X, subject).T).T

    def fit_transform(self, X: list[np.ndarray], y=None) -> list[np.ndarray]:
        """Fit, then return every subject's training data in the shared space.

        Parameters
        ----------
        X : list of ndarray, shape (n_samples, n_voxels_i)
            As for :meth:`fit`.
        y : None
            Ignored.

        Returns
        -------
        list of ndarray, float64, shape (n_samples, n_features_)
            One per subject, in the order of ``X``.
        """
        self.fit(X)
        return [self.transform(x, i) for i, x in enumerate(X)]


def shared_images(X: list[np.ndarray], images: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Average each subject's samples per image and keep the images every subject saw.

    Parameters
    ----------
    X : list of ndarray
        Each subject's samples (n_samples_i, n_voxels_i).
    images : list of ndarray
        Each subject's stimulus per sample (n_samples_i, H, W, 3).

    Returns
    -------
    responses : list of ndarray
        Per subject, one row per shared image (n_shared, n_voxels_i), rows in one order.
    shared : ndarray, shape (n_shared, H, W, 3)
        The shared images, in the order of the first subject's first occurrences.
    """
    import hashlib

    from fmri_bench.estimators.base import average_by_image

    def key(image: np.ndarray) -> bytes:
        return hashlib.sha1(np.ascontiguousarray(image).tobytes()).digest()

    averaged = [average_by_image(x, imgs) for x, imgs in zip(X, images)]
    keys = [[key(img) for img in imgs] for _, imgs in averaged]
    common = set(keys[0]).intersection(*map(set, keys[1:]))
    if len(common) < 3:
        raise FmriBenchError(f"SRM needs training images that every subject saw; only {len(common)} are shared")
    order = [k for k in keys[0] if k in common]
    responses = []
    for (means, _), subject_keys in zip(averaged, keys):
        position = {k: i for i, k in enumerate(subject_keys)}
        responses.append(means[[position[k] for k in order]])
    first = averaged[0][1]
    return responses, first[[keys[0].index(k) for k in order]]
