# ruff: noqa: B028, SIM212  (kept as the reference code wrote it)
"""Reference re-typings of the metric code that fMRI reconstruction papers published.

Vendored for the parity tests (tests/test_protocol_parity.py): the metric code of MindEye,
Brain-Diffuser and the Kamitani lab (bdpy + cookbook) re-typed faithfully as plain functions,
independently of fmri_bench, with the commits and line ranges it was read from (below).

Three protocols, each re-typed from its authors' code as plain functions:

* ``mindeye_*``        MindEye (Scotti et al. 2023), ``MedARC-AI/fMRI-reconstruction-NSD``
                       ``src/Reconstruction_Metrics.py``; pins torch 2.0.1, torchvision 0.15.2,
                       scikit-image 0.20.0. MindEye2's ``src/final_evaluations.ipynb`` runs the same
                       metric code (differences noted in the docstrings).
* ``bd_*``             Brain-Diffuser (Ozcelik & VanRullen 2023), ``ozcelikfu/brain-diffuser``
                       ``scripts/eval_extract_features.py`` and ``scripts/evaluate_reconstruction.py``;
                       pins torch 1.12.1, torchvision 0.13.1, scikit-image 0.17.2, Pillow 9.2.0.
* ``kamitani_*`` / ``bdpy_*``  Kamitani lab, ``KamitaniLab/bdpy`` ``bdpy/evals/metrics.py`` as called by
                       ``KamitaniLab/brain-decoding-cookbook-public`` ``reconstruction/recon_eval_image.py``.

Also: an installed-torchvision-independent re-implementation of torchvision 0.15.2's tensor
``transforms.Resize`` (:func:`tv015_resize`), and a re-implementation on current scikit-image /
SciPy of what ``structural_similarity(..., multichannel=True, gaussian_weights=True, ...)``
computed on 2-D grey images in scikit-image 0.17-0.19 (:func:`skimage_legacy_ssim_multichannel`).

Networks are never loaded here: every deep metric takes the torch module (or an
``encode_image``-like callable) from the caller, together with the dotted module path of the
layer whose output is the feature (``"features.4"``, ``"avgpool"``). Features are captured with
forward hooks, which give the same tensors as torchvision's ``create_feature_extractor`` for
these nodes (all are module outputs; none is modified in place afterwards).

Source pins (commits are the 40-hex commit of the stored snapshot that was read; where the file
last changed earlier, that commit is given too; the blob is identical):

MindEye   MedARC-AI/fMRI-reconstruction-NSD @ 6b30ea53c0f98b0a79b8f6828b6787a5913fd08d
          (src/Reconstruction_Metrics.py last changed in 195a3323ec5b9b238fe87f828ef6148d64bad4ae,
          blob d680c5bb9bd7cd4ae88fb299cd84c7e098969b36; src/environment.yaml same HEAD)
MindEye2  MedARC-AI/MindEyeV2 @ c1847188200e075b960ad6b87333e51ea17be1b1
          (src/final_evaluations.ipynb last changed in ca64e1579515ed19eeb823a8fc9440ec625092b9)
BrainDiff ozcelikfu/brain-diffuser @ 31d52c01b7f204b9887024eb670065a0197f5bcc
          (scripts/eval_extract_features.py = b6553aaf4e6f44822022d552258c8bd8580c93a3 content,
          scripts/evaluate_reconstruction.py last changed in a2b35e89a56da5b2fab2e113a7788bebc75789d9)
bdpy      KamitaniLab/bdpy @ d86199fc0683fe257dc0a3d474a1abdc81b0249f (bdpy/evals/metrics.py last
          changed in 31719e2e0156e723e45d85805154a3812bd9e372; identical at tag 0.25 = 3fefe2db3807362c424115c7e45e00ab7161e533)
cookbook  KamitaniLab/brain-decoding-cookbook-public @ 44c673b4a5bf14c8924de16b472b3b3dc7f3a9d6
          (reconstruction/recon_eval_image.py last changed in 8c16327cb7ab64e31ed5e9810d4f8e4af3417e93)
SwAV      facebookresearch/swav @ 06b1b7cbaf6ba2a792300d79c7299db98b93b7f9 (hubconf.py)
skimage   scikit-image/scikit-image tags v0.17.2 = 1188c33c3defefdc0f672870b5bcc36beaec967f,
          v0.19.3 = c1af2bf80d2c8845bbbf06222f87e8b58a8e5c1e, v0.20.0 = 5e74a4a3a5149a8a14566b81a32bb15499aa3857
torchvision (PyPI wheels, cp310 manylinux1; version.py git_version):
          0.13.1 = bddbd7e6d65ecacc2e40cf6c9e2059669b8dbd44, 0.15.2 = fa99a5360fbcd1683311d57a76fcc0e7323a4c1e,
          0.16.0 = a90e584667fc3a7d85485764245e0db92387aca1
torchmetrics (PyPI wheels) 0.11.4 ... 1.4.0 crop the SSIM map border, 1.5.0+ do not.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# =============================================================================================
# torchvision 0.15.2 tensor Resize (what MindEye ran), independent of the installed torchvision
# =============================================================================================

TV015_ANTIALIAS_WARNING = (
    "The default value of the antialias parameter of all the resizing transforms "
    "(Resize(), RandomResizedCrop(), etc.) "
    "will change from None to True in v0.17, "
    "in order to be consistent across the PIL and Tensor backends. "
    "To suppress this warning, directly pass "
    "antialias=True (recommended, future default), antialias=None (current default, "
    "which means False for Tensors and True for PIL), "
    "or antialias=False (only works on Tensors - PIL will still use antialiasing). "
    "This also applies if you are using the inference transforms from the models weights: "
    "update the call to weights.transforms(antialias=True)."
)
"""UserWarning text torchvision 0.15.2 (and 0.16.0) emitted on every tensor bilinear/bicubic
resize called with the default ``antialias="warn"`` (functional.py ``_check_antialias``, lines
1596-1617 of the 0.15.2 wheel). MindEye's logs are full of it."""


def tv015_compute_resized_output_size(
    image_size: tuple[int, int], size: Sequence[int], max_size: int | None = None
) -> list[int]:
    """torchvision 0.15.2 ``transforms.functional._compute_resized_output_size`` (lines 366-388).

    ``size`` of length 1 (an int ``Resize(425)``) matches the *shorter* edge and scales the longer
    one with ``int(size * long / short)`` (truncation); length 2 is ``(h, w)``.
    Returns ``[new_h, new_w]`` (a list: see :func:`tv015_resize` about the early return).
    """
    if len(size) == 1:
        h, w = image_size
        short, long = (w, h) if w <= h else (h, w)
        requested_new_short = size if isinstance(size, int) else size[0]
        new_short, new_long = requested_new_short, int(requested_new_short * long / short)
        if max_size is not None:
            if max_size <= requested_new_short:
                raise ValueError(
                    f"max_size = {max_size} must be strictly greater than the requested "
                    f"size for the smaller edge size = {size}"
                )
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        new_w, new_h = size[1], size[0]
    return [new_h, new_w]


def tv015_resize(
    img: Any,
    size: int | Sequence[int],
    interpolation: str = "bilinear",
    max_size: int | None = None,
    antialias: Any = "warn",
    *,
    emit_warning: bool = True,
) -> Any:
    """torchvision 0.15.2 ``transforms.Resize(size, interpolation)(tensor)``, re-implemented.

    Source: torchvision 0.15.2 wheel (git fa99a5360fbcd1683311d57a76fcc0e7323a4c1e):
    ``transforms/transforms.py`` ``Resize`` (lines 283-361: ``antialias="warn"`` default,
    ``forward`` calls ``F.resize``), ``transforms/functional.py`` ``resize`` (391-492) and
    ``_check_antialias`` (1596-1617), ``transforms/_functional_tensor.py`` ``resize`` (439-474) and
    ``_cast_squeeze_in/_out`` (516-542).

    What it does for a float tensor ``[..., H, W]``:

    1. output size from :func:`tv015_compute_resized_output_size` (int size = shorter edge).
    2. ``if (image_height, image_width) == output_size: return img`` -- a *tuple* compared with a
       *list*, so this early return never fires in 0.15.2 (fixed to ``[h, w] == output_size`` in
       0.16.0). A same-size bilinear resize therefore still goes through ``interpolate`` (which is
       the identity at scale 1: source coordinate ``(i + 0.5) * 1 - 0.5 = i``) and still warns.
    3. ``antialias="warn"`` (a str) -> for a Tensor with BILINEAR/BICUBIC: ``warnings.warn`` of
       :data:`TV015_ANTIALIAS_WARNING` (a UserWarning), then ``antialias = None``.
    4. tensor path: ``antialias None -> False``; ``_cast_squeeze_in(img, [float32, float64])``
       (unsqueeze to 4-D if ndim < 4; cast other dtypes to float32);
       ``align_corners = False`` for bilinear/bicubic (None otherwise);
       ``torch.nn.functional.interpolate(img, size=[new_h, new_w], mode=interpolation,
       align_corners=align_corners, antialias=False)``; bicubic uint8 output clamped to [0, 255];
       ``_cast_squeeze_out`` (round before casting back to an integer dtype; cast back to the input
       dtype, e.g. float16 -> float32 -> float16).

    So MindEye's ``transforms.Resize(256)`` etc. on tensors is plain (non-antialiased) bilinear
    interpolation with ``align_corners=False`` and scale = in/out (``size=`` given, no
    ``scale_factor``). Antialiasing matters only when shrinking (512->256, 256->224, 256->255).
    """
    import torch
    from torch.nn.functional import interpolate

    if isinstance(size, int):
        size = [size]
    size = list(size)
    if len(size) not in (1, 2):
        raise ValueError(f"Size must be an int or a 1 or 2 element tuple/list, not a {len(size)} element tuple/list")
    if max_size is not None and len(size) != 1:
        raise ValueError("max_size should only be passed if size specifies the length of the smaller edge")
    image_height, image_width = int(img.shape[-2]), int(img.shape[-1])
    output_size = tv015_compute_resized_output_size((image_height, image_width), size, max_size)
    if (image_height, image_width) == output_size:  # faithful: tuple == list is always False
        return img
    if isinstance(antialias, str):
        if interpolation in ("bilinear", "bicubic") and emit_warning:
            warnings.warn(TV015_ANTIALIAS_WARNING, UserWarning, stacklevel=2)
        antialias = None
    # _functional_tensor.resize
    if antialias is None:
        antialias = False
    if antialias and interpolation not in ("bilinear", "bicubic"):
        antialias = False
    need_squeeze = False
    if img.ndim < 4:
        img = img.unsqueeze(dim=0)
        need_squeeze = True
    out_dtype = img.dtype
    need_cast = False
    if out_dtype not in (torch.float32, torch.float64):
        need_cast = True
        img = img.to(torch.float32)
    align_corners = False if interpolation in ("bilinear", "bicubic") else None
    img = interpolate(img, size=output_size, mode=interpolation, align_corners=align_corners, antialias=antialias)
    if interpolation == "bicubic" and out_dtype == torch.uint8:
        img = img.clamp(min=0, max=255)
    if need_squeeze:
        img = img.squeeze(dim=0)
    if need_cast:
        if out_dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
            img = torch.round(img)
        img = img.to(out_dtype)
    return img


def numpy_bilinear_resize(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Independent float64 NumPy bilinear resize, ``align_corners=False``, no antialias.

    The formula PyTorch's ``upsample_bilinear2d`` implements for ``size=`` calls: for output
    index ``i`` and scale ``s = in / out``, source ``src = max((i + 0.5) * s - 0.5, 0)``,
    ``i0 = floor(src)``, ``i1 = min(i0 + 1, in - 1)``, ``l1 = src - i0``, ``l0 = 1 - l1``;
    separable in H and W. For verification of :func:`tv015_resize` only. ``x``: ``[..., H, W]``.
    """
    x = np.asarray(x, dtype=np.float64)

    def axis_weights(n_in: int, n_out: int):
        s = n_in / n_out
        src = np.maximum((np.arange(n_out) + 0.5) * s - 0.5, 0.0)
        i0 = np.floor(src).astype(np.int64)
        i0 = np.minimum(i0, n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        l1 = src - i0
        return i0, i1, 1.0 - l1, l1

    h0, h1, a0, a1 = axis_weights(x.shape[-2], out_h)
    w0, w1, b0, b1 = axis_weights(x.shape[-1], out_w)
    rows = x[..., h0, :] * a0[:, None] + x[..., h1, :] * a1[:, None]
    return rows[..., w0] * b0 + rows[..., w1] * b1


# =============================================================================================
# scikit-image 0.17-0.19: structural_similarity(..., multichannel=True) on a 2-D grey image
# =============================================================================================


def skimage_legacy_ssim_multichannel(
    im1: np.ndarray,
    im2: np.ndarray,
    *,
    data_range: float,
    sigma: float = 1.5,
    use_sample_covariance: bool = False,
    K1: float = 0.01,
    K2: float = 0.03,
    float_dtype: Any = np.float64,
) -> float:
    """What ``skimage.metrics.structural_similarity(im1, im2, multichannel=True,
    gaussian_weights=True, sigma=sigma, use_sample_covariance=..., data_range=...)`` returned for
    2-D ``(H, W)`` inputs in scikit-image 0.17.x, 0.18.x and 0.19.x.

    Sources: scikit-image v0.17.2 (1188c33c) ``skimage/metrics/_structural_similarity.py``
    lines 12-230 (``if multichannel:`` loop at 91-125 over ``im1[..., ch]``, ``nch = im1.shape[-1]``;
    gaussian path 138-214); v0.18.3 identical; v0.19.3 (c1af2bf8) same file lines 15-254 with
    ``@utils.deprecate_multichannel_kwarg()`` (``skimage/_shared/utils.py`` 291-348:
    ``multichannel=True`` -> ``channel_axis=-1`` plus a FutureWarning) and the channel loop over
    ``slice_at_axis(ch, axis=-1)`` (104-141); its gaussian is ``skimage._shared.filters.gaussian``
    (lines 17-137) = ``scipy.ndimage.gaussian_filter`` with the ``mode='reflect'`` SSIM passes.
    From v0.20.0 (5e74a4a3) the ``multichannel`` keyword is gone from the signature and lands in
    ``**kwargs``, which are only read for K1/K2/sigma/use_sample_covariance: it is *silently
    ignored* and a 2-D image gets ordinary 2-D SSIM (true up to 0.26).

    So on a 2-D grey image the *last axis (columns) is taken as channels*: for each of the W
    columns, a 1-D SSIM of that column (length H):

    - ``truncate = 3.5``; ``win_size = 2 * int(3.5 * sigma + 0.5) + 1`` (11 for sigma 1.5);
      ``NP = win_size ** 1``; ``cov_norm = NP / (NP - 1)`` if ``use_sample_covariance`` else 1;
    - ``ux = G(x)``, ``uy = G(y)``, ``uxx = G(x*x)``, ``uyy = G(y*y)``, ``uxy = G(x*y)`` with ``G`` a
      1-D ``scipy.ndimage.gaussian_filter(sigma, truncate=3.5, mode='reflect')`` *down the column*;
    - ``vx = cov_norm*(uxx - ux*ux)``, ``vy``, ``vxy`` likewise; ``C1 = (K1*R)**2``, ``C2 = (K2*R)**2``;
    - ``S = (2 ux uy + C1)(2 vxy + C2) / ((ux^2 + uy^2 + C1)(vx + vy + C2))``;
    - column score = mean of ``S[pad:H-pad]`` with ``pad = (win_size - 1) // 2`` (5);
    - result = mean of the W column scores. Requires ``H >= win_size`` (else ValueError).

    Precision: 0.17/0.18 cast to float64; 0.19 keeps float32 inputs float32
    (``_supported_float_type``) and takes the crop mean in float64. Brain-Diffuser passes float64
    (uint8 / 255.0 then ``rgb2gray``), so float64 is exact for it; pass
    ``float_dtype=np.float32`` to mimic 0.19 on float32 input.
    """
    from scipy.ndimage import gaussian_filter1d

    im1 = np.asarray(im1)
    im2 = np.asarray(im2)
    if im1.shape != im2.shape:
        raise ValueError("Input images must have the same dimensions.")
    if im1.ndim != 2:
        raise ValueError("this re-implementation covers the 2-D (H, W) case Brain-Diffuser used")
    for k, v in (("K1", K1), ("K2", K2), ("sigma", sigma)):
        if v < 0:
            raise ValueError(f"{k} must be positive")
    truncate = 3.5
    r = int(truncate * sigma + 0.5)
    win_size = 2 * r + 1
    if im1.shape[0] - win_size < 0:
        raise ValueError("win_size exceeds image extent.")
    x = im1.astype(float_dtype, copy=False)
    y = im2.astype(float_dtype, copy=False)
    NP = win_size**1
    cov_norm = NP / (NP - 1) if use_sample_covariance else 1.0

    def G(a):
        return gaussian_filter1d(a, sigma, axis=0, mode="reflect", truncate=truncate)

    ux, uy = G(x), G(y)
    uxx, uyy, uxy = G(x * x), G(y * y), G(x * y)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    R = data_range
    C1 = (K1 * R) ** 2
    C2 = (K2 * R) ** 2
    A1, A2, B1, B2 = 2 * ux * uy + C1, 2 * vxy + C2, ux**2 + uy**2 + C1, vx + vy + C2
    S = (A1 * A2) / (B1 * B2)
    pad = (win_size - 1) // 2
    per_column = S[pad : S.shape[0] - pad, :].mean(axis=0, dtype=np.float64)
    return float(per_column.mean())


# =============================================================================================
# shared: identification and correlation formulas exactly as typed by the authors
# =============================================================================================


def mindeye_two_way_identification_from_features(reals: np.ndarray, preds: np.ndarray, return_avg: bool = True):
    """MindEye ``two_way_identification`` scoring part (Reconstruction_Metrics.py lines 151-162;
    MindEye2 final_evaluations.ipynb cell 14 identical; Brain-Diffuser
    ``evaluate_reconstruction.py`` ``pairwise_corr_all`` lines 22-38 is the same formula).

    ``r = np.corrcoef(reals, preds)[:N, N:]`` (rows: real/target features, columns: predicted /
    reconstruction features, each row flattened; float64 via ``np.cov``);
    ``congruents = np.diag(r)``; ``success = r < congruents`` -- NumPy broadcasts the diagonal
    along the *last* axis, so element ``[i, j]`` is ``r[i, j] < r[j, j]``: for reconstruction j,
    target i is beaten when its correlation with reconstruction j is *strictly* lower than that of
    j's own target. ``success_cnt = np.sum(success, 0)`` (per reconstruction);
    ``perf = np.mean(success_cnt) / (N - 1)``.

    Ties (equal r, e.g. duplicate targets) count as failures. NaN (a constant row, zero variance)
    compares False: a constant reconstruction scores 0 and a constant target is never beaten,
    but the denominator stays N - 1. Returns ``perf`` or ``(success_cnt, N - 1)``.
    """
    reals = np.asarray(reals).reshape(len(reals), -1)
    preds = np.asarray(preds).reshape(len(preds), -1)
    n = len(reals)
    r = np.corrcoef(reals, preds)
    r = r[:n, n:]
    congruents = np.diag(r)
    success = r < congruents
    success_cnt = np.sum(success, 0)
    if return_avg:
        return np.mean(success_cnt) / (n - 1)
    return success_cnt, n - 1


def bd_pairwise_corr_all(ground_truth: np.ndarray, predictions: np.ndarray):
    """Brain-Diffuser ``pairwise_corr_all`` (evaluate_reconstruction.py lines 22-38), verbatim.

    Same formula as :func:`mindeye_two_way_identification_from_features`, plus a one-sided binomial
    p-value ``1 - binom.cdf(perf * N * (N - 1), N * (N - 1), 0.5)``. Returns ``(perf, p)``.
    """
    from scipy.stats import binom

    r = np.corrcoef(ground_truth, predictions)
    r = r[: len(ground_truth), len(ground_truth) :]
    congruents = np.diag(r)
    success = r < congruents
    success_cnt = np.sum(success, 0)
    perf = np.mean(success_cnt) / (len(ground_truth) - 1)
    p = 1 - binom.cdf(
        perf * len(ground_truth) * (len(ground_truth) - 1), len(ground_truth) * (len(ground_truth) - 1), 0.5
    )
    return perf, p


def bdpy_pairwise_identification(
    pred,
    true,
    metric: str = "correlation",
    remove_nan: bool = True,
    remove_nan_dist: bool = True,
    single_trial: bool = False,
    pred_labels=None,
    true_labels=None,
) -> np.ndarray:
    """bdpy ``bdpy.evals.metrics.pairwise_identification`` (metrics.py lines 115-159), verbatim.

    ``p``/``t`` flattened per sample; with ``remove_nan`` feature columns that are NaN in either
    are dropped; ``d = 1 - scipy.spatial.distance.cdist(p, t, metric)`` (so for
    ``metric='correlation'`` d is Pearson r, computed as 1 - (1 - r); for ``'euclidean'`` it is
    ``1 - distance``). For prediction i (row): ``pef = d[i, :] - d[i, i]``, NaNs removed (the
    candidate is dropped *and* the denominator shrinks), score ``sum(pef < 0) / (len(pef) - 1)``.
    Strict ``<``: ties are failures, as in MindEye. Same number as MindEye's per-reconstruction
    count whenever nothing is NaN (``r(pred_i, true_j) < r(pred_i, true_i)``), but NaN handling
    differs: a constant prediction gives an all-NaN row -> ``0 / -1 = -0.0``; a constant true image
    is removed from every comparison and the denominator becomes N - 2.
    ``single_trial=True`` (labels differ from the candidate list): one row per prediction, the
    congruent column found by label. Returns the per-prediction accuracies (mean them yourself).
    """
    from scipy.spatial.distance import cdist

    p = pred.reshape(pred.shape[0], -1)
    t = true.reshape(true.shape[0], -1)
    if remove_nan:
        nan_cols = np.isnan(p).any(axis=0) | np.isnan(t).any(axis=0)
        if nan_cols.any():
            warnings.warn(f"NaN column removed ({np.sum(nan_cols)})")
            p = p[:, ~nan_cols]
            t = t[:, ~nan_cols]
    if single_trial:
        cr = []
        for i in range(p.shape[0]):
            d = 1 - cdist(p[i][np.newaxis], t, metric=metric)
            ind = np.where(np.array(true_labels) == pred_labels[i])[0][0]
            s = (d - d[0, ind]).ravel()
            if remove_nan_dist and np.isnan(s).any():
                warnings.warn(f"NaN value detected in the distance matrix ({np.sum(np.isnan(s))}).")
                s = s[~np.isnan(s)]
            ac = np.sum(s < 0) / (len(s) - 1)
            cr.append(ac)
        cr = np.asarray(cr)
    else:
        d = 1 - cdist(p, t, metric=metric)
        if remove_nan_dist:
            cr = []
            for d_ind in range(d.shape[0]):
                pef = d[d_ind, :] - d[d_ind, d_ind]
                if np.isnan(pef).any():
                    warnings.warn(f"NaN value detected in the distance matrix ({np.sum(np.isnan(pef))}).")
                    pef = pef[~np.isnan(pef)]
                pef = np.sum(pef < 0) / (len(pef) - 1)
                cr.append(pef)
            cr = np.asarray(cr)
        else:
            cr = np.sum(d - np.diag(d)[:, np.newaxis] < 0, axis=1) / (d.shape[1] - 1)
    return cr


def bdpy_profile_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """bdpy ``profile_correlation`` (metrics.py lines 9-34), verbatim.

    For every feature/pixel position j (samples on axis 0, everything else flattened), the
    Pearson r across the N samples between ``x[:, j]`` and ``y[:, j]`` (``np.corrcoef``); returns
    shape ``(1,) + x.shape[1:]`` (NaN where a position is constant across samples). The lab
    reports ``np.nanmean`` of it.
    """
    sample_axis = 0
    orig_shape = x.shape
    n_sample = orig_shape[sample_axis]
    _x = x.reshape(n_sample, -1)
    _y = y.reshape(n_sample, -1)
    n_feat = _y.shape[1]
    r = np.array([np.corrcoef(_x[:, j].ravel(), _y[:, j].ravel())[0, 1] for j in range(n_feat)])
    return r.reshape((1,) + orig_shape[1:])


def bdpy_pattern_correlation(x: np.ndarray, y: np.ndarray, mean=None, std=None, remove_nan: bool = True) -> np.ndarray:
    """bdpy ``pattern_correlation`` (metrics.py lines 37-73), verbatim.

    Per sample i, Pearson r between the flattened ``x[i]`` and ``y[i]`` (optionally z-scored
    with a given mean/std first; NaN feature columns dropped). Returns shape ``(N,)``.
    """
    sample_axis = 0
    orig_shape = x.shape
    n_sample = orig_shape[sample_axis]
    _x = x.reshape(n_sample, -1)
    _y = y.reshape(n_sample, -1)
    if mean is not None and std is not None:
        m = mean.reshape(-1)
        s = std.reshape(-1)
        _x = (_x - m) / s
        _y = (_y - m) / s
    if remove_nan:
        nan_cols = np.isnan(_x).any(axis=0) | np.isnan(_y).any(axis=0)
        if nan_cols.any():
            warnings.warn(f"NaN column removed ({np.sum(nan_cols)})")
            _x = _x[:, ~nan_cols]
            _y = _y[:, ~nan_cols]
    return np.array([np.corrcoef(_x[i, :].ravel(), _y[i, :].ravel())[0, 1] for i in range(n_sample)])


# =============================================================================================
# feature capture helpers (forward hooks; equivalent to create_feature_extractor for these nodes)
# =============================================================================================


def _module_features(model: Any, node: str, batch: Any) -> Any:
    """Run ``model(batch)`` and return the output of submodule ``node`` (dotted path), detached."""
    import torch

    captured = {}
    module = model.get_submodule(node) if node else model

    def hook(_m, _inp, out):
        captured["out"] = out.detach().clone()

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(batch)
    finally:
        handle.remove()
    return captured["out"]


def _features_in_batches(fn: Callable[[Any], Any], images: Any, batch_size: int | None) -> np.ndarray:
    """Apply ``fn`` to ``images`` (a tensor batch) in chunks; concatenate ``float().flatten(1)`` numpy."""
    import torch

    n = len(images)
    bs = n if not batch_size else batch_size
    out = []
    with torch.no_grad():
        for s in range(0, n, bs):
            out.append(fn(images[s : s + bs]).float().flatten(1).cpu().numpy())
    return np.concatenate(out)


def _normalize(x: Any, mean: Sequence[float], std: Sequence[float]) -> Any:
    """torchvision ``transforms.Normalize``: ``(x - mean[c]) / std[c]`` (float32; ``sub_`` then ``div_``)."""
    import torch

    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return x.sub(m).div(s)


# =============================================================================================
# MindEye protocol (MedARC-AI/fMRI-reconstruction-NSD src/Reconstruction_Metrics.py @ 6b30ea53)
# =============================================================================================


def mindeye_prepare(all_images: Any, all_brain_recons: Any) -> tuple[Any, Any]:
    """MindEye's common first step (Reconstruction_Metrics.py lines 89-106).

    ``all_brain_recons = all_brain_recons.to(all_images.dtype).clamp(0, 1)`` (line 96), then both
    sets ``transforms.Resize((256, 256))`` (lines 104-106) -- torchvision 0.15.2 tensor Resize:
    bilinear, align_corners=False, **no antialias** (:func:`tv015_resize`), applied to the whole
    4-D batch (on the GPU in the original). MindEye's own ``all_images.pt`` was already
    982 x 3 x 256 x 256 (float) and its reconstructions 982 x 3 x 512 x 512 (notebook outputs),
    so only the reconstructions were actually resized (512 -> 256, a 2x shrink where the missing
    antialias matters). MindEye2 (cell 7): the same, but only ``if shape[-1] != 256`` and followed
    by ``.float()`` (torchvision 0.16.0: also no antialias); it also blends "enhanced" recons
    ``0.75 * recon + 0.25 * blurry`` before scoring (a model-output choice, not a metric).

    Inputs: float tensors (N, 3, H, W) in [0, 1]. Returns the two 256 px tensors.
    """
    all_brain_recons = all_brain_recons.to(all_images.dtype).clamp(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        all_images = tv015_resize(all_images, (256, 256))
        all_brain_recons = tv015_resize(all_brain_recons, (256, 256))
    return all_images, all_brain_recons


def mindeye_pixcorr(all_images_256: Any, all_brain_recons_256: Any) -> float:
    """MindEye PixCorr (Reconstruction_Metrics.py lines 170-187; MindEye2 cell 16).

    ``transforms.Resize(425, interpolation=BILINEAR)`` (tv 0.15.2 tensor: upsampling 256 -> 425,
    no antialias, align_corners=False) on both 256 px sets; flatten each image (3 x 425 x 425 =
    541875 values, RGB, channel-major); ``np.corrcoef(img_i, recon_i)[0][1]`` per image (float32
    data, float64 arithmetic); summed in a Python loop and divided by N (the original hard-codes
    982; MindEye2 uses ``len(all_images)``). A constant image gives NaN (propagates to the mean).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = tv015_resize(all_images_256, 425, "bilinear").reshape(len(all_images_256), -1).cpu()
        b = tv015_resize(all_brain_recons_256, 425, "bilinear").reshape(len(all_brain_recons_256), -1).cpu()
    corrsum = 0
    for i in range(len(a)):
        corrsum += np.corrcoef(a[i].numpy(), b[i].numpy())[0][1]
    return corrsum / len(a)


def mindeye_ssim(all_images_256: Any, all_brain_recons_256: Any, *, return_per_image: bool = False):
    """MindEye SSIM (Reconstruction_Metrics.py lines 195-213; MindEye2 cell 18).

    ``Resize(425, BILINEAR)`` (tv 0.15.2 tensor, no antialias) on the 256 px sets;
    ``skimage.color.rgb2gray(tensor.permute(0, 2, 3, 1).cpu())`` -- a float32 torch tensor handed
    to skimage 0.20, which makes a float32 array and keeps float32 (``Y = 0.2125 R + 0.7154 G +
    0.0721 B``); then per image
    ``structural_similarity(rec, im, multichannel=True, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1.0)`` (note argument order: recon first; SSIM is
    symmetric). With the pinned scikit-image 0.20.0 ``multichannel`` is swallowed by ``**kwargs``
    and ignored, so this is plain 2-D SSIM of the 425 x 425 grey images: gaussian 11-tap window
    (sigma 1.5, truncate 3.5, ``mode='reflect'``), population covariance, C1 = 0.01^2,
    C2 = 0.03^2, mean of the SSIM map with a 5 px border cropped, computed in float32 (mean in
    float64). The current scikit-image (0.26) computes the same on the same float32 input.
    MindEye2 pins scikit-image 0.22.0: same semantics. Result: ``np.mean`` over images.
    """
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity as ssim

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img_gray = rgb2gray(tv015_resize(all_images_256, 425, "bilinear").permute((0, 2, 3, 1)).cpu().numpy())
        recon_gray = rgb2gray(tv015_resize(all_brain_recons_256, 425, "bilinear").permute((0, 2, 3, 1)).cpu().numpy())
    scores = [
        ssim(rec, im, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        for im, rec in zip(img_gray, recon_gray)
    ]
    return (float(np.mean(scores)), np.array(scores)) if return_per_image else float(np.mean(scores))


def _mindeye_identification(
    all_brain_recons_256,
    all_images_256,
    forward: Callable[[Any], Any],
    size: int,
    mean,
    std,
    batch_size: int | None,
    return_avg: bool,
):
    """MindEye ``two_way_identification`` (lines 140-162): ``preprocess`` applied *per image*
    (``torch.stack([preprocess(recon) for recon in all_brain_recons])``), the model run on the
    stacked batch, ``.float().flatten(1)``; then the scoring of
    :func:`mindeye_two_way_identification_from_features`. (The original runs all N images in one
    batch on the GPU; ``batch_size`` only changes floating-point summation order.)"""
    import torch

    def preprocess(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _normalize(tv015_resize(x, size, "bilinear"), mean, std)

    preds_in = torch.stack([preprocess(r) for r in all_brain_recons_256], dim=0)
    reals_in = torch.stack([preprocess(i) for i in all_images_256], dim=0)
    preds = _features_in_batches(forward, preds_in, batch_size)
    reals = _features_in_batches(forward, reals_in, batch_size)
    return mindeye_two_way_identification_from_features(reals, preds, return_avg=return_avg)


def mindeye_alexnet(
    all_images_256,
    all_brain_recons_256,
    alexnet: Any,
    layer: int = 2,
    *,
    batch_size: int | None = None,
    return_avg: bool = True,
):
    """MindEye AlexNet(2) / AlexNet(5) (Reconstruction_Metrics.py lines 221-246; MindEye2 cell 20).

    Network: torchvision ``alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)``
    (``alexnet-owt-7be5be79.pth``), ``create_feature_extractor(..., return_nodes=['features.4',
    'features.11'])``, eval. Layer 2 -> node ``features.4`` (ReLU after conv2, 192 x 27 x 27 at
    224; 192 x 31 x 31 at 256), layer 5 -> ``features.11`` (ReLU after conv5, 256 x 15 x 15 at 256).
    Preprocess per image: ``Resize(256, BILINEAR)`` (tv 0.15.2: the 256 px input is unchanged --
    same-size interpolate is the identity) then ``Normalize(IMAGENET_MEAN, IMAGENET_STD)``. Input
    is therefore 256 x 256, not AlexNet's usual 224 crop. Score: two-way identification.
    """
    node = {2: "features.4", 5: "features.11"}[layer]
    alexnet = alexnet.eval()
    return _mindeye_identification(
        all_brain_recons_256,
        all_images_256,
        lambda x: _module_features(alexnet, node, x),
        256,
        IMAGENET_MEAN,
        IMAGENET_STD,
        batch_size,
        return_avg,
    )


def mindeye_inception(
    all_images_256, all_brain_recons_256, inception_v3: Any, *, batch_size: int | None = None, return_avg: bool = True
):
    """MindEye InceptionV3 (Reconstruction_Metrics.py lines 254-271; MindEye2 cell 22).

    Network: torchvision ``inception_v3(weights=Inception_V3_Weights.DEFAULT)`` = IMAGENET1K_V1
    (``inception_v3_google-0cc3c7bd.pth``); with weights torchvision forces
    ``transform_input=True`` (re-maps ImageNet-normalized input to the (x - 0.5) / 0.5 scaling the
    Google weights expect), ``aux_logits=True``, ``init_weights=False``; eval mode. Node
    ``avgpool`` (2048 x 1 x 1). Preprocess per image: ``Resize(342, BILINEAR)`` (256 -> 342
    upsampling, tv 0.15.2, no antialias) and ImageNet ``Normalize``. Score: two-way identification.
    """
    inception_v3 = inception_v3.eval()
    return _mindeye_identification(
        all_brain_recons_256,
        all_images_256,
        lambda x: _module_features(inception_v3, "avgpool", x),
        342,
        IMAGENET_MEAN,
        IMAGENET_STD,
        batch_size,
        return_avg,
    )


def mindeye_clip(
    all_images_256,
    all_brain_recons_256,
    encode_image: Callable[[Any], Any],
    *,
    batch_size: int | None = None,
    return_avg: bool = True,
):
    """MindEye CLIP (Reconstruction_Metrics.py lines 279-291; MindEye2 cell 24).

    Network: ``clip.load("ViT-L/14", device=device)`` (OpenAI CLIP API; the env lists
    clip-anytorch 2.5.2 and PyPI ``clip`` 0.2.0; weights ``ViT-L-14.pt`` from openaipublic,
    sha256 b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836 is in the URL).
    ``clip_model.encode_image`` is the model (final projected image embedding, 768-d, not
    L2-normalized). On CUDA ``clip.load`` keeps fp16 weights and ``encode_image`` casts the input
    to fp16 (``self.visual(image.type(self.dtype))``); on CPU it is fp32. Preprocess per image:
    ``Resize(224, BILINEAR)`` (256 -> 224 shrink, tv 0.15.2, **no antialias**) and
    ``Normalize(CLIP_MEAN, CLIP_STD)`` (no center crop: the image is square). Features
    ``.float().flatten(1)``. Score: two-way identification.
    """
    return _mindeye_identification(
        all_brain_recons_256, all_images_256, encode_image, 224, CLIP_MEAN, CLIP_STD, batch_size, return_avg
    )


def _mindeye_distance(all_images_256, all_brain_recons_256, model, node, size, batch_size):
    import scipy as sp
    import scipy.spatial

    def features(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = _normalize(tv015_resize(x, size, "bilinear"), IMAGENET_MEAN, IMAGENET_STD)
        return _features_in_batches(lambda b: _module_features(model, node, b), x, batch_size)

    gt = features(all_images_256)  # float32 (N, D), as .reshape(len, -1).cpu().numpy()
    fake = features(all_brain_recons_256)
    per_image = np.array([sp.spatial.distance.correlation(gt[i], fake[i]) for i in range(len(gt))])
    return per_image.mean(), per_image


def mindeye_effnet(
    all_images_256,
    all_brain_recons_256,
    efficientnet_b1: Any,
    *,
    batch_size: int | None = None,
    return_per_image: bool = False,
):
    """MindEye EffNet-B (Reconstruction_Metrics.py lines 299-318; MindEye2 cell 26).

    Network: torchvision ``efficientnet_b1(weights=EfficientNet_B1_Weights.DEFAULT)`` =
    **IMAGENET1K_V2** (``efficientnet_b1-c27df63c.pth``; DEFAULT is V2 in 0.13-0.16), node
    ``avgpool`` (1280 x 1 x 1), eval. Preprocess on the whole batch: ``Resize(255, BILINEAR)``
    (256 -> 255, tv 0.15.2, no antialias; 255 is the V2 weights' resize_size) and ImageNet
    ``Normalize``. Score: mean over images of ``scipy.spatial.distance.correlation(gt[i], fake[i])``
    (= 1 - Pearson r, on float32 feature vectors). Lower is better.
    """
    m, per = _mindeye_distance(all_images_256, all_brain_recons_256, efficientnet_b1.eval(), "avgpool", 255, batch_size)
    return (m, per) if return_per_image else m


def mindeye_swav(
    all_images_256,
    all_brain_recons_256,
    resnet50_swav: Any,
    *,
    batch_size: int | None = None,
    return_per_image: bool = False,
):
    """MindEye SwAV (Reconstruction_Metrics.py lines 326-343; MindEye2 cell 28).

    Network: ``torch.hub.load('facebookresearch/swav:main', 'resnet50')`` -- hubconf.py
    (swav @ 06b1b7cb, lines 17-35): *torchvision* ``resnet50(pretrained=False)`` then
    ``swav_800ep_pretrain.pth.tar`` with the ``module.`` prefix stripped, ``load_state_dict(...,
    strict=False)`` (the checkpoint's projection_head/prototypes keys are ignored; ``fc`` stays
    random -- irrelevant for ``avgpool``). Node ``avgpool`` (2048 x 1 x 1), eval. Preprocess:
    ``Resize(224, BILINEAR)`` (256 -> 224, tv 0.15.2, no antialias), ImageNet ``Normalize``.
    Score: mean correlation distance, as :func:`mindeye_effnet`. Lower is better.
    """
    m, per = _mindeye_distance(all_images_256, all_brain_recons_256, resnet50_swav.eval(), "avgpool", 224, batch_size)
    return (m, per) if return_per_image else m


# =============================================================================================
# Brain-Diffuser protocol (ozcelikfu/brain-diffuser @ 31d52c01)
# =============================================================================================


def bd_network_input(image: Any, net_name: str) -> Any:
    """Brain-Diffuser ``batch_generator_external_images.__getitem__`` (eval_extract_features.py
    lines 41-62), for one image.

    ``Image.open(png)`` (RGB uint8; test images are the 425 px NSD stimuli saved by
    ``save_test_images.py``, reconstructions the 512 px Versatile Diffusion PNGs) ->
    ``T.functional.resize(img, (224, 224))`` -- torchvision 0.13.1 on a *PIL* image with the
    default ``InterpolationMode.BILINEAR`` -> ``img.resize((224, 224), PIL.Image.BILINEAR)``
    (Pillow's bilinear is a convolution whose support grows with the shrink factor, i.e.
    antialiased; NOT bicubic) -> ``to_tensor`` (uint8 / 255, float32) -> ``Normalize`` with
    CLIP mean/std for ``net_name == 'clip'``, ImageNet mean/std otherwise.
    ``image``: a PIL image or a uint8 (H, W, 3) array.
    """
    import torch
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    image = image.resize((224, 224), Image.BILINEAR)
    x = torch.from_numpy(np.array(image, np.uint8, copy=True))
    x = x.view(image.size[1], image.size[0], len(image.getbands())).permute((2, 0, 1)).contiguous()
    x = x.to(dtype=torch.get_default_dtype()).div(255).float()
    if net_name == "clip":
        return _normalize(x, CLIP_MEAN, CLIP_STD)
    return _normalize(x, IMAGENET_MEAN, IMAGENET_STD)


def bd_extract_features(
    images: Sequence[Any], net_name: str, model: Any, node: str | None, *, batch_size: int = 64
) -> np.ndarray:
    """Brain-Diffuser feature extraction (eval_extract_features.py lines 73-146).

    ``net_list``: ('inceptionv3', 'avgpool'), ('clip', 'final'), ('alexnet', 2), ('alexnet', 5),
    ('efficientnet', 'avgpool'), ('swav', 'avgpool'). Models and hooked modules:

    - inceptionv3: ``tvmodels.inception_v3(pretrained=True)`` (IMAGENET1K_V1,
      transform_input=True), hook on ``net.avgpool`` -> node ``"avgpool"``; **input 224 px**.
    - clip: ``clip.load("ViT-L/14")``, ``net = model.visual`` cast to float32, hook on ``net``
      itself (``'final'``: the projected 768-d embedding; same as ``encode_image`` in fp32) -> pass
      the visual module and ``node=None`` (or ``""``).
    - alexnet: ``tvmodels.alexnet(pretrained=True)`` (IMAGENET1K_V1); layer 2 hook on
      ``features[4]``, layer 5 on ``features[11]`` -> nodes ``"features.4"``, ``"features.11"``;
      224 px input (192 x 27 x 27 and 256 x 13 x 13).
    - efficientnet: ``tvmodels.efficientnet_b1(weights=True)``: torchvision 0.13.1's
      ``handle_legacy_interface`` treats ``weights=True`` as ``pretrained=True`` and maps it to the
      legacy default **IMAGENET1K_V1** (``efficientnet_b1_rwightman-533bc792.pth``; the same file is
      served as ``...-bac287d4.pth`` since torchvision 0.16, whose sha256 really starts bac287d4) --
      not MindEye's V2. Hook on ``avgpool``.
    - swav: ``torch.hub.load('facebookresearch/swav:main', 'resnet50')``, hook on ``avgpool``.

    ``net.eval(); net.cuda(device)``; batches of 64 (DataLoader, ``shuffle=False``); the hook
    appends ``outputs.cpu().numpy()``; features concatenated and saved; later reshaped to (N, -1)
    (evaluate_reconstruction.py lines 62-63). ``images``: PIL images or uint8 arrays, in order.
    """
    import torch

    net_key = "clip" if net_name == "clip" else net_name
    x = torch.stack([bd_network_input(im, net_key) for im in images])
    model = model.eval()
    feats = []
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            feats.append(_module_features(model, node or "", x[s : s + batch_size]).cpu().numpy())
    feats = np.concatenate(feats)
    return feats.reshape((len(feats), -1))


def bd_identification(gt_feat: np.ndarray, eval_feat: np.ndarray, num_test: int = 982) -> float:
    """Brain-Diffuser two-way identification for inceptionv3 / clip / alexnet2 / alexnet5
    (evaluate_reconstruction.py lines 55-70): ``pairwise_corr_all(gt_feat[:num_test],
    eval_feat[:num_test])[0]`` on features reshaped to (N, -1). Same formula as MindEye."""
    gt_feat = gt_feat.reshape((len(gt_feat), -1))
    eval_feat = eval_feat.reshape((len(eval_feat), -1))
    return bd_pairwise_corr_all(gt_feat[:num_test], eval_feat[:num_test])[0]


def bd_distance(gt_feat: np.ndarray, eval_feat: np.ndarray, num_test: int = 982) -> float:
    """Brain-Diffuser EffNet-B / SwAV distance (evaluate_reconstruction.py lines 53, 66-67):
    ``np.array([scipy.spatial.distance.correlation(gt_feat[i], eval_feat[i]) for i in
    range(num_test)]).mean()`` on float32 hook outputs reshaped to (N, -1). Lower is better."""
    import scipy as sp
    import scipy.spatial

    gt_feat = gt_feat.reshape((len(gt_feat), -1))
    eval_feat = eval_feat.reshape((len(eval_feat), -1))
    return np.array([sp.spatial.distance.correlation(gt_feat[i], eval_feat[i]) for i in range(num_test)]).mean()


def bd_pixcorr_ssim(gen_images: Sequence[Any], gt_images: Sequence[Any], *, return_per_image: bool = False):
    """Brain-Diffuser PixCorr and SSIM (evaluate_reconstruction.py lines 72-92).

    Per image i: ``gen = Image.open(recon_png).resize((425, 425))`` -- Pillow 9.2.0 default
    ``resample=None`` -> **BICUBIC** (the default since Pillow 7.0; antialiased convolution,
    a = -0.5) on the 512 px uint8 reconstruction; ``gt = Image.open(test_png)`` (425 px, no resize);
    both ``np.array(...) / 255.0`` (float64, RGB). PixCorr:
    ``np.corrcoef(gt.reshape(1, -1), gen.reshape(1, -1))[0, 1]`` (RGB flattened, HWC order).
    SSIM: ``rgb2gray`` (float64) of both, then
    ``ssim(gen_gray, gt_gray, multichannel=True, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1.0)`` under the pinned **scikit-image 0.17.2**, which
    honours ``multichannel=True`` on the 2-D grey image: the mean of 425 one-dimensional SSIMs,
    one per column (:func:`skimage_legacy_ssim_multichannel`). Both averaged over images.
    ``gen_images``, ``gt_images``: PIL images or uint8 (H, W, 3) arrays.
    Returns ``(pixcorr, ssim)`` (plus per-image arrays if asked).
    """
    from PIL import Image
    from skimage.color import rgb2gray

    ssim_list, pixcorr_list = [], []
    for gen, gt in zip(gen_images, gt_images):
        if not isinstance(gen, Image.Image):
            gen = Image.fromarray(np.asarray(gen, dtype=np.uint8))
        if not isinstance(gt, Image.Image):
            gt = Image.fromarray(np.asarray(gt, dtype=np.uint8))
        gen_image = gen.resize((425, 425), Image.BICUBIC)  # Pillow >= 7 default for resize()
        gen_image = np.array(gen_image) / 255.0
        gt_image = np.array(gt) / 255.0
        pixcorr_list.append(np.corrcoef(gt_image.reshape(1, -1), gen_image.reshape(1, -1))[0, 1])
        gen_g = rgb2gray(gen_image)
        gt_g = rgb2gray(gt_image)
        ssim_list.append(
            skimage_legacy_ssim_multichannel(gen_g, gt_g, data_range=1.0, sigma=1.5, use_sample_covariance=False)
        )
    ssim_arr, pix_arr = np.array(ssim_list), np.array(pixcorr_list)
    if return_per_image:
        return pix_arr.mean(), ssim_arr.mean(), pix_arr, ssim_arr
    return pix_arr.mean(), ssim_arr.mean()


# =============================================================================================
# Kamitani protocol (bdpy + brain-decoding-cookbook-public reconstruction/recon_eval_image.py)
# =============================================================================================


def kamitani_load_images(recon_images: Sequence[Any], true_images: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """recon_eval_image.py lines 55-81 and 117-120: the evaluation resolution is the
    reconstruction's (``image_size = Image.open(first recon).size``); every true image is
    ``Image.open(f).convert("RGB").resize(image_size)`` -- Pillow default resample, **BICUBIC**
    (the cookbook env pins Pillow 9.4.0) -- and every reconstruction gets the same call (a no-op
    copy at its own size). Arrays stay **uint8 RGB** (N, H, W, 3); no [0, 1] scaling for the
    correlation metrics. Inputs: PIL images or uint8 arrays."""
    from PIL import Image

    def as_pil(im):
        return im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im, dtype=np.uint8))

    recon_pils = [as_pil(r) for r in recon_images]
    image_size = recon_pils[0].size
    true_arr = np.stack([np.array(as_pil(t).convert("RGB").resize(image_size, Image.BICUBIC)) for t in true_images])
    recon_arr = np.stack([np.array(r.convert("RGB").resize(image_size, Image.BICUBIC)) for r in recon_pils])
    return recon_arr, true_arr


def kamitani_pixel_metrics(recon_images: np.ndarray, true_images: np.ndarray, *, ssim_crop_border: bool = True) -> dict:
    """recon_eval_image.py lines 150-173 (cookbook @ 44c673b4; file from 8c16327c), on the uint8
    arrays of :func:`kamitani_load_images` (labels already aligned, so ``single_trial=False``):

    - ``pixel profile correlation``: ``bdpy_profile_correlation(recon, true)`` -- per pixel and
      channel, r across images; reported as ``np.nanmean``.
    - ``pixel pattern correlation``: ``bdpy_pattern_correlation(recon, true)`` -- per image, r of
      the flattened RGB uint8 pixels (HWC order).
    - ``pixel rmse``: sklearn ``mean_squared_error(t.T, p.T, multioutput='raw_values',
      squared=False)`` on the **uint8** arrays: see :func:`kamitani_rmse_as_coded` (the
      subtraction and square wrap around modulo 256; the intended value is
      :func:`rmse_float`).
    - ``identification accuracy by pixel pattern correlation``:
      ``bdpy_pairwise_identification(recon, true, metric='correlation', remove_nan=True,
      remove_nan_dist=True)``.
    - ``identification accuracy by pixel euclidean distance``: same with ``metric='euclidean'``.
    - ``ssim``: ``torchmetrics.StructuralSimilarityIndexMeasure(data_range=1.0,
      reduction='none')`` on (N, 3, H, W) float tensors ``/ 255`` (colour SSIM, gaussian 11 px,
      sigma 1.5, reflect padding): see :func:`kamitani_ssim_torchmetrics` -- torchmetrics is not
      pinned and its result changed in 1.5.0.

    All reported as ``np.nanmean`` over images. Returns per-image arrays.
    """
    return {
        "pixel profile correlation": bdpy_profile_correlation(recon_images, true_images),
        "pixel pattern correlation": bdpy_pattern_correlation(recon_images, true_images),
        "pixel rmse": kamitani_rmse_as_coded(recon_images, true_images),
        "identification accuracy by pixel pattern correlation": bdpy_pairwise_identification(
            recon_images, true_images, metric="correlation", remove_nan=True, remove_nan_dist=True
        ),
        "identification accuracy by pixel euclidean distance": bdpy_pairwise_identification(
            recon_images, true_images, metric="euclidean", remove_nan=True, remove_nan_dist=True
        ),
        "ssim": kamitani_ssim_torchmetrics(recon_images, true_images, crop_border=ssim_crop_border),
    }


def kamitani_ssim_torchmetrics(
    recon_images: np.ndarray, true_images: np.ndarray, *, crop_border: bool = True
) -> np.ndarray:
    """torchmetrics ``StructuralSimilarityIndexMeasure(data_range=1.0, reduction='none')`` as
    recon_eval_image.py ``get_ssim`` (lines 201-212) calls it, re-implemented in torch.

    Inputs uint8 (N, H, W, 3) -> float ``/ 255`` (N, 3, H, W) (``torch.tensor(uint8) / 255.0``,
    float32). torchmetrics ``_ssim_update``: gaussian kernel size ``int(3.5*1.5+0.5)*2+1 = 11``,
    1-D taps ``exp(-(d/1.5)^2/2)`` normalized (d = -5..5), outer product; images padded by 5 with
    ``F.pad(mode='reflect')`` (mirror without edge repeat, unlike scikit-image's ``'reflect'``);
    depthwise ``conv2d`` of [x, y, x*x, y*y, x*y]; ``sigma_x^2`` and ``sigma_y^2`` clamped >= 0;
    C1 = (0.01)^2, C2 = (0.03)^2; SSIM map per channel. Then:
    torchmetrics <= 1.4.x crop ``pad`` pixels from every border of the map before the per-image
    mean (``crop_border=True``); 1.5.0+ average the full map (``crop_border=False``). The cookbook's
    env does not pin torchmetrics; the script dates from Dec 2023 (torchmetrics 1.2/1.3 era:
    crop). Returns per-image SSIM (mean over the 3 channels and pixels).
    """
    import torch
    import torch.nn.functional as F

    preds = torch.tensor(recon_images).permute(0, 3, 1, 2) / 255.0
    target = torch.tensor(true_images).permute(0, 3, 1, 2) / 255.0
    sigma, k = 1.5, int(3.5 * 1.5 + 0.5) * 2 + 1
    dist = torch.arange(start=(1 - k) / 2, end=(1 + k) / 2, step=1, dtype=preds.dtype)
    g = torch.exp(-torch.pow(dist / sigma, 2) / 2)
    g = (g / g.sum()).unsqueeze(0)
    kernel = torch.matmul(g.t(), g).expand(preds.size(1), 1, k, k)
    pad = (k - 1) // 2
    c1, c2 = (0.01 * 1.0) ** 2, (0.03 * 1.0) ** 2
    preds_p = F.pad(preds, (pad, pad, pad, pad), mode="reflect")
    target_p = F.pad(target, (pad, pad, pad, pad), mode="reflect")
    inp = torch.cat((preds_p, target_p, preds_p * preds_p, target_p * target_p, preds_p * target_p))
    out = F.conv2d(inp, kernel, groups=preds.size(1)).split(preds.shape[0])
    mu_p_sq, mu_t_sq, mu_pt = out[0].pow(2), out[1].pow(2), out[0] * out[1]
    s_p = torch.clamp(out[2] - mu_p_sq, min=0.0)
    s_t = torch.clamp(out[3] - mu_t_sq, min=0.0)
    s_pt = out[4] - mu_pt
    upper = 2 * s_pt + c2
    lower = s_p + s_t + c2
    full = ((2 * mu_pt + c1) * upper) / ((mu_p_sq + mu_t_sq + c1) * lower)
    if crop_border:
        full = full[..., pad:-pad, pad:-pad]
    return full.reshape(full.shape[0], -1).mean(-1).numpy()


def kamitani_rmse_as_coded(recon_images: np.ndarray, true_images: np.ndarray) -> np.ndarray:
    """recon_eval_image.py ``get_rmse`` (lines 215-221) as it actually computes on uint8 input.

    ``p``/``t`` = (N, -1) **uint8**; ``mean_squared_error(t.T, p.T, multioutput="raw_values",
    squared=False)``. scikit-learn (1.0.2 in the cookbook env; checked) keeps the uint8 dtype
    (``check_array(dtype="numeric")``) and evaluates ``np.average((y_true - y_pred) ** 2, axis=0)``
    in uint8: both the difference and the square wrap modulo 256. E.g. true (10, 200) vs recon
    (20, 100) gives 7.62 instead of 71.06. Reproduced here with the same uint8 arithmetic.
    """
    p = recon_images.reshape(recon_images.shape[0], -1)
    t = true_images.reshape(true_images.shape[0], -1)
    y_true, y_pred = t.T, p.T
    return np.sqrt(np.average((y_true - y_pred) ** 2, axis=0))


def rmse_float(recon_images: np.ndarray, true_images: np.ndarray) -> np.ndarray:
    """Per-image RMSE on the 0-255 scale in float64 (what ``get_rmse`` was meant to compute)."""
    p = recon_images.reshape(recon_images.shape[0], -1).astype(np.float64)
    t = true_images.reshape(true_images.shape[0], -1).astype(np.float64)
    return np.sqrt(((t - p) ** 2).mean(axis=1))
