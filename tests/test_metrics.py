"""Metric definitions checked against independent computations (pixel metrics, identification)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from fmri_bench._torchvision import torchvision
from fmri_bench.metrics import (
    METRICS,
    MetricInputs,
    bootstrap_interval,
    evaluate,
    evaluate_detailed,
    ordered_names,
    two_way_identification,
)
from fmri_bench.stats import pearson_rows

PIXEL = ["pixel_mse", "pixcorr", "ssim", "pixel_identification"]
REQUIRED = [
    "pixel_mse",
    "pixcorr",
    "ssim",
    "pixel_identification",
    "alexnet2",
    "alexnet5",
    "inception",
    "clip",
    "effnet",
    "swav",
    "feature_mse",
]


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour images (uint8, N,H,W,3): distinct enough to identify."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), dtype=np.float64)
    for i in range(n):
        for c in range(3):
            f, p, a = rng.uniform(1, 5), rng.uniform(0, 2 * np.pi), rng.uniform(0, np.pi)
            out[i, :, :, c] = 0.5 + 0.45 * np.sin(2 * np.pi * f * (xx * np.cos(a) + yy * np.sin(a)) + p)
    return (out * 255).round().astype(np.uint8)


def _tv_resize(images_u8: np.ndarray, size: int) -> np.ndarray:
    """Independent resize: torchvision's Resize on tensors (bilinear, no antialias, as MindEye's
    torchvision 0.15.2 did), float [0,1] NCHW."""
    t = torch.from_numpy(images_u8).permute(0, 3, 1, 2).float() / 255
    resize = torchvision.transforms.Resize(
        (size, size), interpolation=torchvision.transforms.InterpolationMode.BILINEAR, antialias=False
    )
    return resize(t).numpy()


def test_registry_declares_every_required_metric_with_a_description() -> None:
    names = METRICS.names()
    for key in REQUIRED:
        assert key in names
        metric = METRICS.get(key)
        assert metric.description and "\n" not in metric.description
        assert metric.compute.__doc__ and metric.source  # a documented definition with its source
        assert metric.compute.__doc__.strip().splitlines()[0]
    assert ordered_names()[:4] == PIXEL


def test_identical_images_score_perfectly() -> None:
    imgs = _images(6, 40)
    scores = evaluate(imgs, imgs, PIXEL)
    assert scores["pixel_mse"] == pytest.approx(0.0, abs=1e-12)
    assert scores["pixcorr"] == pytest.approx(1.0, abs=1e-6)
    assert scores["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert scores["pixel_identification"] == 1.0


def test_permuted_submission_identifies_near_chance() -> None:
    imgs = _images(40, 32, seed=1)
    perm = np.random.default_rng(3).permutation(40)
    score = evaluate(imgs, imgs[perm], ["pixel_identification"])["pixel_identification"]
    assert 0.35 < score < 0.65


def test_ssim_and_pixcorr_match_an_independent_mindeye_pipeline() -> None:
    targets = _images(3, 256, seed=2)
    recons = np.clip(targets.astype(int) + np.random.default_rng(0).integers(-60, 60, targets.shape), 0, 255).astype(
        np.uint8
    )
    ours = evaluate(targets, recons, ["ssim", "pixcorr"])
    t425, r425 = _tv_resize(targets, 425), _tv_resize(recons, 425)
    tg, rg = rgb2gray(t425.transpose(0, 2, 3, 1)), rgb2gray(r425.transpose(0, 2, 3, 1))
    expected_ssim = np.mean(
        [
            structural_similarity(r, t, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
            for r, t in zip(rg, tg)
        ]
    )
    expected_corr = np.mean([np.corrcoef(t.ravel(), r.ravel())[0, 1] for t, r in zip(t425, r425)])
    assert ours["ssim"] == pytest.approx(expected_ssim, abs=1e-6)
    assert ours["pixcorr"] == pytest.approx(expected_corr, abs=1e-6)
    assert 0.2 < ours["ssim"] < 0.99


def test_pixel_mse_is_at_the_targets_resolution() -> None:
    targets = _images(4, 48, seed=4)
    recons = np.clip(targets / 255.0 + 0.1, 0, 1).astype(np.float32)
    expected = np.mean((recons.astype(np.float64) - targets / 255.0) ** 2)
    assert evaluate(targets, recons, ["pixel_mse"])["pixel_mse"] == pytest.approx(expected, rel=1e-5)
    # A reconstruction at twice the size is resized down to the targets first.
    big = np.repeat(np.repeat(targets, 2, axis=1), 2, axis=2)
    assert evaluate(targets, big, ["pixel_mse"])["pixel_mse"] < 1e-3


def test_two_way_identification_hand_computed_case() -> None:
    # One-hot targets in 4 dims: r(e_i, e_j) = -1/3 for i != j, 1 for i == j.
    targets = np.eye(4)[:3]
    recons = targets[[1, 0, 2]]  # reconstructions 0 and 1 swapped
    per_image = two_way_identification(targets, recons)
    # recon 0 (= target 1): own r = -1/3; target 1 gives 1 (not lower), target 2 gives -1/3 (a tie, not lower).
    np.testing.assert_allclose(per_image, [0.0, 0.0, 1.0])
    # Kamitani's definition on a graded case: own r beats exactly one of two foils.
    t = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    r = np.array([[0.9, 1.0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    scores = two_way_identification(t, r)
    assert scores[0] == 0.5 and scores[1] == 1.0 and scores[2] == 1.0


def test_two_way_identification_vectorized_equals_naive_double_loop() -> None:
    rng = np.random.default_rng(5)
    t = rng.normal(size=(23, 17))
    r = t + rng.normal(scale=1.5, size=t.shape)
    n = len(t)
    naive = np.zeros(n)
    for j in range(n):
        own = np.corrcoef(t[j], r[j])[0, 1]
        naive[j] = sum(np.corrcoef(t[i], r[j])[0, 1] < own for i in range(n) if i != j) / (n - 1)
    np.testing.assert_allclose(two_way_identification(t, r), naive)


def test_constant_reconstruction_gives_finite_uninformative_scores() -> None:
    targets = _images(5, 32)
    flat = np.full_like(targets, 128)
    scores = evaluate(targets, flat, PIXEL)
    assert scores["pixcorr"] == 0.0
    assert all(np.isfinite(v) for v in scores.values())
    np.testing.assert_allclose(pearson_rows(np.ones((2, 5)), np.arange(10.0).reshape(2, 5)), [0.0, 0.0])


def test_identification_reports_a_bootstrap_interval_that_contains_the_mean() -> None:
    imgs = _images(12, 32, seed=6)
    noisy = np.clip(imgs / 255 + np.random.default_rng(1).normal(0, 0.6, imgs.shape), 0, 1)
    ev = evaluate_detailed(imgs, noisy, ["pixel_identification"])
    lo, hi = ev.intervals["pixel_identification"]
    assert lo <= ev.metrics["pixel_identification"] <= hi
    assert bootstrap_interval(np.array([0.5, 0.5])) == (0.5, 0.5)


def test_evaluate_is_strict_about_shapes() -> None:
    from fmri_bench.errors import FmriBenchError, SubmissionError

    imgs = _images(4, 32)
    with pytest.raises(SubmissionError, match="expected 4"):
        evaluate(imgs, imgs[:3], PIXEL)
    with pytest.raises(FmriBenchError, match="targets have shape"):
        evaluate(imgs[0], imgs, PIXEL)
    with pytest.raises(FmriBenchError, match="unknown metric"):
        evaluate(imgs, imgs, ["nope"])
    # Channel-first submissions are accepted and give the same scores.
    assert evaluate(imgs, imgs.transpose(0, 3, 1, 2), PIXEL) == evaluate(imgs, imgs, PIXEL)


def test_resizes_are_computed_once_per_resolution() -> None:
    from fmri_bench.metrics.protocols.mindeye import at_size

    imgs = _images(3, 64)
    inputs = MetricInputs.from_arrays(imgs, imgs)
    a = at_size(inputs, "targets", 425)
    assert at_size(inputs, "targets", 425) is a
    assert a.shape == (3, 3, 425, 425)


def test_scores_are_the_same_bytes_whatever_torch_thread_count_the_caller_set() -> None:
    # torch's 425 px resize and SSIM split their sums by thread: with 2 threads instead of
    # 1, per-image SSIM moved by up to 2e-6, so recorded scores changed with the core count.
    targets = _images(8, 64, seed=3)
    recons = np.clip(targets / 255 + np.random.default_rng(2).normal(0, 0.2, targets.shape), 0, 1)
    before = torch.get_num_threads()
    per_image = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            per_image.append(evaluate_detailed(targets, recons, ["pixcorr", "ssim"]).per_image)
            assert torch.get_num_threads() == threads  # restored after scoring
    finally:
        torch.set_num_threads(before)
    for key in ("pixcorr", "ssim"):
        assert per_image[0][key].tobytes() == per_image[1][key].tobytes(), key


def test_pearson_rows_treats_rounding_level_variation_as_constant() -> None:
    # torch's one-thread bilinear resize of a constant image varies by one float32 ulp; its
    # correlation with a target is rounding, not a score (PixCorr of a flat image is 0).
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 1, (1, 1000)).astype(np.float32)
    flat = np.full((1, 1000), 0.5, np.float32)
    flat[0, rng.random(1000) < 0.5] = np.nextafter(np.float32(0.5), np.float32(1))
    assert pearson_rows(flat, target)[0] == 0.0
    assert pearson_rows(flat.astype(np.float64) + 1e-4 * target, target)[0] > 0.99  # small but real
