"""Protocol ``brain-diffuser``: Brain-Diffuser's evaluation as its code computed it.

Source: ozcelikfu/brain-diffuser @ 31d52c01b7f204b9887024eb670065a0197f5bcc,
``scripts/eval_extract_features.py`` (lines 41-62 input loader, 73-146 networks and hooks) and
``scripts/evaluate_reconstruction.py`` (last changed in a2b35e89; lines 22-38 ``pairwise_corr_all``,
53-70 scores, 72-92 PixCorr and SSIM); pins (``environment.yml``) torch 1.12.1, torchvision
0.13.1, scikit-image 0.17.2, Pillow 9.2.0.

Images are 8-bit files in the original (425 px test PNGs, 512 px reconstructions), so a float
submission is first rounded to uint8, as saving it as a PNG would. Network inputs: Pillow
``resize((224, 224), BILINEAR)`` of both sets (torchvision 0.13.1's ``F.resize`` default on a
PIL image: bilinear, not bicubic), ``to_tensor``, ImageNet or CLIP normalization. PixCorr and
SSIM: the reconstruction resized to the targets' size with Pillow's default ``BICUBIC``
(425 px on NSD), the targets as stored.
"""

from __future__ import annotations

import functools

import numpy as np

from fmri_bench.metrics.core import FeatureSpec, Metric, MetricInputs, MetricResult, MetricUnavailable
from fmri_bench.metrics.definitions import (
    correlation_distance,
    rgb2gray,
    ssim_columns_1d,
    two_way_identification_mindeye,
)
from fmri_bench.metrics.protocols import PROTOCOLS, Protocol
from fmri_bench.metrics.resize import pil_resize
from fmri_bench.registry import Registry
from fmri_bench.stats import pearson_rows

NET_SIZE = 224
CHAIN = "pil-bilinear"
_FEAT = "ozcelikfu/brain-diffuser@31d52c01 scripts/eval_extract_features.py lines 41-146"
_SCORE = "ozcelikfu/brain-diffuser@31d52c01 scripts/evaluate_reconstruction.py"


def network_input(inputs: MetricInputs, which: str, size: int) -> np.ndarray:
    """Pillow ``resize((size, size), BILINEAR)`` of the uint8 images, then ``to_tensor`` (/ 255).

    Parameters
    ----------
    inputs : MetricInputs
    which : str
        "targets" or "recons".
    size : int
        The network input side (224).

    Returns
    -------
    ndarray, float32, shape (N, 3, size, size)
        Cached per evaluation.
    """

    def make() -> np.ndarray:
        small = pil_resize(inputs.uint8(which), size, "bilinear")
        return small.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)

    return inputs.cached((CHAIN, which, size), make)


def pixel_pair(inputs: MetricInputs) -> tuple[np.ndarray, np.ndarray]:
    """(reconstructions, targets) as float64 (N, H, W, 3) in [0, 1] at the targets' size.

    The uint8 reconstruction is resized with Pillow's default BICUBIC (lines 72-83); the
    targets are used as stored.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    (ndarray, ndarray)
    """

    def make() -> tuple[np.ndarray, np.ndarray]:
        gen = pil_resize(inputs.uint8("recons"), inputs.native_size, "bicubic") / 255.0
        return gen, inputs.uint8("targets") / 255.0

    return inputs.cached(("bd-pixels",), make)


def pixcorr(inputs: MetricInputs) -> MetricResult:
    """PixCorr: per image ``np.corrcoef(gt.reshape(1, -1), gen.reshape(1, -1))[0, 1]``; mean.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    gen, gt = pixel_pair(inputs)
    per_image = pearson_rows(gt, gen)
    return MetricResult(float(per_image.mean()), per_image)


def ssim(inputs: MetricInputs) -> MetricResult:
    """SSIM as scikit-image 0.17.2 computed ``ssim(gen, gt, multichannel=True, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1.0)`` on ``rgb2gray`` images: the mean of
    one-dimensional SSIMs down each column (:func:`~fmri_bench.metrics.definitions.ssim_columns_1d`).

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    gen, gt = pixel_pair(inputs)
    per_image = ssim_columns_1d(rgb2gray(gen), rgb2gray(gt))
    return MetricResult(float(per_image.mean()), per_image)


def identification(inputs: MetricInputs, spec: FeatureSpec) -> MetricResult:
    """``pairwise_corr_all`` (lines 22-38): MindEye's two-way identification formula.

    Parameters
    ----------
    inputs : MetricInputs
    spec : FeatureSpec

    Returns
    -------
    MetricResult
    """
    if inputs.n < 2:
        raise MetricUnavailable("identification needs at least 2 test images", permanent=True)
    t, r = inputs.features(spec)
    per_image = two_way_identification_mindeye(t, r)
    return MetricResult(float(per_image.mean()), per_image)


def distance(inputs: MetricInputs, spec: FeatureSpec) -> MetricResult:
    """Mean ``scipy.spatial.distance.correlation`` of paired features (lines 53, 66-67).

    Parameters
    ----------
    inputs : MetricInputs
    spec : FeatureSpec

    Returns
    -------
    MetricResult
    """
    t, r = inputs.features(spec)
    per_image = correlation_distance(t, r)
    return MetricResult(float(per_image.mean()), per_image)


def _deep(key: str, label: str, backbone: str, node: str, *, ident: bool = True) -> Metric:
    spec = FeatureSpec(backbone, node, CHAIN, NET_SIZE, network_input)
    kind = "two-way identification" if ident else "correlation distance (lower is better)"
    return Metric(
        key, label, f"{kind}, {backbone} {node} at 224 px (Pillow bilinear)", ident,
        functools.partial(identification if ident else distance, spec=spec), feature=spec, identification=ident,
        preprocessing="uint8, Pillow bilinear to 224 px", source=f"{_FEAT}; {_SCORE} lines 53-70",
    )  # fmt: skip


PROTOCOL = Protocol(
    name="brain-diffuser",
    version=1,
    title="Brain-Diffuser (Ozcelik & VanRullen 2023) evaluation as its code computed it",
    sources=(
        "ozcelikfu/brain-diffuser @ 31d52c01b7f204b9887024eb670065a0197f5bcc, scripts/eval_extract_features.py, "
        "scripts/evaluate_reconstruction.py",
        "pins: torch 1.12.1, torchvision 0.13.1, scikit-image 0.17.2, Pillow 9.2.0",
    ),
    notes=(
        "network inputs are Pillow BILINEAR at 224 px (torchvision 0.13.1's default for PIL images), "
        "not bicubic; bicubic is only the reconstruction's resize for PixCorr and SSIM",
        "SSIM is scikit-image 0.17's multichannel=True on grey images: a mean of column-wise 1-D SSIMs",
        "EffNet-B uses IMAGENET1K_V1 (efficientnet_b1_rwightman-bac287d4.pth, named -533bc792 before "
        "torchvision 0.16), what efficientnet_b1(weights=True) loaded in torchvision 0.13.1",
        "a float submission is rounded to uint8 first (the original scored PNG files)",
        "the published tables average subjects 1, 2, 5 and 7; fmri-bench scores one subject per row",
    ),
    metrics=Registry("metric of protocol brain-diffuser"),
)
PROTOCOL.add(Metric("pixcorr", "PixCorr", "mean Pearson r of RGB at the targets' size (425 px on NSD)", True, pixcorr, preprocessing="uint8; reconstruction to the targets' size with Pillow bicubic", source=f"{_SCORE} lines 72-91"))  # fmt: skip
PROTOCOL.add(Metric("ssim", "SSIM", "column-wise SSIM of grey images (scikit-image 0.17 multichannel)", True, ssim, preprocessing="as PixCorr, then rgb2gray (float64)", source=f"{_SCORE} lines 84-92"))  # fmt: skip
PROTOCOL.add(_deep("alexnet2", "AlexNet(2)", "alexnet", "features.4"))
PROTOCOL.add(_deep("alexnet5", "AlexNet(5)", "alexnet", "features.11"))
PROTOCOL.add(_deep("inception", "InceptionV3", "inception_v3", "avgpool"))
PROTOCOL.add(_deep("clip", "CLIP", "clip_vit_l14", "embedding"))
PROTOCOL.add(_deep("effnet", "EffNet-B", "efficientnet_b1_v1", "avgpool", ident=False))
PROTOCOL.add(_deep("swav", "SwAV", "resnet50_swav", "avgpool", ident=False))
PROTOCOLS.add(PROTOCOL.name, PROTOCOL, origin=__name__)
