"""A shape probe: a small CNN that knows the stimulus family's shapes, to measure whether images show them.

The sample measures of :mod:`fmri_bench.pipeline.train_latent_prior` use fixed features
(Gabor energy, ImageNet SqueezeNet). They rank priors, but none of their linear read-outs
tells a blob from a disc: on them the prior's samples and G(E(x)) are nearly
indistinguishable although the eye separates them at once. This probe is trained on what
the eye uses: which of the five shape kinds (disc, square, triangle, bar, ring) the
simulator drew on an image, as the domain-specific network of a Frechet distance (Heusel
et al. 2017 use Inception for ImageNet-like images; a classifier of the data's own labels
is the usual choice for a narrow image family).

- :func:`labelled_images`: stream images (:func:`fmri_bench.estimators.vaegan.render_batch_with_shapes`)
  with their five presence labels.
- :class:`ShapeProbe`: a 6-layer CNN, GroupNorm (its features never depend on the batch),
  global average pooling into 128 features, a linear read-out of the 5 presences.
- :func:`train_probe`: multi-label logistic loss on a fixed set of labelled stream images
  (a stream tag of its own, never the prior's or the evaluation stream), random flips (a
  flip keeps every shape kind), AdamW; seeded and single-process, so one machine gives the
  same weights every run.
- :func:`presence_auc`: how well it tells each kind's presence on labelled images (its
  validity, and the generator's shape fidelity when the images are G(E(x))).
- :func:`probe_features`: the 128 pooled features and 4 x 128 quadrant means of the last
  map, for :func:`~fmri_bench.pipeline.train_latent_prior.frechet_distance` and
  :func:`~fmri_bench.pipeline.train_latent_prior.two_sample_accuracy`.

Run as a module it trains the probe and prints its held-out AUCs::

    python -m fmri_bench.pipeline.shape_probe --out probe.pt [--steps 3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fmri_bench.estimators import vaegan
from fmri_bench.io import atomic_path

SHAPE_KINDS = ("disc", "square", "triangle", "bar", "ring")
PROBE_TAG = 0x5348_5052  # "SHPR": the probe's training stream, disjoint from every other stream
PROBE_EVAL_TAG = 0x5348_5045  # "SHPE": its held-out images


def labelled_images(seed: int, n: int, tag: int = PROBE_TAG) -> tuple[np.ndarray, np.ndarray]:
    """``n`` stream images and which shape kinds are drawn on each.

    Parameters
    ----------
    seed : int
        The stream's seed.
    n : int
        Images (a multiple of 250 renders whole batches; any n works).
    tag : int
        The stream family.

    Returns
    -------
    images : ndarray, uint8, shape (n, 64, 64, 3)
    presence : ndarray, float32, shape (n, 5)
        1 where a shape of that kind (in :data:`SHAPE_KINDS` order) was drawn, even if a
        later shape hides part of it.
    """
    images, presence = [], []
    for b in range(-(-n // 250)):
        imgs, shapes = vaegan.render_batch_with_shapes(seed, b, min(250, n - 250 * b), tag=tag)
        images.append(imgs)
        presence += [[float(any(d["kind"] == k for d in drawn)) for k in SHAPE_KINDS] for drawn in shapes]
    return np.concatenate(images), np.asarray(presence, np.float32)


class ShapeProbe(nn.Module):
    """64 px RGB -> 5 presence logits; ``features`` gives the last (128, 8, 8) map."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c, stride in ((width, 2), (2 * width, 1), (2 * width, 2), (4 * width, 1), (4 * width, 2), (4 * width, 1)):
            layers += [nn.Conv2d(c_in, c, 3, stride, 1), nn.GroupNorm(8, c), nn.SiLU()]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, len(SHAPE_KINDS))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map.

        Parameters
        ----------
        x : Tensor, shape (N, 3, 64, 64)
            Images in [-1, 1] (:func:`fmri_bench.estimators.vaegan.to_tensor`).

        Returns
        -------
        Tensor, shape (N, 128, 8, 8)
        """
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Presence logits.

        Parameters
        ----------
        x : Tensor, shape (N, 3, 64, 64)
            Images in [-1, 1].

        Returns
        -------
        Tensor, shape (N, 5)
        """
        return self.head(self.body(x).mean((2, 3)))


def train_probe(
    steps: int = 3000, n_images: int = 20000, batch: int = 64, seed: int = 0, lr: float = 2e-3, progress=None
) -> tuple[ShapeProbe, list[float]]:
    """Train a :class:`ShapeProbe` on ``n_images`` labelled images of the probe's stream.

    Parameters
    ----------
    steps, n_images, batch : int
        Optimiser steps, fixed training images, images per step.
    seed : int
        Seeds the stream, the weights, the minibatches and the flips.
    lr : float
        AdamW rate (cosine decay to 0).
    progress : callable, optional
        Called with the step number every 100 steps.

    Returns
    -------
    probe : ShapeProbe
        In eval mode.
    losses : list of float
        Mean loss of every 100 steps.
    """
    images, presence = labelled_images(seed, n_images)
    torch.manual_seed(seed)
    probe = ShapeProbe()
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    rng = np.random.default_rng([PROBE_TAG, seed, 1])
    losses, running = [], 0.0
    for step in range(steps):
        idx = rng.integers(0, n_images, batch)
        x = vaegan.to_tensor(images[idx])
        flip = torch.from_numpy(rng.uniform(size=batch) < 0.5)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        loss = nn.functional.binary_cross_entropy_with_logits(probe(x), torch.from_numpy(presence[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        if (step + 1) % 100 == 0:
            losses.append(round(running / 100, 5))
            running = 0.0
            if progress is not None:
                progress(step + 1)
    return probe.eval(), losses


@torch.no_grad()
def _maps(probe: ShapeProbe, images: np.ndarray, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    maps, logits = [], []
    for i in range(0, len(images), batch):
        m = probe.features(vaegan.to_tensor(images[i : i + batch]))
        maps.append(m.numpy())
        logits.append(probe.head(m.mean((2, 3))).numpy())
    return np.concatenate(maps).astype(np.float64), np.concatenate(logits).astype(np.float64)


def probe_features(probe: ShapeProbe, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The probe's last map averaged over 2 x 2 quadrants and over the whole image.

    Parameters
    ----------
    probe : ShapeProbe
    images : ndarray, uint8, shape (N, 64, 64, 3)

    Returns
    -------
    quadrants : ndarray, float64, shape (N, 512)
    pooled : ndarray, float64, shape (N, 128)
    """
    maps, _ = _maps(probe, images)
    quadrants = np.stack([maps[:, :, :4, :4], maps[:, :, :4, 4:], maps[:, :, 4:, :4], maps[:, :, 4:, 4:]], -1)
    return quadrants.mean((2, 3)).reshape(len(images), -1), maps.mean((2, 3))


def presence_probabilities(probe: ShapeProbe, images: np.ndarray) -> np.ndarray:
    """P(a shape of each kind is drawn), by the probe.

    Parameters
    ----------
    probe : ShapeProbe
    images : ndarray, uint8, shape (N, 64, 64, 3)

    Returns
    -------
    ndarray, float64, shape (N, 5)
        In :data:`SHAPE_KINDS` order.
    """
    return 1.0 / (1.0 + np.exp(-_maps(probe, images)[1]))


def presence_auc(probe: ShapeProbe, images: np.ndarray, presence: np.ndarray) -> dict[str, float]:
    """ROC AUC of the probe's presence probability for each shape kind (0.5: blind, 1: perfect).

    Parameters
    ----------
    probe : ShapeProbe
    images : ndarray, uint8, shape (N, 64, 64, 3)
    presence : ndarray, shape (N, 5)
        The true labels (:func:`labelled_images`).

    Returns
    -------
    dict
        Kind -> AUC, and ``"mean"``.
    """
    from sklearn.metrics import roc_auc_score

    p = presence_probabilities(probe, images)
    auc = {k: round(float(roc_auc_score(presence[:, i], p[:, i])), 4) for i, k in enumerate(SHAPE_KINDS)}
    return {**auc, "mean": round(float(np.mean(list(auc.values()))), 4)}


def save_probe(path: str | Path, probe: ShapeProbe, meta: dict) -> None:
    """Write the probe's weights and a record (atomically).

    Parameters
    ----------
    path : str or Path
        The file (.pt).
    probe : ShapeProbe
    meta : dict
        JSON-like record (command, versions, losses, held-out AUC).
    """
    with atomic_path(Path(path), suffix=".pt") as tmp:
        torch.save({"state": probe.state_dict(), "meta": meta}, tmp)


def load_probe(path: str | Path) -> tuple[ShapeProbe, dict]:
    """Read a probe written by :func:`save_probe` (weights only, no pickled objects).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    probe : ShapeProbe
        In eval mode.
    meta : dict
    """
    blob = torch.load(path, map_location="cpu", weights_only=True)
    probe = ShapeProbe()
    probe.load_state_dict(blob["state"])
    return probe.eval(), blob["meta"]


def main(argv: list[str] | None = None) -> dict:
    """Train a probe, measure it on held-out images and write it with its record.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv``).

    Returns
    -------
    dict
        The record written beside the weights.
    """
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="the probe file (.pt)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--n-images", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.steps < 1 or args.n_images < 250 or args.seed < 0 or args.threads < 1:
        p.error("--steps and --threads must be >= 1, --n-images >= 250, --seed >= 0")
    if not args.out.parent.is_dir():
        p.error(f"--out {args.out}: its folder does not exist")
    torch.set_num_threads(args.threads)
    probe, losses = train_probe(
        args.steps,
        args.n_images,
        seed=args.seed,
        progress=lambda s: print(f"step {s}", flush=True) if s % 500 == 0 else None,
    )
    images, presence = labelled_images(0, 2000, tag=PROBE_EVAL_TAG)
    meta = {"command": f"python -m fmri_bench.pipeline.shape_probe --out FILE --steps {args.steps} "
            f"--n-images {args.n_images} --seed {args.seed} --threads {args.threads}",
            "torch": str(torch.__version__), "losses": losses,
            "held_out_auc": presence_auc(probe, images, presence)}  # fmt: skip
    save_probe(args.out, probe, meta)
    print(json.dumps({"held_out_auc": meta["held_out_auc"], "final_loss": losses[-1]}))
    return meta


if __name__ == "__main__":
    main()
