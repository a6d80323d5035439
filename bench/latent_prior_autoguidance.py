"""Does autoguidance (a prior guided by a weaker version of itself) make its samples look like stimuli?

    python bench/latent_prior_autoguidance.py [--main FILE] [--guide FILE] [--weights 1,2,3]
        [--n 500] [--sample-steps 250] [--eta 1] [--probe FILE] [--figure PNG] [--json FILE]

Draws ``--n`` latents (seed 1) from :func:`fmri_bench.estimators.latent_prior.autoguided`
priors, one per guidance weight (1: the main prior alone), decodes them with the shipped
generator of seed 0 and measures the images against two sets of the evaluation stream
(never trained on): ``--n`` stream images and G(E(x)) of ``--n`` others (what the generator
can draw at all). Columns:

- the Gabor-energy and colour Frechet distance to the stream images (the training
  command's sample measure, which rewards texture energy);
- the Frechet distance to G(E(x)) in SqueezeNet fire9 features averaged over the image;
- the classifier two-sample accuracy against G(E(x)) in SqueezeNet fire9 features averaged
  over quadrants (0.5: indistinguishable; it sees any direction in which shapes differ);
- the standard deviation of the standardised latents (1.0 for the data) and the fraction of
  flat pixels (0.45 for stimuli).

With ``--probe FILE`` (a shape probe, ``python -m fmri_bench.pipeline.shape_probe``), two
more columns in the probe's features, which were trained to tell the five shape kinds
apart: the Frechet distance to G(E(x)) (pooled) and the two-sample accuracy against G(E(x))
(quadrants); and a ``probe`` entry with its shape-presence AUC on the stream images and on
G(E(x)) of the same images (how many of the shapes the generator keeps recognisable).

Two reference rows calibrate them: G(E(x)) of a third set of stream images (what an ideal
prior would score) and the stream images themselves. Defaults: the shipped prior guided by
the shipped guide (``latent-prior-seed0-guide.pt``); about 1 min per row on 2 threads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from fmri_bench.estimators import latent_prior, vaegan
from fmri_bench.pipeline import shape_probe
from fmri_bench.pipeline.train_generator import labelled_rows
from fmri_bench.pipeline.train_latent_prior import (
    EVAL_TAG,
    flat_pixel_fraction,
    frechet_distance,
    squeezenet_features,
    stream_distance,
    two_sample_accuracy,
)


def reference_sets(G, E, n: int) -> dict[str, np.ndarray]:
    """Three disjoint sets of ``n`` evaluation-stream images: the stream, G(E(x)) and G(E(x)) again.

    ``recon`` is G(E(x)) of the images ``presence`` labels (which shape kinds are drawn).
    """
    stream, presence = shape_probe.labelled_images(0, 3 * n, tag=EVAL_TAG)
    return {
        "stream": stream[:n],
        "recon": vaegan.decode(G, vaegan.encode(E, stream[n : 2 * n])),
        "recon_sources": stream[n : 2 * n],
        "presence": presence[n : 2 * n],
        "recon_other": vaegan.decode(G, vaegan.encode(E, stream[2 * n : 3 * n])),
    }


def measurer(refs: dict[str, np.ndarray], probe=None):
    """``measure(images, latent_sd=None) -> dict``: the columns of the module docstring."""
    gabor = stream_distance(refs["stream"])
    recon_quadrants, recon_pooled = squeezenet_features(refs["recon"])
    if probe is not None:
        probe_quadrants, probe_pooled = shape_probe.probe_features(probe, refs["recon"])

    def measure(images: np.ndarray, latent_sd: float | None = None) -> dict:
        quadrants, pooled = squeezenet_features(images)
        row = {
            "frechet_gabor_to_stream": round(gabor(images), 1),
            "frechet_squeezenet_to_recon": round(frechet_distance(recon_pooled, pooled), 1),
            "two_sample_accuracy_vs_recon": round(two_sample_accuracy(quadrants, recon_quadrants), 3),
            "latent_sd": None if latent_sd is None else round(latent_sd, 3),
            "flat_pixel_fraction": round(flat_pixel_fraction(images), 3),
        }
        if probe is not None:
            quadrants, pooled = shape_probe.probe_features(probe, images)
            row["probe_frechet_to_recon"] = round(frechet_distance(probe_pooled, pooled), 2)
            row["probe_two_sample_accuracy_vs_recon"] = round(two_sample_accuracy(quadrants, probe_quadrants), 3)
        return row

    return measure


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", type=Path, help="the prior (default: the shipped one of generator seed 0)")
    p.add_argument("--guide", type=Path, help="its weaker version (default: the shipped guide)")
    p.add_argument("--weights", default="1,2,3", help="guidance weights, comma-separated, each >= 1")
    p.add_argument("--n", type=int, default=500, help="images per set (a multiple of 125)")
    p.add_argument("--sample-steps", type=int, default=250)
    p.add_argument("--eta", type=float, default=1.0)
    p.add_argument("--probe", type=Path, help="a shape probe file: adds its columns")
    p.add_argument("--figure", type=Path, help="PNG: the first 16 images of every row")
    p.add_argument("--json", type=Path, help="write the table here too")
    args = p.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    torch.set_num_threads(2)
    G, E, _ = vaegan.load_checkpoint(latent_prior.prior_generator(0))
    main_prior, _ = latent_prior.load_prior(args.main or latent_prior.shipped_prior(0))
    guide, _ = latent_prior.load_prior(args.guide or latent_prior.shipped_prior(0, guide=True))
    refs = reference_sets(G, E, args.n)
    probe = shape_probe.load_probe(args.probe)[0] if args.probe else None
    measure = measurer(refs, probe)
    table = {"G(E(x)), other images": measure(refs["recon_other"]), "stream images": measure(refs["stream"])}
    if probe is not None:
        table["probe"] = {
            "presence_auc_stream": shape_probe.presence_auc(probe, refs["recon_sources"], refs["presence"]),
            "presence_auc_recon": shape_probe.presence_auc(probe, refs["recon"], refs["presence"]),
        }
        print("probe", table["probe"], flush=True)
    rows = [("stream images", refs["stream"][:16]), ("G(E(x))", refs["recon_other"][:16])]
    for w in weights:
        prior = latent_prior.autoguided(main_prior, guide, w)
        z = prior.sample(args.n, seed=1, sample_steps=args.sample_steps, eta=args.eta)
        mean, sd = main_prior.mean.numpy().reshape(1, 8, 1), main_prior.std.numpy().reshape(1, 8, 1)
        std = float(((z.reshape(args.n, 8, -1) - mean) / sd).std())
        images = vaegan.decode(G, z)
        label = "prior alone" if w == 1 else f"autoguided, w={w:g}"
        table[label] = measure(images, std)
        print(label, table[label], flush=True)
        rows.append((label, images[:16]))
    print(json.dumps(table, indent=1))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    if args.figure:
        labelled_rows(args.figure, rows, 16)


if __name__ == "__main__":
    main()
