"""The metric machinery every protocol shares: metric and feature declarations, the inputs
of one evaluation with their caches, and network feature extraction.

A metric takes a :class:`MetricInputs` (targets and reconstructions, float in [0, 1], with
caches so that each image set is converted or resized once per protocol step and each
network runs once per image set) and returns a :class:`MetricResult`. What a metric
computes (resolutions, interpolation, SSIM variant, identification variant, network, layer,
weight file) is declared by its protocol (:mod:`fmri_bench.metrics.protocols`); the
formulas are in :mod:`fmri_bench.metrics.definitions`.

Bump :data:`METRICS_VERSION` when this machinery changes what rows hold; a protocol's own
version changes with its definitions. Every leaderboard row records both.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fmri_bench.images import to_float_nchw, to_uint8
from fmri_bench.metrics.definitions import two_way_identification

METRICS_VERSION = 2
"""Version of the metric machinery (2: scoring protocols); recorded in every row."""

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
BATCH_SIZE = 4
"""Images per forward pass of a scoring network (the networks run on the CPU, one thread in
the demo's workers). Small batches keep the activations in cache: 50 images at 224 px,
MobileNetV2 0.8 s with 4 against 1.3-1.5 s with 32, SqueezeNet 1.0 s either way (measured
back to back with glibc keeping freed memory, as the workers run). Features differ by
float rounding (about 3e-6 relative) between batch sizes, so it is part of the
target-feature cache key."""

__all__ = ["two_way_identification"]


@dataclass(frozen=True)
class MetricResult:
    """A metric's value and, where it is a mean over test images, the per-image scores."""

    value: float
    per_image: np.ndarray | None = None


@dataclass(frozen=True)
class FeatureSpec:
    """Which network features a deep metric reads, and how the network's input is made.

    Attributes
    ----------
    backbone : str
        A declared backbone (:mod:`fmri_bench.weights`), or the key of a caller's module.
    node : str
        A torchvision feature-extraction node (``features.4``), or ``"embedding"`` for a
        model's ``encode_image`` (CLIP).
    chain : str
        Names the input preparation (``"mindeye"``, ``"pil-bilinear"``): features made by
        the same chain, size and backbone come from one forward pass.
    size : int or None
        The network input side in pixels; None for the weight file's declared size.
    prepare : callable
        ``prepare(inputs, which, size) -> float32 (N, 3, size, size)`` in [0, 1]; the
        weight file's normalization is applied after it.
    """

    backbone: str
    node: str
    chain: str
    size: int | None
    prepare: Callable[[MetricInputs, str, int], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A metric of a protocol.

    Attributes
    ----------
    key : str
        Column key (``pixcorr``); unique within its protocol.
    label : str
        Column title (``PixCorr``).
    description : str
        One line for ``fmri-bench list metrics`` and the README table.
    higher_is_better : bool
        Direction used to mark the best entry.
    compute : callable
        ``compute(inputs) -> MetricResult``.
    feature : FeatureSpec or None
        The network features it uses; None for pixel metrics.
    preprocessing : str
        The resolution chain, interpolation and colour handling, in words.
    identification : bool
        A two-way / pairwise identification score (reported with a 95% interval).
    source : str
        Where the definition comes from (repository, commit, file, lines).
    """

    key: str
    label: str
    description: str
    higher_is_better: bool
    compute: Callable[[MetricInputs], MetricResult]
    feature: FeatureSpec | None = None
    preprocessing: str = ""
    identification: bool = False
    source: str = ""

    @property
    def backbone(self) -> str | None:
        """The backbone whose features it uses; None for pixel metrics."""
        return self.feature.backbone if self.feature else None

    @property
    def node(self) -> str | None:
        """The feature node it reads; None for pixel metrics."""
        return self.feature.node if self.feature else None

    @property
    def family(self) -> str:
        """ "pixel" or "deep"."""
        return "pixel" if self.feature is None else "deep"


# --------------------------------------------------------------------------- helpers


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


CUSTOM_MODEL = "caller's module (not the certified weights)"


@dataclass
class MetricInputs:
    """Targets and reconstructions of one evaluation, with shared caches.

    Attributes
    ----------
    targets, recons : ndarray, float32 (N, 3, H, W) in [0, 1]
        The reconstructions are at their own resolution; every metric resizes them itself.
    models : dict
        Backbone name -> a caller's torch module used instead of the certified weight file.
    feature_cache : mutable mapping or None
        The caller's store of certified target features (see
        :func:`fmri_bench.metrics.evaluate_detailed`).
    weights_used : dict
        Backbone -> the weight file used (``filename sha256:...``), or :data:`CUSTOM_MODEL`.
    """

    targets: np.ndarray
    recons: np.ndarray
    models: dict[str, Any] = field(default_factory=dict)
    feature_cache: Any = None
    weights_used: dict[str, str] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict)
    _features: dict[tuple, np.ndarray] = field(default_factory=dict)
    _plan: dict[tuple, set[str]] = field(default_factory=dict)
    _fingerprint: str | None = None

    @classmethod
    def from_arrays(cls, targets: np.ndarray, recons: np.ndarray, models: dict[str, Any] | None = None) -> MetricInputs:
        """Build from uint8/float arrays in (N, H, W, 3) or (N, 3, H, W).

        Parameters
        ----------
        targets, recons : ndarray, shape (N, H, W, 3) or (N, 3, H, W)
            uint8 (0-255) or float (in [0, 1]) images, in the same order; the two sets may
            differ in resolution.
        models : dict, optional
            Backbone name -> torch module to use instead of the certified weights.

        Returns
        -------
        MetricInputs
            With both sets as float32 (N, 3, H, W) and empty caches.
        """
        return cls(to_float_nchw(targets), to_float_nchw(recons), dict(models or {}))

    @property
    def n(self) -> int:
        """Number of test images."""
        return len(self.targets)

    @property
    def native_size(self) -> int:
        """The targets' own resolution (H == W)."""
        return int(self.targets.shape[-1])

    def images(self, which: str) -> np.ndarray:
        """The float32 (N, 3, H, W) images of ``which`` ("targets"; anything else: the reconstructions).

        Parameters
        ----------
        which : str

        Returns
        -------
        ndarray
        """
        return self.targets if which == "targets" else self.recons

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Return ``compute()``, computed once per evaluation for ``key``.

        Parameters
        ----------
        key : hashable
            Names the result (include the image set and every parameter).
        compute : callable
            Makes it.

        Returns
        -------
        object
            Cached: do not modify it.
        """
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def uint8(self, which: str) -> np.ndarray:
        """``which`` as uint8 (N, H, W, 3): what saving the images as 8-bit PNG files gives.

        Parameters
        ----------
        which : str

        Returns
        -------
        ndarray, uint8
            Rounded to the nearest level (uint8 input comes back exactly).
        """
        return self.cached(("uint8", which), lambda: to_uint8(self.images(which).transpose(0, 2, 3, 1)))

    def plan(self, spec: FeatureSpec) -> None:
        """Declare a feature node needed later, so one forward pass serves every metric.

        Parameters
        ----------
        spec : FeatureSpec
        """
        self._plan.setdefault((spec.backbone, spec.chain, spec.size), set()).add(spec.node)

    def _model(self, backbone: str) -> tuple[Any, Any, str | None]:
        """(model, weight file declaring its input, sha256 or None for a caller's module)."""
        from fmri_bench.weights import WeightsError, get_backbone, load_backbone

        if backbone in self.models:
            self.weights_used[backbone] = CUSTOM_MODEL
            return self.models[backbone], get_backbone(backbone).files[0], None
        try:
            model, resolved = load_backbone(backbone)
        except WeightsError as exc:
            raise MetricUnavailable(str(exc)) from None
        self.weights_used[backbone] = f"{resolved.file.filename} sha256:{resolved.sha256}"
        return model, resolved.file, resolved.sha256

    def features(self, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(target_features, recon_features)`` of ``spec``, flattened, float64.

        Every node planned for the same backbone, chain and size is extracted in the same pass.

        Parameters
        ----------
        spec : FeatureSpec

        Returns
        -------
        target_features, recon_features : ndarray, float64, shape (N, D)
            Cached; do not modify them.

        Raises
        ------
        MetricUnavailable
            The backbone's weights are unavailable (the reason is the message).
        """
        import torch

        model, wf, sha = self._model(spec.backbone)
        size = spec.size or wf.input_size
        key = (spec.backbone, spec.chain, size)
        if (*key, spec.node, "targets") not in self._features:
            nodes = tuple(sorted(self._plan.get((spec.backbone, spec.chain, spec.size), set()) | {spec.node}))
            for which in ("targets", "recons"):
                # Certified target features are shared across evaluations (reference rows,
                # several subjects): keyed by the targets' content and the weight file, and by
                # torch's thread count, whose split sums change the features' last bits.
                shared = (
                    (self.fingerprint, *key, nodes, sha, torch.get_num_threads())
                    if which == "targets" and sha
                    else None
                )
                feats = self._cached_targets(shared)
                if feats is None:
                    feats = self._extract(model, wf, nodes, spec, which, size, custom=sha is None)
                    if shared:
                        self._store_targets(shared, feats)
                for name, value in feats.items():
                    self._features[(*key, name, which)] = value
        return self._features[(*key, spec.node, "targets")], self._features[(*key, spec.node, "recons")]

    def _cached_targets(self, shared: tuple | None) -> dict[str, np.ndarray] | None:
        if shared is None:
            return None
        feats = _TARGET_FEATURES.get(shared)
        if feats is None and self.feature_cache is not None:
            feats = self.feature_cache.get(_store_key(shared))
        return feats

    def _store_targets(self, shared: tuple, feats: dict[str, np.ndarray]) -> None:
        _TARGET_FEATURES[shared] = feats
        while len(_TARGET_FEATURES) > 16:
            _TARGET_FEATURES.pop(next(iter(_TARGET_FEATURES)))
        if self.feature_cache is not None:
            self.feature_cache[_store_key(shared)] = feats

    def _extract(self, model, wf, nodes, spec, which, size, *, custom: bool) -> dict[str, np.ndarray]:
        images = spec.prepare(self, which, size)
        # Identical images (the chance reference repeats one image) run once.
        unique, inverse = _unique_images(self.images(which))
        feats = extract_features(model, nodes, images[unique], wf.mean, wf.std, channels_last=not custom)
        if len(unique) < len(images):
            feats = {name: value[inverse] for name, value in feats.items()}
        return feats

    @property
    def fingerprint(self) -> str:
        """sha1 of the targets' bytes (identifies them across evaluations)."""
        if self._fingerprint is None:
            self._fingerprint = hashlib.sha1(np.ascontiguousarray(self.targets).tobytes()).hexdigest()
        return self._fingerprint


def _store_key(shared: tuple) -> str:
    """A file-name-safe key for certified target features (content, network, preprocessing)."""
    return hashlib.sha256(repr((METRICS_VERSION, BATCH_SIZE, *shared)).encode()).hexdigest()[:40]


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


_CHANNELS_LAST: weakref.WeakSet = weakref.WeakSet()
_TARGET_FEATURES: dict[tuple, dict[str, np.ndarray]] = {}


class _Captured(Exception):
    """Raised by the last feature hook: the rest of the network need not run."""


def _forward_nodes(model: Any, nodes: tuple[str, ...], batch: Any) -> dict[str, Any]:
    """Run ``model`` until every module in ``nodes`` has produced its output; return them.

    Forward hooks on the named submodules, as the reference codes capture features, instead
    of torchvision's ``create_feature_extractor``: hooks work on any caller's module without
    tracing it with torch.fx and return the same tensors; the forward pass stops once the
    last node has its output. (Tracing was not the expensive part: about 0.4-0.5 s per
    network in ``bench/bench_score.py``, against several seconds of forward passes.) A node
    must be a submodule called once per forward pass.
    """
    captured: dict[str, Any] = {}

    def hook(name: str):
        def fn(_module, _inputs, output):
            captured[name] = output
            if len(captured) == len(nodes):
                raise _Captured

        return fn

    handles = []
    try:
        for name in nodes:
            try:
                module = model.get_submodule(name)
            except AttributeError:
                from fmri_bench.errors import FmriBenchError

                raise FmriBenchError(
                    f"{type(model).__name__} has no submodule {name!r}; expected the backbone's architecture"
                ) from None
            handles.append(module.register_forward_hook(hook(name)))
        model(batch)
    except _Captured:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return captured


def extract_features(
    model: Any,
    nodes: Sequence[str],
    images: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    channels_last: bool = True,
) -> dict[str, np.ndarray]:
    """Run ``model`` on float (N, 3, S, S) images in batches; return each node's features.

    Images are normalized ``(x - mean) / std`` per channel. ``nodes`` are submodule names
    (``features.4``, ``avgpool``), whose outputs are captured with forward hooks, or
    ``"embedding"`` for a model with ``encode_image`` (CLIP). Features are flattened to (N, D),
    float64.

    Parameters
    ----------
    model : torch.nn.Module
        The network, in eval mode.
    nodes : sequence of str
        Submodule names, or exactly ``["embedding"]``.
    images : ndarray, float32, shape (N, 3, S, S)
        Images in [0, 1], already at the network's input size.
    mean, std : sequence of float
        Per-channel (RGB) normalization of the weight file.
    channels_last : bool
        Convert the model (in place, once) and its inputs to channels-last memory format: the
        convolutions run about twice as fast on CPU (oneDNN); features differ by float rounding.

    Returns
    -------
    dict of str to ndarray
        Node name -> float64 features of shape (N, D).
    """
    import torch

    nodes = tuple(nodes)
    if nodes == ("embedding",):
        forward = lambda x: {"embedding": model.encode_image(x)}  # noqa: E731
        channels_last = False
    else:
        forward = functools.partial(_forward_nodes, model, nodes)
        if channels_last and model not in _CHANNELS_LAST:
            model.to(memory_format=torch.channels_last)
            _CHANNELS_LAST.add(model)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    out: dict[str, list[np.ndarray]] = {n: [] for n in nodes}
    with torch.inference_mode():
        for start in range(0, len(images), BATCH_SIZE):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + BATCH_SIZE]))
            batch = batch.sub(mean_t).div(std_t)
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            result = forward(batch)
            for name in nodes:
                out[name].append(result[name].float().flatten(1).numpy().astype(np.float64))
    return {name: np.concatenate(parts) for name, parts in out.items()}
