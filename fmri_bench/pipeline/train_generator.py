"""Train the VAE-GAN image prior of the GAN baselines and write it with its record.

The checkpoints shipped in ``fmri_bench/estimators/generators/`` were made by::

    python -m fmri_bench.pipeline.train_generator --out runs/vaegan-seed0 --seed 0 --threads 2
    python -m fmri_bench.pipeline.train_generator --out runs/vaegan-seed1 --seed 1
    python -m fmri_bench.pipeline.train_generator --out runs/vaegan-seed2 --seed 2

(4000 steps; 20 min on 2 threads, 25-30 min on 1 thread beside other work), and the
grid-16 generator (the (4, 16, 16) latent map of ``vaegan.grid_config(16)``) by::

    python -m fmri_bench.pipeline.train_generator --out runs/vaegan-grid16-seed0 --seed 0 --steps 1000 --grid 16

(5 min on 1 thread). Each writes
into ``--out``:

- ``vaegan.pt``: G and E (float16 weights), model config, provenance;
- ``record.json``: command, seed, configs, code version, versions of torch / numpy /
  Python, the checkpoint's sha256, held-out reconstruction metrics and learning curves;
- ``curves.png``, ``samples.png`` (prior samples beside stream images) and
  ``recon_test.png`` (the embedded dataset's 50 test stimuli and G(E(x))).

Held out: the embedded dataset's stimuli (default size, seed 0), never in the stream.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
from pathlib import Path

import numpy as np

from fmri_bench.estimators import vaegan
from fmri_bench.io import atomic_path, sha256_file
from fmri_bench.metrics.definitions import rgb2gray, ssim_gaussian_2d
from fmri_bench.progress import configure_cli_output, get_logger, make_progress

log = get_logger(__name__)


def reconstruction_metrics(recon: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Mean PixCorr and SSIM (the leaderboard's definitions) of uint8 images against uint8 targets.

    Parameters
    ----------
    recon, target : ndarray, uint8, shape (N, H, W, 3)

    Returns
    -------
    dict
        ``pixcorr``, ``ssim`` (means over images, rounded to 4 decimals).
    """
    a = recon.reshape(len(recon), -1).astype(np.float64)
    b = target.reshape(len(target), -1).astype(np.float64)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    pixcorr = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1) + 1e-12)
    grey = [rgb2gray(x.astype(np.float64) / 255.0) for x in (recon, target)]
    return {"pixcorr": round(float(pixcorr.mean()), 4), "ssim": round(float(ssim_gaussian_2d(*grey).mean()), 4)}


def heldout_stimuli(size: str = "default", seed: int = 0) -> dict[str, np.ndarray]:
    """The embedded dataset's stimuli at 64 px, by split (what the generator is checked on).

    Parameters
    ----------
    size : str
        A size preset of the simulator.
    seed : int
        The dataset seed.

    Returns
    -------
    dict
        ``{"train": uint8 (n_train, 64, 64, 3), "test": uint8 (n_test, 64, 64, 3)}``.
    """
    from fmri_bench.raw.simulate.config import SIZES
    from fmri_bench.raw.simulate.stimuli import _make_stimuli

    rows, images = _make_stimuli(SIZES[size], seed)
    small = np.stack([vaegan._lanczos(im, vaegan.IMAGE_SIZE) for im in images])
    split = np.array([r["split"] for r in rows])
    return {"train": small[split == "train"], "test": small[split == "test"]}


def _grid(images: np.ndarray, cols: int, pad: int = 2) -> np.ndarray:
    n, h, w, c = images.shape
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, im in enumerate(images):
        r, q = divmod(i, cols)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = im
    return out


def labelled_rows(path: Path, rows: list[tuple[str, np.ndarray]], cols: int, scale: int = 2) -> None:
    """Write image grids stacked with a text label on the left of each (a PNG).

    Parameters
    ----------
    path : Path
        The PNG.
    rows : list of (str, ndarray)
        Label and uint8 images (n, H, W, 3) of each row.
    cols : int
        Images per grid row.
    scale : int
        Nearest-neighbour enlargement.
    """
    from PIL import Image, ImageDraw

    grids = [_grid(imgs, cols) for _, imgs in rows]
    label_w = 130
    canvas = Image.new("RGB", (grids[0].shape[1] + label_w, sum(g.shape[0] for g in grids)), "white")
    draw, y = ImageDraw.Draw(canvas), 0
    for (label, _), g in zip(rows, grids):
        canvas.paste(Image.fromarray(g), (label_w, y))
        draw.multiline_text((4, y + 4), label, fill="black")
        y += g.shape[0]
    canvas = canvas.resize((canvas.width * scale, canvas.height * scale), Image.Resampling.NEAREST)
    with atomic_path(path, suffix=".png") as tmp:
        canvas.save(tmp, format="png")


def curves_png(path: Path, history: dict, title: str) -> None:
    """Learning curves: reconstruction losses, adversarial terms, validation PixCorr/SSIM.

    Parameters
    ----------
    path : Path
        The PNG.
    history : dict
        :func:`fmri_bench.estimators.vaegan.train`'s history.
    title : str
        Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def smooth(v: list) -> tuple[np.ndarray, np.ndarray]:
        v, w = np.asarray(v, dtype=np.float64), min(50, max(1, len(v)))
        return np.arange(w - 1, v.size), np.convolve(v, np.ones(w) / w, mode="valid")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key in ("rec_l1", "grad_l1"):
        axes[0].plot(*smooth(history[key]), label=key)
    axes[0].set(yscale="log", xlabel="step", title="reconstruction losses (stream, [-1, 1] units)")
    for key in ("d_loss", "adv_g", "adv_lambda"):
        axes[1].plot(*smooth(history[key]), label=key)
    axes[1].set(xlabel="step", title="D hinge loss, G adversarial loss, adaptive weight")
    ev = history["eval"]
    axes[2].plot([e["step"] for e in ev], [e["pixcorr"] for e in ev], "o-", label="PixCorr")
    axes[2].plot([e["step"] for e in ev], [e["ssim"] for e in ev], "s-", label="SSIM")
    axes[2].set(xlabel="step", title="validation G(E(x)), 256 stream images")
    for ax in axes:
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def _command(args: argparse.Namespace) -> str:
    """The training command without ``--out``: what determines the checkpoint's bytes."""
    return (
        f"python -m fmri_bench.pipeline.train_generator --out DIR --seed {args.seed} --steps {args.steps} "
        f"--threads {args.threads}" + (f" --grid {args.grid}" if args.grid != 8 else "")
    )


def _record(args: argparse.Namespace, tcfg, mcfg, history: dict, ckpt: Path, heldout: dict) -> dict:
    import torch

    return {
        "command": _command(args),
        "heldout_size": args.heldout_size,
        "seed": tcfg.seed,
        "train_config": dataclasses.asdict(tcfg),
        "model_config": dataclasses.asdict(mcfg),
        "versions": {
            "code_version": vaegan.CODE_VERSION,
            "torch": str(torch.__version__),
            "numpy": np.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "threads": args.threads,
        },  # fmt: skip
        "checkpoint": {"file": ckpt.name, "bytes": ckpt.stat().st_size, "sha256": sha256_file(ckpt)},
        "heldout_dataset_stimuli": heldout,
        "validation_curve": history["eval"],
        "losses_per_50_steps": {
            k: [round(float(np.mean(v[i : i + 50])), 5) for i in range(0, len(v), 50)]
            for k, v in history.items()
            if k != "eval"
        },
    }


def main(argv: list[str] | None = None) -> dict:
    """Train, save and document one generator (see the module docstring).

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

    p = argparse.ArgumentParser(prog="python -m fmri_bench.pipeline.train_generator", description=__doc__)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=vaegan.TrainConfig.steps)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--grid", type=int, default=8, choices=(8, 16), help="side of the latent map (vaegan.grid_config)")
    p.add_argument("--heldout-size", default="default", help="simulator size preset of the held-out stimuli")
    args = p.parse_args(argv)
    if args.seed < 0 or args.steps < 1 or args.threads < 1:
        p.error("--seed must be >= 0, --steps and --threads >= 1")
    tcfg = vaegan.TrainConfig(seed=args.seed, steps=args.steps, eval_every=max(1, min(250, args.steps)))
    mcfg = vaegan.grid_config(args.grid)
    valid = vaegan.render_batch(0, 0, 256, tag=vaegan.VALID_TAG)

    def on_eval(step: int, G, E) -> dict:
        m = reconstruction_metrics(vaegan.decode(G, vaegan.encode(E, valid)), valid)
        log.info("step %d: validation %s", step, m)
        return m

    torch.set_num_threads(args.threads)
    with make_progress() as progress:
        task = progress.add_task(f"VAE-GAN seed {args.seed}", total=args.steps)
        G, E, history = vaegan.train(mcfg, tcfg, on_eval=on_eval, progress=lambda: progress.advance(task))
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = args.out / "vaegan.pt"
    meta = {"seed": tcfg.seed, "train_config": dataclasses.asdict(tcfg), "torch": str(torch.__version__),
            "code_version": vaegan.CODE_VERSION, "command": _command(args)}  # fmt: skip
    with atomic_path(ckpt, suffix=".pt") as tmp:
        vaegan.save_checkpoint(tmp, G, E, mcfg, meta)
    G, E, _ = vaegan.load_checkpoint(ckpt)  # measure what ships (float16 weights)
    stim = heldout_stimuli(args.heldout_size)
    rec = {split: vaegan.decode(G, vaegan.encode(E, x)) for split, x in stim.items()}
    heldout = {split: reconstruction_metrics(rec[split], x) for split, x in stim.items()}
    record = _record(args, tcfg, mcfg, history, ckpt, heldout)
    with atomic_path(args.out / "record.json", suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))
    _pictures(args.out, G, history, stim["test"], rec["test"], tcfg)
    return record


def _pictures(out: Path, G, history: dict, test: np.ndarray, rec: np.ndarray, tcfg) -> None:
    import torch

    curves_png(out / "curves.png", history, f"VAE-GAN seed {tcfg.seed}, {tcfg.steps} steps")
    z = torch.randn(32, G.z_dim, generator=torch.Generator().manual_seed(1234)).numpy()
    stream = vaegan.render_batch(tcfg.seed, 10**6, 16)
    labelled_rows(
        out / "samples.png", [("G(z), z ~ N(0, I)", vaegan.decode(G, z)), ("stream images", stream)], 16
    )  # fmt: skip
    labelled_rows(
        out / "recon_test.png",
        [("test stimuli\n(held out)", test[:25]), ("G(E(x))", rec[:25]),
         ("test stimuli", test[25:50]), ("G(E(x))", rec[25:50])],
        25,
    )  # fmt: skip


if __name__ == "__main__":
    configure_cli_output()  # progress bar and log lines on stderr, as the CLI shows them
    main()
