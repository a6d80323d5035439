"""Are the latent prior's samples as spread out as the latents it models? And does that explain the blobs?

    python bench/latent_prior_dispersion.py [--prior FILE] [--out FIG]

Draws 1,000 latents from the prior (seed 1, 250 steps; ancestral and DDIM, as its record)
and compares them, standardised by the prior's per-channel statistics, with 1,000 held-out
latents of its stream (seed 1, never trained on): the standard deviation and the mean
spatial power of the 8 x 8 maps in three bands of radial frequency (cycles per latent
pixel: under 0.13, 0.13-0.3, over 0.3). Then it rescales each channel of the samples
about its mean to the held-out latents' spread and measures the Frechet distance and the
flat-pixel fraction of G(z) as the training command does (1,000 images against 1,000
evaluation-stream images), to see how much of the distance and of the blobs the missing
spread explains. It draws the rows into one figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from fmri_bench.estimators import latent_prior, vaegan
from fmri_bench.pipeline.train_generator import labelled_rows
from fmri_bench.pipeline.train_latent_prior import EVAL_TAG, flat_pixel_fraction, stream_distance

BANDS = (0.13, 0.3)


def spread(z: np.ndarray) -> list[float]:
    """Standard deviation, then the mean spatial power per frequency band, of standardised maps (N, 8, 8, 8)."""
    power = (np.abs(np.fft.fft2(z - z.mean(0), axes=(2, 3))) ** 2).mean((0, 1))
    fy, fx = np.meshgrid(np.fft.fftfreq(8), np.fft.fftfreq(8), indexing="ij")
    radius = np.hypot(fy, fx)
    low, high = BANDS
    bands = [power[radius < low], power[(radius >= low) & (radius < high)], power[radius >= high]]
    return [float(z.std()), *(float(b.mean()) for b in bands)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prior", type=Path, help="a prior file (default: the shipped one of generator seed 0)")
    p.add_argument("--out", type=Path, help="PNG of the first 12 images of each row")
    args = p.parse_args()
    torch.set_num_threads(2)
    G, E, _ = vaegan.load_checkpoint(latent_prior.prior_generator(0))
    prior, _ = latent_prior.load_prior(args.prior or latent_prior.shipped_prior(0))
    mean, std = prior.mean.numpy(), prior.std.numpy()
    n = 1000
    held_out = (latent_prior.training_latents(E, n, seed=1).reshape(-1, *prior.config.latent_shape) - mean) / std
    stream = np.concatenate([vaegan.render_batch(0, b, 250, tag=EVAL_TAG) for b in range(n // 250)])
    distance = stream_distance(stream)
    target = held_out.std((0, 2, 3), keepdims=True)
    rows = {"held-out latents": held_out}
    for eta in (1.0, 0.0):
        z = (prior.sample(n, seed=1, sample_steps=250, eta=eta).reshape(held_out.shape) - mean) / std
        centre = z.mean((0, 2, 3), keepdims=True)
        rows[f"prior, eta={eta:g}"] = z
        rows[f"prior, eta={eta:g},\nrescaled per channel"] = (z - centre) * target / z.std(
            (0, 2, 3), keepdims=True
        ) + centre
    print(f"{'latents':<36} {'sd':>6} {'power <0.13':>12} {'0.13-0.3':>9} {'>0.3':>7} {'Frechet':>8} {'flat':>6}")
    figure = []
    for label, z in rows.items():
        images = vaegan.decode(G, (z * std + mean).reshape(n, -1))
        fd = distance(images)
        s, *bands = spread(z)
        name = label.replace("\n", " ")
        print(
            f"{name:<36} {s:>6.3f} {bands[0]:>12.1f} {bands[1]:>9.1f} {bands[2]:>7.1f} {fd:>8.1f} {flat_pixel_fraction(images):>6.3f}"
        )
        figure.append((f"G(z), z: {label}", images[:12]))
    if args.out is not None:
        labelled_rows(args.out, [*figure, ("evaluation-stream\nimages", stream[:12])], 12)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
