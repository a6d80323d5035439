"""Protocol ``mindeye``: MindEye's eight NSD metrics exactly as published, plus fmri-bench's extras.

Source: MedARC-AI/fMRI-reconstruction-NSD @ 6b30ea53c0f98b0a79b8f6828b6787a5913fd08d,
``src/Reconstruction_Metrics.py`` (last changed in 195a3323): lines 89-106 (common first step),
140-162 (two-way identification), 170-187 PixCorr, 195-213 SSIM, 221-246 AlexNet, 254-271
Inception, 279-291 CLIP, 299-318 EfficientNet, 326-343 SwAV; pins (``src/environment.yaml``)
torch 2.0.1, torchvision 0.15.2, scikit-image 0.20.0. MindEye2 (MedARC-AI/MindEyeV2 @ c1847188,
``src/final_evaluations.ipynb``) runs the same metric code.

Common first step: reconstructions ``.clamp(0, 1)``; targets and reconstructions resized to
256 x 256 with torchvision 0.15.2's tensor ``Resize``, which does **not** antialias
(:func:`~fmri_bench.metrics.resize.bilinear_no_antialias`); every later resize is the same.
"""

from __future__ import annotations

import functools

import numpy as np

from fmri_bench.metrics.core import FeatureSpec, Metric, MetricInputs, MetricResult, MetricUnavailable
from fmri_bench.metrics.definitions import (
    correlation_distance,
    rgb2gray,
    ssim_gaussian_2d,
    two_way_identification,
    two_way_identification_mindeye,
)
from fmri_bench.metrics.protocols import PROTOCOLS, Protocol
from fmri_bench.metrics.resize import bilinear_antialias, bilinear_no_antialias
from fmri_bench.registry import Registry
from fmri_bench.stats import pearson_rows

BASE = 256
PIXCORR_SIZE = 425
CHAIN = "mindeye"
_REPO = "MedARC-AI/fMRI-reconstruction-NSD@6b30ea53 src/Reconstruction_Metrics.py"


def at_size(inputs: MetricInputs, which: str, size: int) -> np.ndarray:
    """MindEye's input at ``size`` px: ``clamp(0, 1)``, ``Resize((256, 256))``, then ``Resize(size)``.

    Both resizes are torchvision 0.15.2 tensor bilinear without antialiasing (lines 96-106).

    Parameters
    ----------
    inputs : MetricInputs
    which : str
        "targets" or "recons".
    size : int
        The final side in pixels (256 leaves the base unchanged).

    Returns
    -------
    ndarray, float32, shape (N, 3, size, size)
        Cached per evaluation.
    """

    def base() -> np.ndarray:
        return bilinear_no_antialias(np.clip(inputs.images(which), 0.0, 1.0), BASE)

    base_images = inputs.cached((CHAIN, which, BASE), base)
    if size == BASE:
        return base_images
    return inputs.cached((CHAIN, which, size), lambda: bilinear_no_antialias(base_images, size))


def _spec(backbone: str, node: str, size: int | None) -> FeatureSpec:
    return FeatureSpec(backbone, node, CHAIN, size, at_size)


def _need_two(inputs: MetricInputs) -> None:
    if inputs.n < 2:
        raise MetricUnavailable("identification needs at least 2 test images", permanent=True)


def pixcorr(inputs: MetricInputs) -> MetricResult:
    """PixCorr: per image, Pearson r of the flattened RGB 425 px images; mean over images.

    Lines 170-187: 256 px base, ``Resize(425)`` (no antialias), ``np.corrcoef(img, recon)[0][1]``
    of the 3 x 425 x 425 vectors. A constant image gives r = 0 here (NaN in the original).

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    per_image = pearson_rows(at_size(inputs, "targets", PIXCORR_SIZE), at_size(inputs, "recons", PIXCORR_SIZE))
    return MetricResult(float(per_image.mean()), per_image)


def ssim(inputs: MetricInputs) -> MetricResult:
    """SSIM of the grey 425 px images (lines 195-213), as scikit-image 0.20 computed it.

    ``rgb2gray`` in float32 of the 425 px images, then
    :func:`~fmri_bench.metrics.definitions.ssim_gaussian_2d` (``multichannel=True`` is ignored
    by scikit-image 0.20: plain 2-D SSIM, gaussian sigma 1.5); mean over images.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    gray = [rgb2gray(at_size(inputs, w, PIXCORR_SIZE).transpose(0, 2, 3, 1)) for w in ("recons", "targets")]
    per_image = ssim_gaussian_2d(gray[0], gray[1])
    return MetricResult(float(per_image.mean()), per_image)


def identification(inputs: MetricInputs, spec: FeatureSpec) -> MetricResult:
    """Two-way identification on network features (lines 140-162), one score per reconstruction.

    Parameters
    ----------
    inputs : MetricInputs
    spec : FeatureSpec
        The features.

    Returns
    -------
    MetricResult
    """
    _need_two(inputs)
    t, r = inputs.features(spec)
    per_image = two_way_identification_mindeye(t, r)
    return MetricResult(float(per_image.mean()), per_image)


def distance(inputs: MetricInputs, spec: FeatureSpec) -> MetricResult:
    """Mean correlation distance ``1 - r`` of paired features (lines 299-343).

    Parameters
    ----------
    inputs : MetricInputs
    spec : FeatureSpec
        The features.

    Returns
    -------
    MetricResult
    """
    t, r = inputs.features(spec)
    per_image = correlation_distance(t, r)
    return MetricResult(float(per_image.mean()), per_image)


def pixel_mse(inputs: MetricInputs) -> MetricResult:
    """Pixel MSE (fmri-bench extra, the seed's metric): reconstructions resized to the targets'
    own resolution (bilinear, antialiased), mean over pixels and channels of the squared error
    of RGB in [0, 1]; mean over images. No 256 px step.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    recons = inputs.cached(("native", "recons"), lambda: bilinear_antialias(inputs.recons, inputs.native_size))
    per_image = ((recons.astype(np.float64) - inputs.targets) ** 2).reshape(inputs.n, -1).mean(axis=1)
    return MetricResult(float(per_image.mean()), per_image)


def pixel_identification(inputs: MetricInputs) -> MetricResult:
    """Pixel identification (fmri-bench extra; Kamitani lab's pairwise identification, Shen et al.
    2019): reconstructions resized to the targets' own resolution (bilinear, antialiased);
    :func:`~fmri_bench.metrics.definitions.two_way_identification` on the flattened RGB pixels.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    _need_two(inputs)
    recons = inputs.cached(("native", "recons"), lambda: bilinear_antialias(inputs.recons, inputs.native_size))
    per_image = two_way_identification(inputs.targets, recons)
    return MetricResult(float(per_image.mean()), per_image)


def feature_mse(inputs: MetricInputs) -> MetricResult:
    """Feature MSE (fmri-bench extra, the seed's deep metric): MSE of MobileNetV2's pooled
    1280-d features (the ``flatten`` output, read at ``classifier.0``) (the second-to-last layer), at the weight file's input size
    (224 px torchvision, 225 px Coral) through MindEye's resize chain; mean over images.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    t, r = inputs.features(FEATURE_MSE)
    per_image = ((r - t) ** 2).mean(axis=1)
    return MetricResult(float(per_image.mean()), per_image)


ALEXNET2 = _spec("alexnet", "features.4", 256)
ALEXNET5 = _spec("alexnet", "features.11", 256)
INCEPTION = _spec("inception_v3", "avgpool", 342)
CLIP = _spec("clip_vit_l14", "embedding", 224)
EFFNET = _spec("efficientnet_b1", "avgpool", 255)
SWAV = _spec("resnet50_swav", "avgpool", 224)
# classifier.0 is the Dropout that receives torch.flatten's output (identity in eval mode).
FEATURE_MSE = _spec("mobilenet_v2", "classifier.0", None)
SQUEEZENET = _spec("squeezenet1_0", "features.12", 224)
_CHAIN_TEXT = "256 px, then {} px (torchvision 0.15 bilinear, no antialias)"


def _deep(key, label, description, spec, lines, *, higher=True, ident=True) -> Metric:
    fn = functools.partial(identification if ident else distance, spec=spec)
    return Metric(
        key, label, description, higher, fn, feature=spec, identification=ident,
        preprocessing=_CHAIN_TEXT.format(spec.size) if spec.size else "256 px, then the weight file's size",
        source=f"{_REPO} lines {lines}",
    )  # fmt: skip


PROTOCOL = Protocol(
    name="mindeye",
    version=1,
    title="MindEye (Scotti et al. 2023) metrics exactly as published, plus fmri-bench's extra columns",
    sources=(
        "MedARC-AI/fMRI-reconstruction-NSD @ 6b30ea53c0f98b0a79b8f6828b6787a5913fd08d, src/Reconstruction_Metrics.py",
        "pins: torch 2.0.1, torchvision 0.15.2 (tensor Resize without antialias), scikit-image 0.20.0",
    ),
    notes=(
        "every resize is torchvision 0.15.2's tensor bilinear without antialiasing, re-implemented "
        "(fmri_bench/metrics/resize.py), so the installed torchvision does not change a score",
        "MindEye ran CLIP in fp16 and every network on a GPU; fmri-bench runs them in fp32 on the CPU "
        "(or the GPU): parity is with the fp32 code path",
        "a constant image's Pearson r is 0 (NaN in the original); identification keeps MindEye's NaN rule",
        "EffNet-B uses IMAGENET1K_V2 (efficientnet_b1-c27df63c.pth), torchvision's DEFAULT that MindEye loaded",
    ),
    metrics=Registry("metric of protocol mindeye", entry_point_group="fmri_bench.metrics"),
)
_px = "seed metric (fmri-bench)"
PROTOCOL.add(Metric("pixel_mse", "Pixel MSE", "mean squared error of RGB pixels in [0,1] at the target's resolution", False, pixel_mse, preprocessing="reconstruction to the target's size (bilinear, antialiased)", source=_px))  # fmt: skip
PROTOCOL.add(Metric("pixcorr", "PixCorr", "mean Pearson r of flattened RGB images at 425 px", True, pixcorr, preprocessing=_CHAIN_TEXT.format(425), source=f"{_REPO} lines 170-187"))  # fmt: skip
PROTOCOL.add(Metric("ssim", "SSIM", "SSIM of grey images at 425 px (gaussian, sigma 1.5; scikit-image 0.20)", True, ssim, preprocessing=_CHAIN_TEXT.format(425) + ", rgb2gray (float32)", source=f"{_REPO} lines 195-213"))  # fmt: skip
PROTOCOL.add(Metric("pixel_identification", "Pixel ident.", "pairwise identification on pixels (chance 0.5)", True, pixel_identification, preprocessing="reconstruction to the target's size (bilinear, antialiased)", identification=True, source="Shen et al. 2019 (Kamitani lab), pairwise identification (fmri-bench extra)"))  # fmt: skip
PROTOCOL.add(
    _deep("alexnet2", "AlexNet(2)", "two-way identification, AlexNet features.4 at 256 px", ALEXNET2, "221-246")
)
PROTOCOL.add(
    _deep("alexnet5", "AlexNet(5)", "two-way identification, AlexNet features.11 at 256 px", ALEXNET5, "221-246")
)
PROTOCOL.add(_deep("inception", "InceptionV3", "two-way identification, InceptionV3 avgpool at 342 px", INCEPTION, "254-271"))  # fmt: skip
PROTOCOL.add(_deep("clip", "CLIP", "two-way identification, CLIP ViT-L/14 image embedding at 224 px", CLIP, "279-291"))
PROTOCOL.add(_deep("effnet", "EffNet-B", "correlation distance, EfficientNet-B1 (V2) avgpool at 255 px (lower is better)", EFFNET, "299-318", higher=False, ident=False))  # fmt: skip
PROTOCOL.add(_deep("swav", "SwAV", "correlation distance, SwAV ResNet-50 avgpool at 224 px (lower is better)", SWAV, "326-343", higher=False, ident=False))  # fmt: skip
PROTOCOL.add(Metric("feature_mse", "Feature MSE", "MSE of MobileNetV2 penultimate (pooled) features (lower is better)", False, feature_mse, feature=FEATURE_MSE, preprocessing="256 px, then the weight file's size (no antialias)", source="seed metric; network: MobileNetV2 (fmri-bench extra)"))  # fmt: skip
PROTOCOL.add(_deep("squeezenet", "SqueezeNet(fire9)", "two-way identification, SqueezeNet 1.0 features.12 at 224 px", SQUEEZENET, "140-162 (identification; the network is an fmri-bench extra)"))  # fmt: skip
PROTOCOLS.add(PROTOCOL.name, PROTOCOL, origin=__name__)
