"""The metric registry: one documented function per metric, with its exact definition.

Every metric takes a :class:`MetricInputs` (targets and reconstructions, float in [0, 1],
with caches for resized copies and network features, so that each image set is resized
once per resolution and each network runs once per image set) and returns a
:class:`MetricResult`. Resolution, interpolation and network preprocessing are declared
on each :class:`Metric` and in its docstring.

Conventions shared by the metrics (MindEye's evaluation, Scotti et al. 2023,
``MedARC-AI/fMRI-reconstruction-NSD`` ``src/Reconstruction_Metrics.py``):

- "MindEye base": targets and reconstructions are first resized to 256 x 256; the
  per-metric resize is applied to that copy.
- Every resize is bilinear with antialiasing (``torch.nn.functional.interpolate(...,
  mode="bilinear", align_corners=False, antialias=True)``, which is what
  ``torchvision.transforms.Resize`` does on tensors since torchvision 0.17).
- A Pearson correlation where one side has zero variance is defined as 0 (instead of
  NaN), so that a constant reconstruction scores as uninformative rather than breaking
  the table.

Bump :data:`METRICS_VERSION` whenever a definition changes; every leaderboard row
records it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fmri_bench.images import resize_images as _resize
from fmri_bench.images import to_float_nchw
from fmri_bench.registry import Registry
from fmri_bench.stats import correlation_matrix

METRICS_VERSION = 1
"""Version of the metric definitions; recorded in every row, bumped on any change."""

MINDEYE_BASE = 256
PIXCORR_SIZE = 425
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
BATCH_SIZE = 32


@dataclass(frozen=True)
class MetricResult:
    """A metric's value and, where it is a mean over test images, the per-image scores."""

    value: float
    per_image: np.ndarray | None = None


@dataclass(frozen=True)
class Metric:
    """A registered metric.

    Attributes
    ----------
    key : str
        Registry name and column key (``pixcorr``).
    label : str
        Column title (``PixCorr``).
    description : str
        One line for ``fmri-bench list metrics`` and the README table.
    higher_is_better : bool
        Direction used to mark the best entry.
    compute : callable
        ``compute(inputs) -> MetricResult``.
    backbone : str or None
        The backbone (``fmri_bench.weights``) whose features it uses; None for pixel metrics.
    node : str or None
        The torchvision feature-extraction node (``features.4``), or ``"embedding"``.
    resolution : int or None
        Input size in pixels; for deep metrics None means the weight file's declared size.
    identification : bool
        A two-way / pairwise identification score (reported with a 95% interval).
    source : str
        Where the definition comes from.
    """

    key: str
    label: str
    description: str
    higher_is_better: bool
    compute: Callable[[MetricInputs], MetricResult]
    backbone: str | None = None
    node: str | None = None
    resolution: int | None = None
    interpolation: str = "bilinear, antialias"
    identification: bool = False
    source: str = ""

    @property
    def family(self) -> str:
        """ "pixel" or "deep"."""
        return "pixel" if self.backbone is None else "deep"


METRICS: Registry[Metric] = Registry("metric", entry_point_group="fmri_bench.metrics")

# Canonical column order (the NSD "standard 8", then the seed's metrics and extras).
METRIC_ORDER: list[str] = []


def _register(metric: Metric) -> Metric:
    METRICS.add(metric.key, metric, origin=__name__)
    METRIC_ORDER.append(metric.key)
    return metric


def ordered_names() -> list[str]:
    """Every registered metric key: the built-in order, then plugins alphabetically.

    Returns
    -------
    list of str
    """
    names = METRICS.names()
    return [k for k in METRIC_ORDER if k in names] + [k for k in names if k not in METRIC_ORDER]


# --------------------------------------------------------------------------- helpers


def two_way_identification(target_feats: np.ndarray, recon_feats: np.ndarray) -> np.ndarray:
    """Exhaustive two-way identification, vectorized; one score per reconstruction.

    For reconstruction j, the fraction of the N-1 other targets i whose correlation with
    it is strictly lower than that of its own target:
    ``mean_{i != j} [ r(target_i, recon_j) < r(target_j, recon_j) ]``. Chance is 0.5.

    This is MindEye's ``two_way_identification`` (``np.corrcoef`` of real vs predicted
    features, ``success = r < congruents``, summed over real images, divided by N-1) and
    the pairwise identification of Kamitani's lab (Horikawa & Kamitani 2017; Shen et al.
    2019, "Deep image reconstruction from human brain activity"). One matrix product; no
    Python loop over pairs.

    Parameters
    ----------
    target_feats, recon_feats : ndarray, shape (N, ...)
        Features (or pixels) of the targets and of the reconstructions, in the same order.

    Returns
    -------
    ndarray, shape (N,)
        Per-reconstruction identification accuracy in [0, 1].
    """
    n = len(target_feats)
    if n < 2 or len(recon_feats) != n:
        raise ValueError("two-way identification needs two equally long sets of at least 2 items")
    r = correlation_matrix(target_feats, recon_feats)
    congruent = np.diag(r)
    success = r < congruent[None, :]  # the diagonal is never < itself
    return success.sum(axis=0) / (n - 1)


def bootstrap_interval(per_image: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over test images (2000 resamples, seed 0).

    Parameters
    ----------
    per_image : ndarray, shape (N,)
        Per-image scores; N must be at least 1.
    level : float
        The interval's coverage, in (0, 1).

    Returns
    -------
    (float, float)
        The lower and upper ends: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles
        of the resampled means.
    """
    per_image = np.asarray(per_image, dtype=np.float64)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, len(per_image), size=(BOOTSTRAP_RESAMPLES, len(per_image)))
    means = per_image[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


# --------------------------------------------------------------------------- inputs


class MetricUnavailable(Exception):
    """Raised by a metric that cannot be computed here (missing weights, too few images).

    Parameters
    ----------
    reason : str
        Why, in one line (shown as the n/a reason).
    permanent : bool
        True when nothing installed later can change it (too few test images); False when
        new weights or packages could (a reference row is then recomputed).
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass
class MetricInputs:
    """Targets and reconstructions of one evaluation, with shared caches.

    Attributes
    ----------
    targets, recons : ndarray, float32 (N, 3, H, W) in [0, 1]
        The reconstructions are at their own resolution; every metric resizes them itself.
    """

    targets: np.ndarray
    recons: np.ndarray
    _resized: dict[tuple[str, int, int | None], np.ndarray] = field(default_factory=dict)
    _features: dict[tuple[str, str, int, str], np.ndarray] = field(default_factory=dict)
    _plan: dict[tuple[str, int | None], set[str]] = field(default_factory=dict)
    weights_used: dict[str, str] = field(default_factory=dict)
    _fingerprint: str | None = None

    @classmethod
    def from_arrays(cls, targets: np.ndarray, recons: np.ndarray) -> MetricInputs:
        """Build from uint8/float arrays in (N, H, W, 3) or (N, 3, H, W).

        Parameters
        ----------
        targets, recons : ndarray, shape (N, H, W, 3) or (N, 3, H, W)
            uint8 (0-255) or float (in [0, 1]) images, in the same order; the two sets may
            differ in resolution.

        Returns
        -------
        MetricInputs
            With both sets as float32 (N, 3, H, W) and empty caches.
        """
        return cls(to_float_nchw(targets), to_float_nchw(recons))

    @property
    def n(self) -> int:
        """Number of test images."""
        return len(self.targets)

    @property
    def native_size(self) -> int:
        """The targets' own resolution (H == W)."""
        return int(self.targets.shape[-1])

    def _images(self, which: str) -> np.ndarray:
        return self.targets if which == "targets" else self.recons

    def resized(self, which: str, size: int, *, base: int | None = MINDEYE_BASE) -> np.ndarray:
        """``which`` ("targets"/"recons") resized to ``base`` first (if given), then to ``size``.

        Parameters
        ----------
        which : {"targets", "recons"}
            The image set (any other value means the reconstructions).
        size : int
            The output side in pixels.
        base : int or None
            The intermediate side (the MindEye base, 256); None to resize the original images.

        Returns
        -------
        ndarray, float32, shape (N, 3, size, size)
            Bilinear with antialiasing; cached, so do not modify it.
        """
        key = (which, size, base)
        if key not in self._resized:
            images = self._images(which)
            if base is not None:
                images = self.resized(which, base, base=None)
            self._resized[key] = _resize(images, size)
        return self._resized[key]

    def plan(self, backbone: str, node: str, resolution: int | None) -> None:
        """Declare a feature node needed later, so one forward pass serves every metric.

        Parameters
        ----------
        backbone : str
            A declared backbone (``fmri_bench.weights``).
        node : str
            A feature-extraction node of it, or ``"embedding"``.
        resolution : int or None
            The input size in pixels, as the metric will pass it to :meth:`features`.
        """
        self._plan.setdefault((backbone, resolution), set()).add(node)

    def features(self, backbone: str, node: str, resolution: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(target_features, recon_features)`` of ``node``, flattened, float64.

        Every node planned for ``(backbone, resolution)`` is extracted in the same pass.

        Parameters
        ----------
        backbone : str
            A declared backbone (``fmri_bench.weights``).
        node : str
            A feature-extraction node of it, or ``"embedding"``.
        resolution : int or None
            The input size in pixels (images are resized to the MindEye base, then to it);
            None for the weight file's declared input size.

        Returns
        -------
        target_features, recon_features : ndarray, float64, shape (N, D)
            Cached; do not modify them.

        Raises
        ------
        MetricUnavailable
            The backbone's weights are unavailable (the reason is the message).
        """
        from fmri_bench.weights import WeightsError, load_backbone

        try:
            model, resolved = load_backbone(backbone)
        except WeightsError as exc:
            raise MetricUnavailable(str(exc)) from None
        wf = resolved.file
        assert wf is not None and resolved.sha256 is not None
        size = resolution or wf.input_size
        self.weights_used[backbone] = f"{wf.filename} sha256:{resolved.sha256}"
        key_t = (backbone, node, size, "targets")
        if key_t not in self._features:
            nodes = sorted(self._plan.get((backbone, resolution), set()) | {node})
            for which in ("targets", "recons"):
                # The targets' features are shared across evaluations (reference rows,
                # several subjects): keyed by the targets' content and the weight file.
                shared = (
                    (self.fingerprint, backbone, tuple(nodes), size, resolved.sha256) if which == "targets" else None
                )
                feats = _TARGET_FEATURES.get(shared) if shared else None
                if feats is None:
                    images = self.resized(which, size)
                    # Identical images (the chance reference repeats one image) run once.
                    unique, inverse = _unique_images(self._images(which))
                    feats = extract_features(model, backbone, nodes, images[unique], wf.mean, wf.std)
                    if len(unique) < len(images):
                        feats = {name: value[inverse] for name, value in feats.items()}
                    if shared:
                        _TARGET_FEATURES[shared] = feats
                        while len(_TARGET_FEATURES) > 16:
                            _TARGET_FEATURES.pop(next(iter(_TARGET_FEATURES)))
                for name, value in feats.items():
                    self._features[(backbone, name, size, which)] = value
        return self._features[key_t], self._features[(backbone, node, size, "recons")]

    @property
    def fingerprint(self) -> str:
        """sha1 of the targets' bytes (identifies them across evaluations)."""
        if self._fingerprint is None:
            self._fingerprint = hashlib.sha1(np.ascontiguousarray(self.targets).tobytes()).hexdigest()
        return self._fingerprint


def _unique_images(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the distinct images (first occurrences) and, per image, its distinct index."""
    first: dict[bytes, int] = {}
    unique: list[int] = []
    inverse: list[int] = []
    for i, img in enumerate(images):
        digest = hashlib.sha1(np.ascontiguousarray(img).tobytes()).digest()
        if digest not in first:
            first[digest] = len(unique)
            unique.append(i)
        inverse.append(first[digest])
    return np.array(unique), np.array(inverse)


_EXTRACTORS: dict[tuple[int, tuple[str, ...]], Any] = {}
_TARGET_FEATURES: dict[tuple, dict[str, np.ndarray]] = {}


def extract_features(
    model: Any,
    backbone: str,
    nodes: Sequence[str],
    images: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
) -> dict[str, np.ndarray]:
    """Run ``model`` on float (N, 3, S, S) images in batches; return each node's features.

    Images are normalized ``(x - mean) / std`` per channel. ``nodes`` are torchvision
    feature-extraction node names, or ``"embedding"`` for a model with ``encode_image``
    (CLIP). Features are flattened to (N, D), float64.

    Parameters
    ----------
    model : torch.nn.Module
        The loaded network, in eval mode.
    backbone : str
        The backbone's name (not used by the computation).
    nodes : sequence of str
        Node names, or exactly ``["embedding"]``.
    images : ndarray, float32, shape (N, 3, S, S)
        Images in [0, 1], already at the network's input size.
    mean, std : sequence of float
        Per-channel (RGB) normalization of the weight file.

    Returns
    -------
    dict of str to ndarray
        Node name -> float64 features of shape (N, D).
    """
    import torch

    from fmri_bench._torchvision import torchvision

    nodes = tuple(nodes)
    if nodes == ("embedding",):
        forward = lambda x: {"embedding": model.encode_image(x)}  # noqa: E731
    else:
        key = (id(model), nodes)
        if key not in _EXTRACTORS:
            # channels_last runs the convolutions about twice as fast on CPU (oneDNN).
            _EXTRACTORS[key] = (
                torchvision.models.feature_extraction.create_feature_extractor(model, return_nodes=list(nodes))
                .eval()
                .to(memory_format=torch.channels_last)
            )
        forward = _EXTRACTORS[key]
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    out: dict[str, list[np.ndarray]] = {n: [] for n in nodes}
    with torch.inference_mode():
        for start in range(0, len(images), BATCH_SIZE):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + BATCH_SIZE]))
            batch = ((batch - mean_t) / std_t).contiguous(memory_format=torch.channels_last)
            result = forward(batch)
            for name in nodes:
                out[name].append(result[name].float().flatten(1).numpy().astype(np.float64))
    return {name: np.concatenate(parts) for name, parts in out.items()}
