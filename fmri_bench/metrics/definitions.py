"""The metric definitions: one small documented function per metric, and their registration.

Each function takes a :class:`~fmri_bench.metrics.core.MetricInputs` and returns a
:class:`~fmri_bench.metrics.core.MetricResult`; its docstring gives the exact definition
and its source. Conventions shared by all metrics are in :mod:`fmri_bench.metrics.core`.
"""

from __future__ import annotations

import numpy as np

from fmri_bench.metrics.core import (
    PIXCORR_SIZE,
    Metric,
    MetricInputs,
    MetricResult,
    MetricUnavailable,
    _register,
    two_way_identification,
)
from fmri_bench.stats import pearson_rows

# --------------------------------------------------------------------------- pixel metrics


def pixel_mse(inputs: MetricInputs) -> MetricResult:
    """Pixel mean squared error, the seed's primary metric (lower is better).

    Definition: reconstructions are resized (bilinear, antialiased) to the target's native
    resolution; both are RGB floats in [0, 1]; the score is the mean over test images of the
    mean over pixels and channels of ``(recon - target) ** 2``. No MindEye 256 px step: the
    targets are compared as stored in ``images_test.npy``.

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image squared errors (float64, shape (N,)).
    """
    recons = inputs.resized("recons", inputs.native_size, base=None)
    per_image = ((recons.astype(np.float64) - inputs.targets) ** 2).reshape(inputs.n, -1).mean(axis=1)
    return MetricResult(float(per_image.mean()), per_image)


def pixcorr(inputs: MetricInputs) -> MetricResult:
    """PixCorr: mean Pearson r between flattened RGB target and reconstruction (higher is better).

    Definition (MindEye, ``Reconstruction_Metrics.py``, section "PixCorr"): both resized to
    256 px, then bilinearly to 425 px; for each image, the Pearson correlation of the
    flattened (3 x 425 x 425) vectors; averaged over images.

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image Pearson r (float64, shape (N,)).
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

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image SSIM (float64, shape (N,)).
    """
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    t = rgb2gray(inputs.resized("targets", PIXCORR_SIZE).transpose(0, 2, 3, 1).astype(np.float64))
    r = rgb2gray(inputs.resized("recons", PIXCORR_SIZE).transpose(0, 2, 3, 1).astype(np.float64))
    per_image = np.array(
        [
            structural_similarity(
                rec, tgt, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
            )
            for rec, tgt in zip(r, t)
        ]
    )
    return MetricResult(float(per_image.mean()), per_image)


def pixel_identification(inputs: MetricInputs) -> MetricResult:
    """Pairwise identification on pixels (higher is better; chance 0.5).

    Definition (Kamitani lab: Shen, Horikawa, Majima & Kamitani 2019, "Deep image
    reconstruction from human brain activity", PLoS Comput Biol, pairwise identification):
    reconstructions resized to the target's native resolution; for each reconstruction, the
    fraction of the N-1 other targets whose pixel correlation (flattened RGB) with it is
    lower than its own target's; averaged. See :func:`two_way_identification`.

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image identification accuracy in [0, 1] (shape (N,)).

    Raises
    ------
    MetricUnavailable
        Fewer than 2 test images (permanent).
    """
    if inputs.n < 2:
        raise MetricUnavailable("identification needs at least 2 test images", permanent=True)
    recons = inputs.resized("recons", inputs.native_size, base=None)
    per_image = two_way_identification(inputs.targets, recons)
    return MetricResult(float(per_image.mean()), per_image)


# --------------------------------------------------------------------------- deep metrics


def _identification(inputs: MetricInputs, backbone: str, node: str, resolution: int | None) -> MetricResult:
    if inputs.n < 2:
        raise MetricUnavailable("identification needs at least 2 test images", permanent=True)
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

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image identification accuracy in [0, 1] (shape (N,)).

    Raises
    ------
    MetricUnavailable
        Fewer than 2 test images (permanent), or the weights are unavailable.
    """
    return _identification(inputs, "alexnet", "features.4", 256)


def alexnet5(inputs: MetricInputs) -> MetricResult:
    """AlexNet(5): two-way identification on AlexNet ``features.11`` (higher is better).

    As :func:`alexnet2`, with the output of ``features.11`` (fifth conv block, after ReLU).

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image identification accuracy in [0, 1] (shape (N,)).

    Raises
    ------
    MetricUnavailable
        Fewer than 2 test images (permanent), or the weights are unavailable.
    """
    return _identification(inputs, "alexnet", "features.11", 256)


def inception(inputs: MetricInputs) -> MetricResult:
    """InceptionV3: two-way identification on the ``avgpool`` output (higher is better).

    Network: torchvision Inception v3 IMAGENET1K_V1 (``inception_v3_google-0cc3c7bd.pth``,
    ``transform_input=True`` as torchvision builds it). Input: the 256 px base resized
    bilinearly to 342 px, ImageNet mean/std. Source: MindEye, "InceptionV3".

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image identification accuracy in [0, 1] (shape (N,)).

    Raises
    ------
    MetricUnavailable
        Fewer than 2 test images (permanent), or the weights are unavailable.
    """
    return _identification(inputs, "inception_v3", "avgpool", 342)


def clip(inputs: MetricInputs) -> MetricResult:
    """CLIP: two-way identification on the CLIP ViT-L/14 image embedding (higher is better).

    Network: OpenAI CLIP ViT-L/14 (``ViT-L-14.pt``) through ``open_clip``; n/a when open_clip
    is not installed. Input: the 256 px base resized bilinearly to 224 px, CLIP mean/std.
    Features: ``encode_image`` (final projected embedding). Source: MindEye, "CLIP".

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image identification accuracy in [0, 1] (shape (N,)).

    Raises
    ------
    MetricUnavailable
        Fewer than 2 test images (permanent), or open_clip or the weights are unavailable.
    """
    return _identification(inputs, "clip_vit_l14", "embedding", 224)


def effnet(inputs: MetricInputs) -> MetricResult:
    """EffNet-B: mean correlation distance on EfficientNet-B1 ``avgpool`` (lower is better).

    Network: torchvision EfficientNet-B1 (IMAGENET1K_V2 = the DEFAULT MindEye loaded;
    IMAGENET1K_V1 accepted). Input: the 256 px base resized bilinearly to 255 px, ImageNet
    mean/std. Score: mean over images of ``1 - r(target_i, recon_i)`` of the pooled
    features (``scipy.spatial.distance.correlation``). Source: MindEye, "Efficient Net".

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image correlation distance in [0, 2] (float64, shape (N,)).

    Raises
    ------
    MetricUnavailable
        The weights are unavailable.
    """
    return _correlation_distance(inputs, "efficientnet_b1", "avgpool", 255)


def swav(inputs: MetricInputs) -> MetricResult:
    """SwAV: mean correlation distance on SwAV ResNet-50 ``avgpool`` (lower is better).

    Network: torchvision ResNet-50 with ``swav_800ep_pretrain.pth.tar`` (facebookresearch/swav;
    ``module.`` prefix stripped, ``fc`` absent). Input: the 256 px base resized bilinearly to
    224 px, ImageNet mean/std. Score as :func:`effnet`. Source: MindEye, "SwAV".

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image correlation distance in [0, 2] (float64, shape (N,)).

    Raises
    ------
    MetricUnavailable
        The weights are unavailable.
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

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image feature MSE (float64, shape (N,)).

    Raises
    ------
    MetricUnavailable
        The weights are unavailable.
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

    Parameters
    ----------
    inputs : MetricInputs
        The targets and reconstructions.

    Returns
    -------
    MetricResult
        The mean, and the per-image identification accuracy in [0, 1] (shape (N,)).

    Raises
    ------
    MetricUnavailable
        Fewer than 2 test images (permanent), or the weights are unavailable.
    """
    return _identification(inputs, "squeezenet1_0", "features.12", 224)


_MINDEYE = "MindEye (Scotti et al. 2023), MedARC-AI/fMRI-reconstruction-NSD src/Reconstruction_Metrics.py"

_register(
    Metric(
        "pixel_mse",
        "Pixel MSE",
        "mean squared error of RGB pixels in [0,1] at the target's resolution",
        False,
        pixel_mse,
        resolution=None,
        source="seed metric",
    )
)
_register(
    Metric(
        "pixcorr",
        "PixCorr",
        "mean Pearson r of flattened RGB images at 425 px",
        True,
        pixcorr,
        resolution=PIXCORR_SIZE,
        source=_MINDEYE,
    )
)
_register(
    Metric(
        "ssim",
        "SSIM",
        "SSIM of grayscale images at 425 px (gaussian, sigma 1.5)",
        True,
        ssim,
        resolution=PIXCORR_SIZE,
        source=_MINDEYE,
    )
)
_register(
    Metric(
        "pixel_identification",
        "Pixel ident.",
        "pairwise identification on pixels (chance 0.5)",
        True,
        pixel_identification,
        identification=True,
        source="Shen et al. 2019 (Kamitani lab), pairwise identification",
    )
)
_register(
    Metric(
        "alexnet2",
        "AlexNet(2)",
        "two-way identification, AlexNet features.4 at 256 px",
        True,
        alexnet2,
        backbone="alexnet",
        node="features.4",
        resolution=256,
        identification=True,
        source=_MINDEYE,
    )
)
_register(
    Metric(
        "alexnet5",
        "AlexNet(5)",
        "two-way identification, AlexNet features.11 at 256 px",
        True,
        alexnet5,
        backbone="alexnet",
        node="features.11",
        resolution=256,
        identification=True,
        source=_MINDEYE,
    )
)
_register(
    Metric(
        "inception",
        "InceptionV3",
        "two-way identification, InceptionV3 avgpool at 342 px",
        True,
        inception,
        backbone="inception_v3",
        node="avgpool",
        resolution=342,
        identification=True,
        source=_MINDEYE,
    )
)
_register(
    Metric(
        "clip",
        "CLIP",
        "two-way identification, CLIP ViT-L/14 image embedding at 224 px",
        True,
        clip,
        backbone="clip_vit_l14",
        node="embedding",
        resolution=224,
        identification=True,
        source=_MINDEYE,
    )
)
_register(
    Metric(
        "effnet",
        "EffNet-B",
        "correlation distance, EfficientNet-B1 avgpool at 255 px (lower is better)",
        False,
        effnet,
        backbone="efficientnet_b1",
        node="avgpool",
        resolution=255,
        source=_MINDEYE,
    )
)
_register(
    Metric(
        "swav",
        "SwAV",
        "correlation distance, SwAV ResNet-50 avgpool at 224 px (lower is better)",
        False,
        swav,
        backbone="resnet50_swav",
        node="avgpool",
        resolution=224,
        source=_MINDEYE,
    )
)
_register(
    Metric(
        "feature_mse",
        "Feature MSE",
        "MSE of MobileNetV2 penultimate (pooled) features (lower is better)",
        False,
        feature_mse,
        backbone=FEATURE_MSE_BACKBONE,
        node=FEATURE_MSE_NODE,
        resolution=None,
        source="seed metric; network: MobileNetV2",
    )
)
_register(
    Metric(
        "squeezenet",
        "SqueezeNet(fire9)",
        "two-way identification, SqueezeNet 1.0 features.12 at 224 px",
        True,
        squeezenet,
        backbone="squeezenet1_0",
        node="features.12",
        resolution=224,
        identification=True,
        source="fmri-bench extra (MindEye's two-way identification)",
    )
)
