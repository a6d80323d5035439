"""Benchmark: the latent searches' Gabor filtering, by FFT (ours) against ``F.conv2d``.

Every step of the GAN and encoding-model searches runs :class:`ImageFeatures` forward and
backward on a batch of generated images. With one input channel and 13 x 13 kernels,
oneDNN's convolution backward pass is slow on CPU, so :func:`gabor_responses` filters by
FFT. Both are timed here in one run, one thread (as the demo's workers run), 50 images, at
each scale of the feature map (64, 32 and 16 px) and for the whole feature map.

Run: ``python bench/bench_gabor_features.py [--n 50] [--repeats 10]``.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from fmri_bench.estimators import gan


def conv2d_responses(grey: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """The reference: reflect padding, then ``F.conv2d``."""
    return F.conv2d(F.pad(grey, (bank.shape[-1] // 2,) * 4, mode="reflect"), bank)


def seconds(fn, x: torch.Tensor, repeats: int) -> float:
    """Median seconds of ``fn(x).sum().backward()``."""
    times = []
    for _ in range(repeats + 1):
        x.grad = None
        start = time.perf_counter()
        fn(x).sum().backward()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def main() -> None:
    """Print a markdown table: ms per forward + backward pass, ours and the reference."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    bank = gan._gabor_bank()
    print("| forward + backward, one thread | FFT (ours), ms | F.conv2d, ms | ratio |\n|---|---|---|---|")
    for size in (64, 32, 16):
        x = torch.rand(args.n, 1, size, size, requires_grad=True)
        ours = seconds(lambda g: gan.gabor_responses(g, bank), x, args.repeats)
        ref = seconds(lambda g: conv2d_responses(g, bank), x, args.repeats)
        print(f"| {args.n} images, {size} px | {ours * 1e3:.1f} | {ref * 1e3:.1f} | {ours / ref:.2f} |")
    features = gan.ImageFeatures((16, 16, 8), 16)
    x = torch.rand(args.n, 3, 64, 64, requires_grad=True)
    ours = seconds(features, x, args.repeats)
    original = gan.gabor_responses
    gan.gabor_responses = conv2d_responses  # the whole feature map with the reference filtering
    try:
        ref = seconds(features, x, args.repeats)
    finally:
        gan.gabor_responses = original
    print(f"| ImageFeatures, {args.n} images | {ours * 1e3:.1f} | {ref * 1e3:.1f} | {ours / ref:.2f} |")


if __name__ == "__main__":
    main()
