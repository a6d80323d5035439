"""How many of the stimuli's shapes can the VAE-GAN draw at all? A shape probe reads them.

    python bench/generator_shape_ceiling.py --probe FILE [--probe FILE ...] [--generator FILE ...] [--n 500]
        [--inversion-steps 100] [--figure PNG] [--json FILE]

The probe (``python -m fmri_bench.pipeline.shape_probe --out FILE``) is a CNN trained on
other stream images to tell which of the five shape kinds are drawn. On ``--n`` labelled
images of the evaluation stream (never trained on by the generators, the prior or the
probe) it reports, per image set, the probe's mean presence ROC AUC over the five kinds
(how many of the drawn shapes stay recognisable; with several ``--probe`` files, one per
probe and their mean and sd) and the PixCorr / SSIM to the images:

- the stream images themselves (the probe's own accuracy);
- Gaussian blurs of them (sigma 1, 2, 3 px): what losing sharpness alone costs;
- G(E(x)) of each shipped generator (seeds 0, 1, 2) and of each ``--generator`` file
  (labelled by its seed, latent grid and training steps);
- G(z*) with z* from ``--inversion-steps`` Adam steps (lr 0.05) on the generator's own
  training loss (L1 + image-gradient L1) from E(x), for the seed-0 generator: the best
  that generator's range offers, whatever the encoder or a prior would find.

If G(E(x)) and G(z*) keep fewer shapes than a blur of equal PixCorr, the generator's range
is what turns shapes into blobs, and no prior over its latents can draw sharper ones.
About 3 min on 2 threads with the defaults.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from fmri_bench.estimators import vaegan
from fmri_bench.pipeline import shape_probe
from fmri_bench.pipeline.train_generator import labelled_rows, reconstruction_metrics
from fmri_bench.pipeline.train_latent_prior import EVAL_TAG


def inverted(G, E, images: np.ndarray, steps: int) -> np.ndarray:
    """G(z*): Adam from E(x) on L1 + image-gradient L1 to the images (the generator's training loss)."""
    for q in G.parameters():
        q.requires_grad_(False)
    target = vaegan.to_tensor(images)
    z = torch.from_numpy(vaegan.encode(E, images)).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.05)
    for _ in range(steps):
        out = G(z)
        loss = (out - target).abs().mean() + vaegan._grad_l1(out, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return vaegan.decode(G, z.detach().numpy())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--probe", type=Path, action="append", required=True, help="a shape probe (repeat: one per seed)")
    p.add_argument("--generator", type=Path, action="append", default=[], help="another VAE-GAN checkpoint")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--inversion-steps", type=int, default=100)
    p.add_argument("--figure", type=Path, help="PNG: 16 images of every set")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(2)
    probes = [shape_probe.load_probe(path) for path in args.probe]
    images, presence = shape_probe.labelled_images(0, 2 * args.n, tag=EVAL_TAG)
    images, presence = images[args.n :], presence[args.n :]  # the autoguidance bench's G(E(x)) set
    sets = {"stream images": images}
    for sigma in (1, 2, 3):
        blurred = gaussian_filter(images.astype(np.float64), (0, sigma, sigma, 0))
        sets[f"blur sigma {sigma} px"] = np.round(blurred).astype(np.uint8)
    generators = {f"G(E(x)), shipped seed {s}": vaegan.shipped_checkpoint(s) for s in (0, 1, 2)}
    for path in args.generator:  # labelled by how they were trained
        generator_meta = vaegan.load_checkpoint(path)[2]
        grid, channels = generator_meta["model_config"]["grid"], tuple(generator_meta["model_config"]["g_channels"])
        width = "" if channels == vaegan.grid_config(grid).g_channels else f" G {'/'.join(map(str, channels))}"
        label = f"G(E(x)), seed {generator_meta['seed']}, grid {grid}{width}, {generator_meta['train_config']['steps']} steps"
        if label in generators:
            p.error(f"--generator {path}: a second generator labelled {label!r}")
        generators[label] = path
    for label, path in generators.items():
        G, E, _ = vaegan.load_checkpoint(path)
        sets[label] = vaegan.decode(G, vaegan.encode(E, images))
        if label.endswith("seed 0") and args.inversion_steps:
            sets[f"G(z*), shipped seed 0, {args.inversion_steps} steps"] = inverted(G, E, images, args.inversion_steps)
    table = {"probes": [{"command": m.get("command"), "held_out_auc": m.get("held_out_auc")} for _, m in probes]}
    for label, imgs in sets.items():
        aucs = [shape_probe.presence_auc(probe, imgs, presence)["mean"] for probe, _ in probes]
        table[label] = {
            "presence_auc_per_probe": aucs,
            "presence_auc_mean": round(float(np.mean(aucs)), 4),
            "presence_auc_sd": round(float(np.std(aucs, ddof=1)), 4) if len(aucs) > 1 else None,
            **reconstruction_metrics(imgs, images),
        }
        print(label, table[label], flush=True)
    print(json.dumps(table, indent=1))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    if args.figure:
        labelled_rows(args.figure, [(label.replace(", ", ",\n"), imgs[:16]) for label, imgs in sets.items()], 16)


if __name__ == "__main__":
    main()
