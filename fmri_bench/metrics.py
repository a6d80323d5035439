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

from fmri_bench.registry import Registry

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
    compute: Callable[["MetricInputs"], MetricResult]
    backbone: str | None = None
    node: str | None = None
    resolution: int | None = None
    interpolation: str = "bilinear, antialias"
    identification: bool = False
    source: str = ""

    @property
    def family(self) -> str:
        """"pixel" or "deep"."""
        return "pixel" if self.backbone is None else "deep"


METRICS: Registry[Metric] = Registry("metric", entry_point_group="fmri_bench.metrics")

# Canonical column order (the NSD "standard 8", then the seed's metrics and extras).
METRIC_ORDER: list[str] = []


def _register(metric: Metric) -> Metric:
    METRICS.add(metric.key, metric, origin=__name__)
    METRIC_ORDER.append(metric.key)
    return metric


def ordered_names() -> list[str]:
    """Every registered metric key: the built-in order, then plugins alphabetically."""
    names = METRICS.names()
    return [k for k in METRIC_ORDER if k in names] + [k for k in names if k not in METRIC_ORDER]


# --------------------------------------------------------------------------- helpers


def to_float_nchw(images: np.ndarray) -> np.ndarray:
    """Return float32 (N, 3, H, W) in [0, 1] from uint8 or float (N, H, W, 3) / (N, 3, H, W)."""
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"expected a 4-d image array, got shape {arr.shape}")
    if arr.shape[-1] == 3 and arr.shape[1] != 3:
        arr = arr.transpose(0, 3, 1, 2)
    elif arr.shape[1] != 3:
        raise ValueError(f"expected (N, H, W, 3) or (N, 3, H, W), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr, dtype=np.float32) / np.float32(255)
    return np.ascontiguousarray(arr, dtype=np.float32)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize float (N, 3, H, W) images to (size, size): bilinear, antialiased, batched."""
    import torch
    import torch.nn.functional as F

    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = []
    for start in range(0, len(images), BATCH_SIZE):
        batch = torch.from_numpy(np.ascontiguousarray(images[start:start + BATCH_SIZE]))
        resized = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(resized.numpy())
    return np.concatenate(out) if out else images[:, :, :size, :size]


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between row i of ``a`` and row i of ``b`` (0 where a row is constant)."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    num = (a * b).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), 0.0)
    return np.clip(r, -1.0, 1.0)


def _standardize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def correlation_matrix(targets: np.ndarray, recons: np.ndarray) -> np.ndarray:
    """``r[i, j]`` = Pearson r between target i and reconstruction j (rows flattened)."""
    return _standardize(targets) @ _standardize(recons).T


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
    """Percentile bootstrap interval of the mean over test images (2000 resamples, seed 0)."""
    per_image = np.asarray(per_image, dtype=np.float64)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, len(per_image), size=(BOOTSTRAP_RESAMPLES, len(per_image)))
    means = per_image[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


# --------------------------------------------------------------------------- inputs


class MetricUnavailable(Exception):
    """Raised by a metric that cannot be computed here (missing weights, too few images)."""


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
    def from_arrays(cls, targets: np.ndarray, recons: np.ndarray) -> "MetricInputs":
        """Build from uint8/float arrays in (N, H, W, 3) or (N, 3, H, W)."""
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
        """``which`` ("targets"/"recons") resized to ``base`` first (if given), then to ``size``."""
        key = (which, size, base)
        if key not in self._resized:
            images = self._images(which)
            if base is not None:
                images = self.resized(which, base, base=None)
            self._resized[key] = resize_images(images, size)
        return self._resized[key]

    def plan(self, backbone: str, node: str, resolution: int | None) -> None:
        """Declare a feature node needed later, so one forward pass serves every metric."""
        self._plan.setdefault((backbone, resolution), set()).add(node)

    def features(self, backbone: str, node: str, resolution: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(target_features, recon_features)`` of ``node``, flattened, float64."""
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
                shared = (self.fingerprint, backbone, tuple(nodes), size, resolved.sha256) if which == "targets" else None
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
            _EXTRACTORS[key] = torchvision.models.feature_extraction.create_feature_extractor(
                model, return_nodes=list(nodes)
            ).eval().to(memory_format=torch.channels_last)
        forward = _EXTRACTORS[key]
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    out: dict[str, list[np.ndarray]] = {n: [] for n in nodes}
    with torch.inference_mode():
        for start in range(0, len(images), BATCH_SIZE):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + BATCH_SIZE]))
            batch = ((batch - mean_t) / std_t).contiguous(memory_format=torch.channels_last)
            result = forward(batch)
            for name in nodes:
                out[name].append(result[name].float().flatten(1).numpy().astype(np.float64))
    return {name: np.concatenate(parts) for name, parts in out.items()}


# --------------------------------------------------------------------------- pixel metrics


def pixel_mse(inputs: MetricInputs) -> MetricResult:
    """Pixel mean squared error, the seed's primary metric (lower is better).

    Definition: reconstructions are resized (bilinear, antialiased) to the target's native
    resolution; both are RGB floats in [0, 1]; the score is the mean over test images of the
    mean over pixels and channels of ``(recon - target) ** 2``. No MindEye 256 px step: the
    targets are compared as stored in ``images_test.npy``.
    """
    recons = inputs.resized("recons", inputs.native_size, base=None)
    per_image = ((recons.astype(np.float64) - inputs.targets) ** 2).reshape(inputs.n, -1).mean(axis=1)
    return MetricResult(float(per_image.mean()), per_image)


def pixcorr(inputs: MetricInputs) -> MetricResult:
    """PixCorr: mean Pearson r between flattened RGB target and reconstruction (higher is better).

    Definition (MindEye, ``Reconstruction_Metrics.py``, section "PixCorr"): both resized to
    256 px, then bilinearly to 425 px; for each image, the Pearson correlation of the
    flattened (3 x 425 x 425) vectors; averaged over images.
    """
    t = inputs.resized("targets", PIXCORR_SIZE)
    r = inputs.resized("recons", PIXCORR_SIZE)
    per_image = pearson_rows(t, r)
    return MetricResult(float(per_image.mean()), per_image)


def ssim(inputs: MetricInputs) -> MetricResult:
    """SSIM on grayscale images at 425 px (higher is better).

    Definition (MindEye, ``Reconstruction_Metrics.py``, section "SSIM"; see also
    zijin-gu/meshconv-decoding#3): both resized to 256 px, then bilinearly to 425 px;
    converted with ``skimage.color.rgb2gray``; ``skimage.metrics.structural_similarity(recon,
    target, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)``;
    averaged over images.
    """
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    t = rgb2gray(inputs.resized("targets", PIXCORR_SIZE).transpose(0, 2, 3, 1).astype(np.float64))
    r = rgb2gray(inputs.resized("recons", PIXCORR_SIZE).transpose(0, 2, 3, 1).astype(np.float64))
    per_image = np.array([
        structural_similarity(rec, tgt, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        for rec, tgt in zip(r, t)
    ])
    return MetricResult(float(per_image.mean()), per_image)


def pixel_identification(inputs: MetricInputs) -> MetricResult:
    """Pairwise identification on pixels (higher is better; chance 0.5).

    Definition (Kamitani lab: Shen, Horikawa, Majima & Kamitani 2019, "Deep image
    reconstruction from human brain activity", PLoS Comput Biol, pairwise identification):
    reconstructions resized to the target's native resolution; for each reconstruction, the
    fraction of the N-1 other targets whose pixel correlation (flattened RGB) with it is
    lower than its own target's; averaged. See :func:`two_way_identification`.
    """
    if inputs.n < 2:
        raise MetricUnavailable("identification needs at least 2 test images")
    recons = inputs.resized("recons", inputs.native_size, base=None)
    per_image = two_way_identification(inputs.targets, recons)
    return MetricResult(float(per_image.mean()), per_image)


# --------------------------------------------------------------------------- deep metrics


def _identification(inputs: MetricInputs, backbone: str, node: str, resolution: int | None) -> MetricResult:
    if inputs.n < 2:
        raise MetricUnavailable("identification needs at least 2 test images")
    t, r = inputs.features(backbone, node, resolution)
    per_image = two_way_identification(t, r)
    return MetricResult(float(per_image.mean()), per_image)


def _correlation_distance(inputs: MetricInputs, backbone: str, node: str, resolution: int | None) -> MetricResult:
    t, r = inputs.features(backbone, node, resolution)
    per_image = 1.0 - pearson_rows(t, r)
    return MetricResult(float(per_image.mean()), per_image)


def alexnet2(inputs: MetricInputs) -> MetricResult:
    """AlexNet(2): two-way identification on AlexNet ``features.4`` (higher is better).

    Network: torchvision AlexNet, IMAGENET1K_V1 (``alexnet-owt-7be5be79.pth``). Input: the
    256 px MindEye base (``Resize(256)`` in MindEye is then a no-op), ImageNet mean/std.
    Features: output of ``features.4`` (second conv block), flattened. Score: exhaustive
    two-way identification (:func:`two_way_identification`). Source: MindEye
    ``Reconstruction_Metrics.py``, "AlexNet".
    """
    return _identification(inputs, "alexnet", "features.4", 256)


def alexnet5(inputs: MetricInputs) -> MetricResult:
    """AlexNet(5): two-way identification on AlexNet ``features.11`` (higher is better).

    As :func:`alexnet2`, with the output of ``features.11`` (fifth conv block, after ReLU).
    """
    return _identification(inputs, "alexnet", "features.11", 256)


def inception(inputs: MetricInputs) -> MetricResult:
    """InceptionV3: two-way identification on the ``avgpool`` output (higher is better).

    Network: torchvision Inception v3 IMAGENET1K_V1 (``inception_v3_google-0cc3c7bd.pth``,
    ``transform_input=True`` as torchvision builds it). Input: the 256 px base resized
    bilinearly to 342 px, ImageNet mean/std. Source: MindEye, "InceptionV3".
    """
    return _identification(inputs, "inception_v3", "avgpool", 342)


def clip(inputs: MetricInputs) -> MetricResult:
    """CLIP: two-way identification on the CLIP ViT-L/14 image embedding (higher is better).

    Network: OpenAI CLIP ViT-L/14 (``ViT-L-14.pt``) through ``open_clip``; n/a when open_clip
    is not installed. Input: the 256 px base resized bilinearly to 224 px, CLIP mean/std.
    Features: ``encode_image`` (final projected embedding). Source: MindEye, "CLIP".
    """
    return _identification(inputs, "clip_vit_l14", "embedding", 224)


def effnet(inputs: MetricInputs) -> MetricResult:
    """EffNet-B: mean correlation distance on EfficientNet-B1 ``avgpool`` (lower is better).

    Network: torchvision EfficientNet-B1 (IMAGENET1K_V2 = the DEFAULT MindEye loaded;
    IMAGENET1K_V1 accepted). Input: the 256 px base resized bilinearly to 255 px, ImageNet
    mean/std. Score: mean over images of ``1 - r(target_i, recon_i)`` of the pooled
    features (``scipy.spatial.distance.correlation``). Source: MindEye, "Efficient Net".
    """
    return _correlation_distance(inputs, "efficientnet_b1", "avgpool", 255)


def swav(inputs: MetricInputs) -> MetricResult:
    """SwAV: mean correlation distance on SwAV ResNet-50 ``avgpool`` (lower is better).

    Network: torchvision ResNet-50 with ``swav_800ep_pretrain.pth.tar`` (facebookresearch/swav;
    ``module.`` prefix stripped, ``fc`` absent). Input: the 256 px base resized bilinearly to
    224 px, ImageNet mean/std. Score as :func:`effnet`. Source: MindEye, "SwAV".
    """
    return _correlation_distance(inputs, "resnet50_swav", "avgpool", 224)


FEATURE_MSE_BACKBONE = "mobilenet_v2"
FEATURE_MSE_NODE = "flatten"


def feature_mse(inputs: MetricInputs) -> MetricResult:
    """Feature MSE: the seed's deep metric, MSE of second-to-last-layer features (lower is better).

    Network (a declared choice, recorded in every row): torchvision MobileNetV2; accepted
    files are torchvision's checkpoints and the Coral dequantized ImageNet file. Features:
    the ``flatten`` node, i.e. the 1280-d globally pooled activations that feed the
    classifier (the second-to-last layer). Input: the 256 px base resized bilinearly to the
    weight file's declared size (224 px torchvision, 225 px Coral) with its normalization.
    Score: mean over images of the mean over features of ``(f(recon) - f(target)) ** 2``.
    """
    t, r = inputs.features(FEATURE_MSE_BACKBONE, FEATURE_MSE_NODE, None)
    per_image = ((r - t) ** 2).mean(axis=1)
    return MetricResult(float(per_image.mean()), per_image)


def squeezenet(inputs: MetricInputs) -> MetricResult:
    """SqueezeNet(fire9): two-way identification on SqueezeNet 1.0 ``features.12`` (higher is better).

    A light deep-feature identification that runs with the offline weights too. Network:
    torchvision SqueezeNet 1.0 (official checkpoint or the Deep-Compression ImageNet file).
    Input: the 256 px base resized bilinearly to 224 px, ImageNet mean/std. Features: the
    output of ``features.12`` (fire9, 512 x 13 x 13). Score as :func:`alexnet2`.
    """
    return _identification(inputs, "squeezenet1_0", "features.12", 224)


_MINDEYE = "MindEye (Scotti et al. 2023), MedARC-AI/fMRI-reconstruction-NSD src/Reconstruction_Metrics.py"

_register(Metric("pixel_mse", "Pixel MSE", "mean squared error of RGB pixels in [0,1] at the target's resolution",
                 False, pixel_mse, resolution=None, source="seed metric"))
_register(Metric("pixcorr", "PixCorr", "mean Pearson r of flattened RGB images at 425 px",
                 True, pixcorr, resolution=PIXCORR_SIZE, source=_MINDEYE))
_register(Metric("ssim", "SSIM", "SSIM of grayscale images at 425 px (gaussian, sigma 1.5)",
                 True, ssim, resolution=PIXCORR_SIZE, source=_MINDEYE))
_register(Metric("pixel_identification", "Pixel ident.", "pairwise identification on pixels (chance 0.5)",
                 True, pixel_identification, identification=True,
                 source="Shen et al. 2019 (Kamitani lab), pairwise identification"))
_register(Metric("alexnet2", "AlexNet(2)", "two-way identification, AlexNet features.4 at 256 px",
                 True, alexnet2, backbone="alexnet", node="features.4", resolution=256,
                 identification=True, source=_MINDEYE))
_register(Metric("alexnet5", "AlexNet(5)", "two-way identification, AlexNet features.11 at 256 px",
                 True, alexnet5, backbone="alexnet", node="features.11", resolution=256,
                 identification=True, source=_MINDEYE))
_register(Metric("inception", "InceptionV3", "two-way identification, InceptionV3 avgpool at 342 px",
                 True, inception, backbone="inception_v3", node="avgpool", resolution=342,
                 identification=True, source=_MINDEYE))
_register(Metric("clip", "CLIP", "two-way identification, CLIP ViT-L/14 image embedding at 224 px",
                 True, clip, backbone="clip_vit_l14", node="embedding", resolution=224,
                 identification=True, source=_MINDEYE))
_register(Metric("effnet", "EffNet-B", "correlation distance, EfficientNet-B1 avgpool at 255 px (lower is better)",
                 False, effnet, backbone="efficientnet_b1", node="avgpool", resolution=255, source=_MINDEYE))
_register(Metric("swav", "SwAV", "correlation distance, SwAV ResNet-50 avgpool at 224 px (lower is better)",
                 False, swav, backbone="resnet50_swav", node="avgpool", resolution=224, source=_MINDEYE))
_register(Metric("feature_mse", "Feature MSE", "MSE of MobileNetV2 penultimate (pooled) features (lower is better)",
                 False, feature_mse, backbone=FEATURE_MSE_BACKBONE, node=FEATURE_MSE_NODE, resolution=None,
                 source="seed metric; network: MobileNetV2"))
_register(Metric("squeezenet", "SqueezeNet(fire9)", "two-way identification, SqueezeNet 1.0 features.12 at 224 px",
                 True, squeezenet, backbone="squeezenet1_0", node="features.12", resolution=224,
                 identification=True, source="fmri-bench extra (MindEye's two-way identification)"))
