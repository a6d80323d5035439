"""An architecture experiment on the latent prior: self-attention on the U-Net's 4 x 4 level.

    python bench/latent_prior_variants.py base 4000      # the shipped architecture
    python bench/latent_prior_variants.py attention 4000 # plus two attention layers
    python bench/latent_prior_variants.py shipped        # the shipped 24,000-step prior
    python bench/latent_prior_variants.py file --prior F # any prior file (e.g. train_latent_prior --init)

Each variant is trained from the same 50,000 latents (seed 0, one thread) with the shipped
:class:`~fmri_bench.estimators.latent_prior.TrainConfig`, then measured by

- the held-out v loss (unweighted) at t = 100, 300, 500, 700, 900 on 1,000 latents of
  another seed of the prior's stream (the coarse stage is t = 700-900);
- the Frechet distance of 500 samples (100 ancestral steps) to 500 evaluation-stream
  images, in :mod:`~fmri_bench.pipeline.train_latent_prior`'s features.

It prints one JSON line. Measured (baselines/README.md): attention changed the held-out loss
by under 1 % at every t after 4,000 steps; training length mattered far more.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fmri_bench.estimators import latent_prior, vaegan
from fmri_bench.pipeline.train_latent_prior import EVAL_TAG, stream_distance

HELD_OUT_T = (100, 300, 500, 700, 900)


class _Attention(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm, self.attn = nn.GroupNorm(8, c), nn.MultiheadAttention(c, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s = self.norm(x).flatten(2).transpose(1, 2)
        return x + self.attn(s, s, s, need_weights=False)[0].transpose(1, 2).reshape(b, c, h, w)


class AttentionDenoiser(latent_prior.Denoiser):
    """The shipped U-Net with a self-attention layer after each 4 x 4 residual block."""

    def __init__(self, channels: int = 64, latent_shape: tuple[int, int, int] = latent_prior.LATENT_SHAPE) -> None:
        super().__init__(channels, latent_shape)
        self.attn = nn.ModuleList([_Attention(channels), _Attention(channels)])

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        te = self.time(latent_prior._time_embedding(t))
        h = self.inp(self.fold_in(z))
        for block in self.down_blocks:
            h = block(h, te)
        m = self.down(h)
        for block, attn in zip(self.mid_blocks, self.attn):
            m = attn(block(m, te))
        h = h + self.up(m)
        for block in self.up_blocks:
            h = block(h, te)
        return self.fold_out(self.out(h))


@torch.no_grad()
def held_out_v_loss(prior: latent_prior.LatentPrior, E) -> dict[int, float]:
    """Unweighted v loss per noise level on latents of seed 1 of the prior's stream."""
    x = torch.as_tensor(latent_prior.training_latents(E, 1000, seed=1)).reshape(-1, *prior.config.latent_shape)
    x = (x - prior.mean) / prior.std
    g = torch.Generator().manual_seed(9)
    out = {}
    for t in HELD_OUT_T:
        a, eps = prior.abar[t], torch.randn(x.shape, generator=g)
        zt, v = a.sqrt() * x + (1 - a).sqrt() * eps, a.sqrt() * eps - (1 - a).sqrt() * x
        out[t] = round(float(((prior.net(zt, torch.full((len(x),), t)) - v) ** 2).mean()), 4)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variant", choices=["base", "attention", "shipped", "file"])
    p.add_argument("steps", type=int, nargs="?", default=4000)
    p.add_argument("--prior", type=Path, help="the prior file of the 'file' variant")
    args = p.parse_args()
    if (args.variant == "file") != (args.prior is not None):
        p.error("--prior FILE goes with the 'file' variant, and only with it")
    torch.set_num_threads(1)
    G, E, _ = vaegan.load_checkpoint(latent_prior.prior_generator(0))
    start = time.time()
    if args.variant in ("shipped", "file"):
        prior, _ = latent_prior.load_prior(args.prior or latent_prior.shipped_prior(0))
    else:
        latents = latent_prior.training_latents(E, 50000, seed=0)
        if args.variant == "attention":
            latent_prior.Denoiser = AttentionDenoiser  # train() builds latent_prior.Denoiser
        model_cfg = latent_prior.PriorConfig(latent_shape=latent_prior.latent_shape_of(G))
        prior, _ = latent_prior.train(latents, latent_prior.TrainConfig(seed=0, steps=args.steps), model_cfg)
    n = 500
    stream = np.concatenate([vaegan.render_batch(0, b, 250, tag=EVAL_TAG) for b in range(2 * n // 250)])
    samples = vaegan.decode(G, prior.sample(n, seed=1, sample_steps=100))
    record = {
        "variant": args.variant,
        "steps": args.steps if args.variant in ("base", "attention") else None,
        "prior": None if args.prior is None else str(args.prior),
        "parameters": sum(q.numel() for q in prior.net.parameters()),
        "held_out_v_loss": held_out_v_loss(prior, E),
        "frechet_500": round(stream_distance(stream[:n])(samples), 1),
        "seconds": round(time.time() - start),
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
