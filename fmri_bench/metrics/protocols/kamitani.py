"""Protocol ``kamitani``: the Kamitani lab's pixel evaluation (bdpy + brain-decoding-cookbook).

Sources: KamitaniLab/brain-decoding-cookbook-public @ 44c673b4a5bf14c8924de16b472b3b3dc7f3a9d6,
``reconstruction/recon_eval_image.py`` (last changed in 8c16327c; lines 55-81 and 117-120
loading, 150-173 metrics, 201-221 SSIM and RMSE), calling KamitaniLab/bdpy @ d86199fc
``bdpy/evals/metrics.py`` (identical at tag 0.25; lines 9-34 profile correlation, 37-73
pattern correlation, 115-159 pairwise identification). Pins: bdpy 0.25, Pillow 9.4.0.

The evaluation resolution is the reconstruction's: every true image is
``Image.open(f).convert("RGB").resize(recon_size)`` (Pillow's default BICUBIC); the arrays are
**uint8 RGB** (a float submission is rounded to uint8, as saving it as an image would).
Every score is ``np.nanmean`` over images.
"""

from __future__ import annotations

import numpy as np

from fmri_bench.metrics.core import Metric, MetricInputs, MetricResult, MetricUnavailable
from fmri_bench.metrics.definitions import (
    pairwise_identification_bdpy,
    pattern_correlation_bdpy,
    profile_correlation_bdpy,
    rmse_per_image,
    ssim_color_torchmetrics,
)
from fmri_bench.metrics.protocols import PROTOCOLS, Protocol
from fmri_bench.metrics.resize import pil_resize
from fmri_bench.registry import Registry

_COOKBOOK = "KamitaniLab/brain-decoding-cookbook-public@44c673b4 reconstruction/recon_eval_image.py"
_BDPY = "KamitaniLab/bdpy@d86199fc bdpy/evals/metrics.py"


def arrays(inputs: MetricInputs) -> tuple[np.ndarray, np.ndarray]:
    """(reconstructions, true images) as uint8 (N, S, S, 3) at the reconstruction's size S.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    (ndarray, ndarray)
        Cached per evaluation.
    """

    def make() -> tuple[np.ndarray, np.ndarray]:
        recon = inputs.uint8("recons")
        return recon, pil_resize(inputs.uint8("targets"), recon.shape[1], "bicubic")

    return inputs.cached(("kamitani",), make)


def _nanmean(per_image: np.ndarray, what: str) -> float:
    if np.isnan(per_image).all():
        raise MetricUnavailable(f"{what} is undefined here: every image is constant", permanent=True)
    return float(np.nanmean(per_image))


def pattern_corr(inputs: MetricInputs) -> MetricResult:
    """Pixel pattern correlation: per image, Pearson r of the flattened uint8 RGB pixels
    (bdpy ``pattern_correlation``; cookbook line 153); ``np.nanmean`` over images.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    recon, true = arrays(inputs)
    per_image = pattern_correlation_bdpy(recon, true)
    return MetricResult(_nanmean(per_image, "pattern correlation"), per_image)


def profile_corr(inputs: MetricInputs) -> MetricResult:
    """Pixel profile correlation: for every pixel and channel, Pearson r across the test images
    (bdpy ``profile_correlation``; cookbook line 152); ``np.nanmean`` over positions. Not a mean
    over images: no per-image scores.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    if inputs.n < 3:
        raise MetricUnavailable("profile correlation needs at least 3 test images", permanent=True)
    recon, true = arrays(inputs)
    return MetricResult(_nanmean(profile_correlation_bdpy(recon, true), "profile correlation"))


def _ident(inputs: MetricInputs, metric: str) -> MetricResult:
    if inputs.n < 2:
        raise MetricUnavailable("identification needs at least 2 test images", permanent=True)
    recon, true = arrays(inputs)
    per_image = pairwise_identification_bdpy(recon, true, metric)
    return MetricResult(float(np.nanmean(per_image)), per_image)


def ident_corr(inputs: MetricInputs) -> MetricResult:
    """Identification accuracy by pixel pattern correlation (bdpy ``pairwise_identification``,
    ``metric="correlation"``; cookbook lines 155-160).

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    return _ident(inputs, "correlation")


def ident_euclidean(inputs: MetricInputs) -> MetricResult:
    """Identification accuracy by pixel euclidean distance (bdpy ``pairwise_identification``,
    ``metric="euclidean"``; cookbook lines 161-166).

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    return _ident(inputs, "euclidean")


def pixel_rmse(inputs: MetricInputs) -> MetricResult:
    """Pixel RMSE on the 0-255 scale, per image, in float64; mean over images.

    The cookbook's ``get_rmse`` (lines 215-221) passes the uint8 arrays to scikit-learn's
    ``mean_squared_error``, which subtracts and squares in uint8, so the published value wraps
    around modulo 256 (true (10, 200) vs reconstruction (20, 100) gives 7.62 instead of 71.06).
    fmri-bench does not reproduce that bug: this is the RMSE the code meant.

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    recon, true = arrays(inputs)
    per_image = rmse_per_image(recon, true)
    return MetricResult(float(per_image.mean()), per_image)


def ssim(inputs: MetricInputs) -> MetricResult:
    """Colour SSIM as torchmetrics <= 1.4 computes it on ``uint8 / 255`` tensors
    (cookbook ``get_ssim``, lines 201-212; :func:`~fmri_bench.metrics.definitions.ssim_color_torchmetrics`).

    Parameters
    ----------
    inputs : MetricInputs

    Returns
    -------
    MetricResult
    """
    recon, true = arrays(inputs)
    to_float = lambda a: a.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)  # noqa: E731
    per_image = ssim_color_torchmetrics(to_float(recon), to_float(true))
    return MetricResult(float(np.nanmean(per_image)), per_image)


PROTOCOL = Protocol(
    name="kamitani",
    version=1,
    title="Kamitani lab pixel evaluation (bdpy 0.25, brain-decoding-cookbook-public) at the reconstruction's size",
    sources=(
        "KamitaniLab/brain-decoding-cookbook-public @ 44c673b4a5bf14c8924de16b472b3b3dc7f3a9d6, "
        "reconstruction/recon_eval_image.py",
        "KamitaniLab/bdpy @ d86199fc0683fe257dc0a3d474a1abdc81b0249f (= tag 0.25), bdpy/evals/metrics.py",
    ),
    notes=(
        "pixel RMSE is computed in float64; the cookbook's uint8 arithmetic wraps modulo 256 (a bug not reproduced)",
        "SSIM follows torchmetrics <= 1.4 (5 px border of the SSIM map cropped); the cookbook does not pin "
        "torchmetrics and 1.5+ averages the whole map",
        "a float submission is rounded to uint8 first (the original read image files)",
    ),
    metrics=Registry("metric of protocol kamitani"),
)
_res = "uint8 at the reconstruction's size; targets resized with Pillow bicubic"
PROTOCOL.add(Metric("pattern_corr", "Pattern corr.", "per-image Pearson r of uint8 RGB pixels (bdpy)", True, pattern_corr, preprocessing=_res, source=f"{_BDPY} lines 37-73; {_COOKBOOK} line 153"))  # fmt: skip
PROTOCOL.add(Metric("profile_corr", "Profile corr.", "per-pixel Pearson r across test images (bdpy)", True, profile_corr, preprocessing=_res, source=f"{_BDPY} lines 9-34; {_COOKBOOK} line 152"))  # fmt: skip
PROTOCOL.add(Metric("ident_corr", "Ident. (corr.)", "pairwise identification by pixel correlation (chance 0.5)", True, ident_corr, preprocessing=_res, identification=True, source=f"{_BDPY} lines 115-159; {_COOKBOOK} lines 155-160"))  # fmt: skip
PROTOCOL.add(Metric("ident_euclidean", "Ident. (eucl.)", "pairwise identification by pixel euclidean distance (chance 0.5)", True, ident_euclidean, preprocessing=_res, identification=True, source=f"{_BDPY} lines 115-159; {_COOKBOOK} lines 161-166"))  # fmt: skip
PROTOCOL.add(Metric("pixel_rmse", "Pixel RMSE", "RMSE of uint8 RGB pixels on the 0-255 scale, float64 (lower is better)", False, pixel_rmse, preprocessing=_res, source=f"{_COOKBOOK} lines 215-221 (without its uint8 wrap-around)"))  # fmt: skip
PROTOCOL.add(Metric("ssim", "SSIM (colour)", "colour SSIM, 11x11 gaussian, torchmetrics <= 1.4", True, ssim, preprocessing=_res + "; / 255", source=f"{_COOKBOOK} lines 201-212 (torchmetrics StructuralSimilarityIndexMeasure)"))  # fmt: skip
PROTOCOLS.add(PROTOCOL.name, PROTOCOL, origin=__name__)
