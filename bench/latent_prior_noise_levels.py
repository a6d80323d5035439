"""At which noise levels the latent prior goes wrong: regenerate stream latents from step t.

    python bench/latent_prior_noise_levels.py [--generator-seed 0] [--out FIG]

Each held-out stream image ``x`` (the prior's stream, a batch it never trained on) is
encoded, ``z = E(x)``, then

- perturbed by Gaussian noise of ``s`` latent standard deviations (how sensitive the
  decoder is: a thin manifold would turn shapes into blobs at small ``s``);
- noised to step ``t`` and denoised by the prior (:meth:`LatentPrior.regenerate`, SDEdit):
  at small ``t`` the prior only redraws fine detail, at large ``t`` it decides the layout
  and the shapes itself.

For each row it prints PixCorr and SSIM against ``G(E(x))`` (the definitions that the
generator's record uses, :func:`~fmri_bench.pipeline.train_generator.reconstruction_metrics`)
and the flat-pixel fraction (stimuli about 0.45), and it draws the rows into one figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fmri_bench.estimators import latent_prior, vaegan
from fmri_bench.pipeline.train_generator import labelled_rows, reconstruction_metrics
from fmri_bench.pipeline.train_latent_prior import flat_pixel_fraction

NOISE_SD = (0.1, 0.2, 0.4)
T_STARTS = (200, 400, 600, 800, 999)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator-seed", type=int, default=0)
    p.add_argument("--n", type=int, default=64, help="images")
    p.add_argument("--out", type=Path, default=Path("docs/figures/vaegan/seed0-prior-noise-levels.png"))
    args = p.parse_args()
    G, E, _ = vaegan.load_checkpoint(latent_prior.prior_generator(args.generator_seed))
    prior, _ = latent_prior.load_prior(latent_prior.shipped_prior(args.generator_seed))
    x = vaegan.render_batch(0, 0, args.n, tag=latent_prior.PRIOR_TAG + 7)  # not a training batch
    z = vaegan.encode(E, x)
    recon = vaegan.decode(G, z)
    rows = [("stream images", x), ("G(E(x))", recon)]
    g = torch.Generator().manual_seed(0)
    sd = prior.std.reshape(1, -1, 1, 1).numpy()
    for s in NOISE_SD:
        noise = torch.randn((args.n, *prior.config.latent_shape), generator=g).numpy() * sd * s
        rows.append((f"latent noise {s} sd", vaegan.decode(G, z + noise.reshape(args.n, -1))))
    for t in T_STARTS:
        latents = prior.regenerate(z, t, seed=1, sample_steps=min(250, t + 1))
        rows.append(
            (f"noised to t={t}\n(abar {float(prior.abar[t]):.2f}),\ndenoised by the prior", vaegan.decode(G, latents))
        )
    print(f"{'row':<52} {'PixCorr':>8} {'SSIM':>6} {'flat pixels':>12}   (against G(E(x)))")
    for label, images in rows:
        m = reconstruction_metrics(images, recon)
        name = label.replace("\n", " ")
        print(f"{name:<52} {m['pixcorr']:>8.3f} {m['ssim']:>6.3f} {flat_pixel_fraction(images):>12.3f}")
    labelled_rows(args.out, [(label, images[:16]) for label, images in rows], 16)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
