"""Train the diffusion prior over a VAE-GAN's latents and write it with its record.

The prior shipped in ``fmri_bench/estimators/generators/`` was made by::

    python -m fmri_bench.pipeline.train_latent_prior --out runs/prior-seed0 --generator-seed 0 --seed 0 \
        --threads 1 --snapshot-every 8000

(:class:`fmri_bench.estimators.latent_prior.TrainConfig`'s steps); the guide shipped
beside it (``latent-prior-seed0-guide.pt``, for
:func:`~fmri_bench.estimators.latent_prior.autoguided`) is that run's
``snapshots/step8000.pt``, measured by the same command with ``--evaluate FILE
--eval-images 500 --sample-steps 100``. It writes into ``--out``:

- ``prior.pt``: the denoiser (float16 weights), the latents' standardisation, provenance;
- ``record.json``: command, seeds, configs, versions, the generator's and the prior's
  sha256, the loss curve and the sample-quality measurement below;
- ``curves.png`` (the loss) and ``samples.png`` (G(z) for z from the prior, from
  N(0, I) and from a Gaussian fitted to the latents, beside stream images);
- with ``--snapshot-every K``: ``snapshots/step<k>.pt``, each what ``--steps k`` writes
  (the rate is constant after the warm-up).

Sample quality is the Frechet distance (Heusel et al. 2017's formula) between 1,000 images
G(z) and 1,000 images of a fresh stream, in the 960 Gabor-energy and colour features of
:class:`fmri_bench.estimators.gan.ImageFeatures` (standardised on the stream images),
with two references: a second set of 1,000 stream images (the floor: sampling noise) and
G(E(x)) of the stream images (what the generator can draw at all); the prior's samples are
measured with ancestral sampling (``eta=1``) and the deterministic DDIM chain (``eta=0``),
250 steps each (``--eval-images`` and ``--sample-steps`` change both; the record says
which). ``--evaluate FILE`` measures and draws an existing prior file instead of training
one. ``--init FILE`` continues training a prior file (its weights and standardisation, a
fresh optimiser with its warm-up) on the ``--seed`` stream's latents; the record names the
file and its sha256. Run as a module, it shows a progress bar on a terminal and a log line
every 1,000 steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import gan, latent_prior, vaegan
from fmri_bench.io import atomic_path, sha256_file
from fmri_bench.pipeline.train_generator import labelled_rows
from fmri_bench.progress import configure_cli_output, get_logger, make_progress

log = get_logger(__name__)
EVAL_TAG = 0x5641_4C45  # "VALE": the evaluation images' own stream


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (rows are samples).

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` (Heusel et al. 2017, FID's formula).

    Parameters
    ----------
    a, b : ndarray, shape (N, D)

    Returns
    -------
    float
    """
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2.0 * root))


def stream_distance(reference: np.ndarray) -> Callable[[np.ndarray], float]:
    """The sample-quality distance to ``reference`` images, as a function of other images.

    Both sets go through :func:`fmri_bench.estimators.gan.image_features` (960 Gabor-energy
    and colour features), standardised by the reference's mean and spread, then
    :func:`frechet_distance`. The reference's features are computed once.

    Parameters
    ----------
    reference : ndarray, uint8, shape (N, H, W, 3)
        Images of the evaluation stream.

    Returns
    -------
    callable
        ``distance(images) -> float``.
    """
    ref = gan.image_features(reference).astype(np.float64)
    mu, sd = ref.mean(0), ref.std(0) + 1e-6
    ref = (ref - mu) / sd

    def distance(images: np.ndarray) -> float:
        return frechet_distance(ref, (gan.image_features(images).astype(np.float64) - mu) / sd)

    return distance


def flat_pixel_fraction(images: np.ndarray) -> float:
    """Fraction of pixels whose grey-level gradient ``|dx| + |dy|`` is under 2 of 255.

    The stimuli are flat or gradient backgrounds with shapes (about 0.45 of their pixels
    are flat); textures have almost none.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, 3)

    Returns
    -------
    float
    """
    grey = images.astype(np.float64).mean(-1)
    grad = np.abs(np.diff(grey, axis=1))[:, :, :-1] + np.abs(np.diff(grey, axis=2))[:, :-1, :]
    return float((grad < 2.0).mean())


def squeezenet_features(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SqueezeNet 1.0 ``features.12`` (fire9, the layer of the SqueezeNet identification metric) of images.

    Resized to 224 px (bilinear, no antialias), ImageNet normalisation, then averaged over 2 x 2 quadrants (where the shapes are) and over the
    whole map. Needs the verified SqueezeNet weights (:func:`fmri_bench.weights.load_backbone`).

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, 3)

    Returns
    -------
    quadrants : ndarray, float64, shape (N, 2048)
    pooled : ndarray, float64, shape (N, 512)
    """
    from fmri_bench.metrics.core import extract_features
    from fmri_bench.metrics.resize import bilinear_no_antialias
    from fmri_bench.weights import IMAGENET_MEAN, IMAGENET_STD, load_backbone

    model, _ = load_backbone("squeezenet1_0")
    x = bilinear_no_antialias(np.ascontiguousarray(images.transpose(0, 3, 1, 2), np.float32) / 255.0, 224)
    maps = extract_features(model, ["features.12"], x, IMAGENET_MEAN, IMAGENET_STD)["features.12"]
    maps = maps.reshape(len(images), 512, 13, 13)
    quadrants = np.stack([maps[:, :, :7, :7], maps[:, :, :7, 6:], maps[:, :, 6:, :7], maps[:, :, 6:, 6:]], -1)
    return quadrants.mean((2, 3)).reshape(len(images), -1), maps.mean((2, 3))


def two_sample_accuracy(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Classifier two-sample test: how well a linear classifier tells set ``a`` from set ``b``.

    Lopez-Paz & Oquab 2017 ("Revisiting classifier two-sample tests"): 5-fold
    cross-validated accuracy of an L2-regularised logistic regression (C = 0.01, standardised
    features) on the pooled, labelled sets. 0.5 when the sets are indistinguishable in these
    features, 1.0 when they are separable. Unlike a Frechet distance it is not dominated by
    texture energy: it uses any direction in which the sets differ.

    Parameters
    ----------
    a, b : ndarray, shape (N, D)
        Features of the two sets (equal sizes keep chance at 0.5).
    seed : int
        Seeds the folds.

    Returns
    -------
    float
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([a, b])
    y = np.r_[np.ones(len(a)), np.zeros(len(b))]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=5000))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(model, x, y, cv=folds).mean())


def gaussian_latents(latents: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Samples of a full-covariance Gaussian fitted to latents (Ghosh et al. 2020's simplest ex-post density).

    Parameters
    ----------
    latents : ndarray, shape (N, D)
    n : int
    seed : int

    Returns
    -------
    ndarray, float32, shape (n, D)
    """
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(latents.mean(0), np.cov(latents, rowvar=False), size=n).astype(np.float32)


class SampleQuality(NamedTuple):
    """What :func:`sample_quality` measured, keyed by image set."""

    frechet: dict[str, float]
    flat_pixel_fraction: dict[str, float]
    images: dict[str, np.ndarray]


def sample_quality(
    G, E, prior: latent_prior.LatentPrior, latents: np.ndarray, n: int = 1000, sample_steps: int = 250
) -> SampleQuality:
    """Frechet distances to stream images of G(z) for z from the prior and from the references.

    Parameters
    ----------
    G, E : Generator, Encoder
        The VAE-GAN.
    prior : LatentPrior
        The prior.
    latents : ndarray
        Its training latents (for the Gaussian reference).
    n : int
        Images per set (a multiple of 125).
    sample_steps : int
        Steps of the prior's reverse chains.

    Returns
    -------
    SampleQuality
        Per image set (``prior_eta1``, ``prior_eta0``, ``gaussian_fit``, ``normal``,
        ``reconstruction``, ``stream``): the Frechet distance to the stream images, the
        flat-pixel fraction and the images themselves (for the pictures).
    """
    import torch

    stream = np.concatenate([vaegan.render_batch(0, b, 250, tag=EVAL_TAG) for b in range(2 * n // 250)])
    ref, second = stream[:n], stream[n:]
    images = {
        "prior_eta1": vaegan.decode(G, prior.sample(n, seed=1, sample_steps=sample_steps, eta=1.0)),
        "prior_eta0": vaegan.decode(G, prior.sample(n, seed=1, sample_steps=sample_steps, eta=0.0)),
        "gaussian_fit": vaegan.decode(G, gaussian_latents(latents, n, seed=1)),
        "normal": vaegan.decode(G, torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(1)).numpy()),
        "reconstruction": vaegan.decode(G, vaegan.encode(E, second)),
        "stream": second,
    }
    distance = stream_distance(ref)
    return SampleQuality(
        frechet={k: round(distance(v), 2) for k, v in images.items()},
        flat_pixel_fraction={k: round(flat_pixel_fraction(v), 3) for k, v in images.items()},
        images=images,
    )


def curves_png(path: Path, losses: list[float], title: str) -> None:
    """The weighted loss per step (smoothed over 200 steps).

    Parameters
    ----------
    path : Path
        The PNG.
    losses : list of float
    title : str
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = np.asarray(losses)
    w = min(200, len(v))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(w - 1, len(v)), np.convolve(v, np.ones(w) / w, mode="valid"))
    ax.set(yscale="log", xlabel="step", ylabel="min-SNR-weighted v loss", title=title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def _command(args: argparse.Namespace, steps: int) -> str:
    init = "" if args.init is None else f" --init {args.init.name}"
    return (
        f"python -m fmri_bench.pipeline.train_latent_prior --out DIR --generator-seed {args.generator_seed} "
        f"--seed {args.seed} --steps {steps} --n-latents {args.n_latents} --threads {args.threads}{init}"
        + (f" --grid {args.grid}" if args.grid != 8 else "")
    )


def _versions(threads: int) -> dict:
    import torch

    return {"code_version": latent_prior.CODE_VERSION, "generator_code_version": vaegan.CODE_VERSION,
            "torch": str(torch.__version__), "numpy": np.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "threads": threads}  # fmt: skip


def evaluate(
    out: Path,
    prior_file: Path,
    G,
    E,
    latents: np.ndarray,
    losses: list[float] | None = None,
    n_images: int = 1000,
    sample_steps: int = 250,
) -> dict:
    """Measure a prior's samples and write ``record.json``, ``samples.png`` (and ``curves.png``).

    Parameters
    ----------
    out : Path
        The folder.
    prior_file : Path
        The prior.
    G, E : Generator, Encoder
        The VAE-GAN it models.
    latents : ndarray
        Its training latents.
    losses : list of float, optional
        The training loss per step.
    n_images, sample_steps : int
        Images per set and steps of the prior's chains (see :func:`sample_quality`).

    Returns
    -------
    dict
        The record.
    """
    prior, meta = latent_prior.load_prior(prior_file)  # measure what ships (float16 weights)
    quality = sample_quality(G, E, prior, latents, n=n_images, sample_steps=sample_steps)
    images = quality.images
    log.info("Frechet distances to stream images: %s", quality.frechet)
    record = {
        **meta,
        "prior": {"file": prior_file.name, "bytes": prior_file.stat().st_size, "sha256": sha256_file(prior_file)},
        "evaluation": {"images_per_set": n_images, "sample_steps": sample_steps},
        "frechet_gabor_colour_distance_to_stream_images": quality.frechet,
        "flat_pixel_fraction": quality.flat_pixel_fraction,
        "loss_per_100_steps": None if losses is None else [
            round(float(np.mean(losses[i : i + 100])), 5) for i in range(0, len(losses), 100)],
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "record.json", suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))
    labelled_rows(
        out / "samples.png",
        [("G(z), z from the\ndiffusion prior,\nancestral (eta=1)", images["prior_eta1"][:32]),
         ("the same, DDIM\n(eta=0)", images["prior_eta0"][:32]),
         ("G(z), z from a Gaussian\nfit to the latents", images["gaussian_fit"][:16]),
         ("G(z), z ~ N(0, I)", images["normal"][:16]),
         ("stream images", images["stream"][:16])],
        16,
    )  # fmt: skip
    if losses:
        curves_png(out / "curves.png", losses, f"latent prior, {len(losses)} steps")
    return record


def _checked_init(p: argparse.ArgumentParser, args: argparse.Namespace) -> latent_prior.LatentPrior | None:
    """Check the arguments before any work (one line and exit 2 on the first bad one); load ``--init``."""
    if args.seed < 0 or args.steps < 1 or args.threads < 1 or args.snapshot_every < 0:
        p.error("--seed and --snapshot-every must be >= 0, --steps and --threads >= 1")
    if args.n_latents < 250 or args.n_latents % 250:
        p.error("--n-latents must be a positive multiple of 250")
    if args.eval_images < 125 or args.eval_images % 125:
        p.error("--eval-images must be a positive multiple of 125")
    if not 1 <= args.sample_steps <= latent_prior.PriorConfig.timesteps:
        p.error(f"--sample-steps must be 1 to {latent_prior.PriorConfig.timesteps}")
    if args.evaluate is not None and not args.evaluate.is_file():
        p.error(f"--evaluate {args.evaluate}: not a file")
    init = None
    if args.init is not None:
        if args.evaluate is not None:
            p.error("--init trains; --evaluate measures a file without training: give one of them")
        try:
            init, init_meta = latent_prior.load_prior(args.init)
        except FmriBenchError as exc:
            p.error(f"--init: {exc}")
        if init_meta.get("generator_seed") != args.generator_seed:
            p.error(f"--init {args.init}: a prior of generator seed {init_meta.get('generator_seed')}, "
                    f"not --generator-seed {args.generator_seed}")  # fmt: skip
    return init


def main(argv: list[str] | None = None) -> dict:
    """Train, save and document one prior, or evaluate one (see the module docstring).

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        The record written to ``record.json``.
    """
    import torch

    p = argparse.ArgumentParser(prog="python -m fmri_bench.pipeline.train_latent_prior", description=__doc__)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--generator-seed", type=int, default=0, help="the shipped VAE-GAN checkpoint it models")
    p.add_argument("--grid", type=int, default=latent_prior.SHIPPED_GRID, choices=(8, 16),
                   help="that checkpoint's architecture (vaegan.grid_config)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=latent_prior.TrainConfig.steps)
    p.add_argument("--n-latents", type=int, default=latent_prior.TrainConfig.n_latents)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--snapshot-every", type=int, default=0)
    p.add_argument("--init", type=Path, help="continue training this prior file (a fresh optimiser)")
    p.add_argument("--evaluate", type=Path, help="measure this prior file instead of training one")
    p.add_argument("--eval-images", type=int, default=1000, help="images per set in the measurement")
    p.add_argument("--sample-steps", type=int, default=250, help="steps of the prior's chains in the measurement")
    args = p.parse_args(argv)
    init = _checked_init(p, args)
    ckpt = vaegan.shipped_checkpoint(args.generator_seed, args.grid)
    if ckpt is None:
        seeds = vaegan.SHIPPED_SEEDS if args.grid == 8 else vaegan.SHIPPED_GRID16_SEEDS
        p.error(f"--generator-seed {args.generator_seed}: no shipped grid-{args.grid} VAE-GAN (seeds {seeds})")
    torch.set_num_threads(args.threads)
    G, E, _ = vaegan.load_checkpoint(ckpt)
    cfg = latent_prior.TrainConfig(seed=args.seed, steps=args.steps, n_latents=args.n_latents)
    model_cfg = latent_prior.PriorConfig(latent_shape=latent_prior.latent_shape_of(G))
    log.info("encoding %d stream images", cfg.n_latents)
    latents = latent_prior.training_latents(E, cfg.n_latents, cfg.seed, threads=args.threads)
    if args.evaluate is not None:
        saved = args.evaluate.with_name("losses.npy")  # the curve that the training run left beside it
        losses = np.load(saved, allow_pickle=False).tolist() if saved.is_file() else None
        return evaluate(args.out, args.evaluate, G, E, latents, losses, args.eval_images, args.sample_steps)

    def meta(steps: int) -> dict:
        return {"command": _command(args, steps), "seed": cfg.seed, "steps": steps,
                "generator_seed": args.generator_seed, "generator_sha256": sha256_file(ckpt),
                "train_config": dataclasses.asdict(dataclasses.replace(cfg, steps=steps)),
                "model_config": {**dataclasses.asdict(model_cfg), "latent_shape": list(model_cfg.latent_shape)}, "versions": _versions(args.threads),
                **({} if init is None else {"init": {"file": args.init.name, "sha256": sha256_file(args.init)}})}  # fmt: skip

    def snapshot(step: int, prior: latent_prior.LatentPrior) -> None:
        (args.out / "snapshots").mkdir(parents=True, exist_ok=True)
        with atomic_path(args.out / "snapshots" / f"step{step}.pt", suffix=".pt") as tmp:
            latent_prior.save_prior(tmp, prior, meta(step))

    with make_progress() as progress:
        task = progress.add_task(f"latent prior seed {args.seed}", total=cfg.steps)

        def advance() -> None:
            progress.advance(task)
            done = int(progress.tasks[0].completed)
            if done % 1000 == 0:  # a line in logs, where the bar is not drawn
                log.info("step %d of %d", done, cfg.steps)

        prior, losses = latent_prior.train(
            latents, cfg, model_cfg, advance, snapshot, snapshot_every=args.snapshot_every, init=init
        )
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "prior.pt", suffix=".pt") as tmp:
        latent_prior.save_prior(tmp, prior, meta(cfg.steps))
    np.save(args.out / "losses.npy", np.asarray(losses, np.float32))
    return evaluate(args.out, args.out / "prior.pt", G, E, latents, losses, args.eval_images, args.sample_steps)


if __name__ == "__main__":
    configure_cli_output()  # progress bar and log lines on stderr, as the CLI shows them
    main()
