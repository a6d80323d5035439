"""The baseline interface (scikit-learn estimators), their registry and shared helpers.

A baseline is a scikit-learn estimator registered by name. Its parameters are keyword
arguments of ``__init__`` (``--param key=value`` on the command line), validated by
scikit-learn's ``_parameter_constraints`` before any work; fitted attributes end in ``_``;
randomness comes from ``random_state`` through local generators, never from the caller's
global state. Three kinds:

- :class:`ReconstructionBaseline` (one subject): ``fit(X, images)`` with ``X`` (n_samples,
  n_voxels) and ``images`` (n_samples, H, W, 3), the stimulus of each sample (for
  example ``images_train[y_train]`` of :func:`fmri_bench.fetch`); ``predict(X)`` returns
  float32 images in [0, 1] of the training images' size. ``clone``, ``Pipeline`` and
  ``GridSearchCV`` work on them.
- :class:`MultiSubjectBaseline` (e.g. SRM): ``fit(Xs, images)`` and ``predict(Xs)`` take
  lists with one entry per subject, in the same subject order.
- :class:`ClassificationBaseline` (a sanity check): ``fit(X, y)`` on the training split,
  ``evaluate(splits)`` -> :class:`ClassificationResult`.

Register a new baseline with ``@register("name")`` in one module of ``baselines/``, or
from another package through the ``fmri_bench.baselines`` entry-point group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from fmri_bench.errors import FmriBenchError
from fmri_bench.registry import Registry

BASELINES: Registry[type[Baseline]] = Registry(
    "baseline", builtin_package="fmri_bench.baselines", entry_point_group="fmri_bench.baselines"
)
KINDS = ("reconstruction", "classification")


def register(name: str):
    """Register a baseline class under ``name`` (``@register("my-decoder")``).

    Parameters
    ----------
    name : str
        The name ``fmri-bench run-baseline`` takes.

    Returns
    -------
    callable
        The class decorator.
    """
    return BASELINES.register(name)


class Baseline(BaseEstimator):
    """Base class of every baseline: declares what the pipeline needs to know about it.

    Class attributes (declared here, overridden by subclasses):

    - ``kind``: ``"reconstruction"`` or ``"classification"``.
    - ``multi_subject``: ``fit``/``predict`` take one entry per prepared subject.
    - ``average_test``: whether the test split is given averaged per image (the
      reconstruction benchmark) or block by block.
    - ``description``: one line for ``fmri-bench list baselines``.
    - ``generator_seeds``: the seeds of an image generator the results depend on (empty:
      none). The pipeline fits such a baseline once per seed (``set_params(generator_seed=s)``)
      and records the mean ± sd over them.
    """

    kind: ClassVar[str] = "reconstruction"
    multi_subject: ClassVar[bool] = False
    average_test: ClassVar[bool] = True
    description: ClassVar[str] = ""
    generator_seeds: ClassVar[tuple[int, ...]] = ()
    _parameter_constraints: ClassVar[dict] = {}

    def check_params(self) -> None:
        """Validate the parameters against ``_parameter_constraints`` (one-line FmriBenchError).

        The pipeline calls it before loading any data.
        """
        from sklearn.utils._param_validation import InvalidParameterError

        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise FmriBenchError(str(exc).replace("\n", " ")) from None


class ReconstructionBaseline(Baseline):
    """One subject's fMRI -> images (scikit-learn regressor-like)."""

    def fit(self, X: np.ndarray, images: np.ndarray) -> ReconstructionBaseline:  # pragma: no cover - interface
        """Train on samples ``X`` (n_samples, n_voxels) and their stimuli ``images`` (n_samples, H, W, 3).

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_voxels)
            The training fMRI.
        images : ndarray, shape (n_samples, H, W, 3)
            The stimulus of each sample (uint8, or float in [0, 1]).

        Returns
        -------
        self
        """
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        """Reconstruct one image per row of ``X``.

        Parameters
        ----------
        X : ndarray, shape (n, n_voxels)
            Test fMRI.

        Returns
        -------
        ndarray, float32, shape (n, H, W, 3), in [0, 1]
        """
        raise NotImplementedError


class MultiSubjectBaseline(Baseline):
    """Several subjects' fMRI -> images; ``fit`` and ``predict`` take one entry per subject."""

    multi_subject: ClassVar[bool] = True

    def fit(self, X: Sequence[np.ndarray], images: Sequence[np.ndarray]) -> MultiSubjectBaseline:  # pragma: no cover
        """Train on every subject's samples and stimuli (lists in one subject order).

        Parameters
        ----------
        X : list of ndarray
            Each subject's training fMRI (n_samples_i, n_voxels_i).
        images : list of ndarray
            Each subject's stimulus per sample (n_samples_i, H, W, 3).

        Returns
        -------
        self
        """
        raise NotImplementedError

    def predict(self, X: Sequence[np.ndarray]) -> list[np.ndarray]:  # pragma: no cover - interface
        """Reconstruct each subject's test samples (subjects in the order of ``fit``).

        Parameters
        ----------
        X : list of ndarray
            Each subject's test fMRI.

        Returns
        -------
        list of ndarray, float32 (n_i, H, W, 3) in [0, 1]
        """
        raise NotImplementedError


@dataclass(frozen=True)
class ClassificationResult:
    """A sanity check's outcome: an accuracy with its interval against chance.

    Attributes
    ----------
    accuracy : float
        Fraction correct.
    ci95 : tuple of float
        Its 95% interval.
    chance : float
        The accuracy of guessing.
    p_value : float
        One-sided p-value of the accuracy against chance.
    details : dict
        Anything else worth recording (split used, number of trials...), JSON-ready.
    """

    accuracy: float
    ci95: tuple[float, float]
    chance: float
    p_value: float
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict.

        Returns
        -------
        dict
        """
        return {
            "accuracy": self.accuracy,
            "ci95": list(self.ci95),
            "chance": self.chance,
            "p_value": self.p_value,
            "details": dict(self.details),
        }


class ClassificationBaseline(Baseline):
    """A sanity check that the prepared fMRI carries image information."""

    kind: ClassVar[str] = "classification"
    average_test: ClassVar[bool] = False

    def evaluate(self, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> ClassificationResult:  # pragma: no cover
        """Classify after ``fit``; ``splits`` maps a split name to its (X, y) blocks.

        Parameters
        ----------
        splits : dict
            ``{"train": (X, y), "test": (X, y)}``, every block of each split with its image row.

        Returns
        -------
        ClassificationResult
        """
        raise NotImplementedError


# --------------------------------------------------------------------------- helpers


def image_groups(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Find identical images: the first row of each distinct image, and each row's group.

    Parameters
    ----------
    images : ndarray, shape (n, ...)
        Images (any dtype).

    Returns
    -------
    first : ndarray of int, shape (n_groups,)
        Row of each distinct image's first occurrence, in order of first occurrence.
    inverse : ndarray of int, shape (n,)
        The group of every row.
    """
    index: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(len(images), dtype=np.int64)
    for i, image in enumerate(images):
        key = hashlib.sha1(np.ascontiguousarray(image).tobytes()).digest()
        if key not in index:
            index[key] = len(first)
            first.append(i)
        inverse[i] = index[key]
    return np.asarray(first, dtype=np.int64), inverse


def average_by_image(X: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average the samples that show the same image (the repetitions of a stimulus).

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_voxels)
        Samples.
    images : ndarray, shape (n_samples, H, W, 3)
        The stimulus of each sample.

    Returns
    -------
    means : ndarray, float64, shape (n_images, n_voxels)
    unique_images : ndarray, shape (n_images, H, W, 3)
        In order of first occurrence.
    """
    first, inverse = image_groups(images)
    sums = np.zeros((first.size, X.shape[1]))
    np.add.at(sums, inverse, np.asarray(X, dtype=np.float64))
    return sums / np.bincount(inverse)[:, None], np.asarray(images)[first]


def check_pairs(X: np.ndarray, images: np.ndarray, who: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Check that ``X`` and ``images`` pair up (one image per sample, RGB, square).

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_voxels)
    images : ndarray, shape (n_samples, H, W, 3)
    who : str
        Which subject, for the message.

    Returns
    -------
    (X, images) as arrays
    """
    X = np.asarray(X)
    images = np.asarray(images)
    where = f"{who}: " if who else ""
    if X.ndim != 2:
        raise FmriBenchError(f"{where}X has shape {X.shape}; expected (n_samples, n_voxels)")
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
        raise FmriBenchError(f"{where}images have shape {images.shape}; expected (n_samples, H, W, 3), square")
    if len(X) != len(images):
        raise FmriBenchError(f"{where}{len(X)} samples but {len(images)} images; expected one image per sample")
    return X, images
