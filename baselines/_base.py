"""The baseline interface, the registry, and helpers shared by the built-in baselines.

A baseline is a class registered by name in :data:`BASELINES`. Its parameters are keyword
arguments of ``__init__`` (scikit-learn style; ``--param key=value`` on the command line).
The runner (:mod:`fmri_bench.runner`) calls, per run::

    baseline = cls(**params)
    baseline.fit(TrainData(...))          # the train split of one subject, or of every subject
    images = baseline.reconstruct(subj)   # (n_test_images, H, W, 3), test images ascending

Classification baselines (``kind = "classification"``, e.g. ``svm-sanity``) implement
``evaluate(subject, train_data) -> dict`` instead of ``reconstruct``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from fmri_bench.data import PreparedSubject, average_by_label
from fmri_bench.errors import FmriBenchError
from fmri_bench.registry import Registry

BASELINES: Registry[type["Baseline"]] = Registry(
    "baseline", builtin_package="fmri_bench.baselines", entry_point_group="fmri_bench.baselines"
)


@dataclass
class TrainData:
    """Everything a baseline may train on.

    Attributes
    ----------
    subjects : list of PreparedSubject
        One subject for per-subject baselines; every prepared subject of the dataset
        version for pooled baselines (``pooled = True``).
    images_train : ndarray, uint8, shape (n_train_images, H, W, 3)
        The training stimuli, ascending image_index; row ``i`` is image_index
        ``train_image_index[i]``.
    train_image_index : ndarray of int
        The image_index of each row of ``images_train``.
    output_size : int
        Height (= width) of the test images; reconstructions are returned at this size.
    seed : int
        The run's seed.
    device : str
        ``"cpu"`` or ``"cuda"`` (already resolved from ``"auto"``).
    cache_dir : Path
        ``<data-home>/cache``: where a baseline may keep models shared between runs.
    dataset, version : str
        What is being run on.
    """

    subjects: list[PreparedSubject]
    images_train: np.ndarray
    train_image_index: np.ndarray
    output_size: int
    seed: int = 0
    device: str = "cpu"
    cache_dir: Path = field(default_factory=lambda: Path("cache"))
    dataset: str = "synthetic"
    version: str = "v1"


class Baseline:
    """Base class of every baseline.

    Subclasses set ``name`` (filled in on registration), ``kind``, ``pooled`` and
    ``description``, take their parameters as keyword arguments of ``__init__``, and
    implement ``fit`` and ``reconstruct`` (or ``evaluate`` for classification).
    """

    kind: ClassVar[str] = "reconstruction"
    #: True: ``fit`` receives every prepared subject at once (e.g. SRM alignment).
    pooled: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters and their current values."""
        import inspect

        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        return {name: getattr(self, name) for name in names}

    def fit(self, data: TrainData) -> "Baseline":  # pragma: no cover - interface
        """Train on the train split(s) in ``data``; return self."""
        raise NotImplementedError

    def reconstruct(self, subject: PreparedSubject) -> np.ndarray:  # pragma: no cover - interface
        """Return one reconstruction per test row of ``subject`` (N, H, W, 3), in [0, 1] or uint8."""
        raise NotImplementedError

    def evaluate(self, subject: PreparedSubject, data: TrainData) -> dict[str, Any]:  # pragma: no cover
        """Classification baselines: return the metrics for ``subject``."""
        raise NotImplementedError


def seed_everything(seed: int) -> None:
    """Seed Python, numpy's legacy global RNG and torch; ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def images_to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) -> float32 in [0, 1]."""
    return np.asarray(images, dtype=np.float32) / 255.0


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize float images (N, H, W, 3) in [0, 1] to (N, size, size, 3), antialiased.

    Uses torch's bilinear/area interpolation (deterministic on the CPU).
    """
    import torch
    import torch.nn.functional as F

    images = np.asarray(images, dtype=np.float32)
    if images.shape[1] == size and images.shape[2] == size:
        return images
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    if size < images.shape[1]:
        y = F.interpolate(x, size=(size, size), mode="area")
    else:
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return y.numpy().transpose(0, 2, 3, 1).clip(0.0, 1.0)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (or uint8) -> uint8, rounded and clipped."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def image_rows(subject: PreparedSubject, data: TrainData, labels: np.ndarray) -> np.ndarray:
    """Rows of ``images_train`` showing the image_index ``labels``; refuse labels without an image."""
    rows = np.searchsorted(data.train_image_index, labels)
    ok = (rows < data.train_image_index.size) & (data.train_image_index[np.minimum(rows, data.train_image_index.size - 1)] == labels)
    if not ok.all():
        raise FmriBenchError(
            f"{subject.subject}: {int((~ok).sum())} training labels have no image in images_train.npy; "
            "re-run fmri-bench prepare"
        )
    return rows


def train_targets(subject: PreparedSubject, data: TrainData) -> tuple[np.ndarray, np.ndarray]:
    """Average a subject's training blocks per image; return (fmri means, row into images_train)."""
    means, labels = average_by_label(subject.train_fmri, subject.train_labels)
    return means, image_rows(subject, data, labels)


def common_images(subjects: list[PreparedSubject]) -> np.ndarray:
    """The training image_index values that every subject saw, sorted."""
    common = np.unique(subjects[0].train_labels)
    for subject in subjects[1:]:
        common = np.intersect1d(common, np.unique(subject.train_labels))
    return common
