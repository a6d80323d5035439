"""The latent prior inside a baseline: SDEdit on encoding-gan's latents, against its default.

    python bench/latent_prior_sdedit.py --data-home H   # H prepared by `./dev demo` or `fmri-bench prepare`
    python bench/latent_prior_sdedit.py --data-home H --guidance 2   # the autoguided prior

For each subject, encoding-gan with the generator the shipped prior models
(``latent_prior.prior_generator(0)``) gives
two latents per test response (:meth:`EncodingGAN.latent_codes`): the searched one ``z``
(the encoding model's drawing) and the direct decode ``z_direct`` (the smooth image). The
shipped prior then redraws them (:meth:`LatentPrior.regenerate`, Meng et al. 2022): noised
to step ``t``, denoised back. At small ``t`` that keeps a latent's layout and replaces its
detail with the prior's; averaging several draws estimates the posterior mean (what a
squared-error metric rewards).

Each row is stored as uint8 (as a submission is) and scored with the mindeye protocol's
PixCorr, SSIM and SqueezeNet identification; per subject and pooled over the subjects' test
images, with its difference from the default row and the sign-flip p-value of that paired
difference (before any adjustment). ``--figure`` draws the first subject's rows.
``--guidance W`` (> 1) redraws with the shipped prior guided by the shipped guide
(:func:`~fmri_bench.estimators.latent_prior.autoguided`) instead of the prior alone.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np

import fmri_bench as fb
from fmri_bench.baselines.encoding_gan import EncodingGAN
from fmri_bench.estimators import gan as _gan
from fmri_bench.estimators.latent_prior import autoguided, load_prior, prior_generator, shipped_prior
from fmri_bench.estimators.torch_support import torch_threads
from fmri_bench.metrics.compare import paired_permutation_p
from fmri_bench.metrics.evaluate import evaluate_detailed
from fmri_bench.pipeline.train_generator import labelled_rows

METRICS = ["pixcorr", "ssim", "squeezenet"]
DEFAULT = "default: 0.25 G(z) + 0.75 G(z_direct)"


def subject_rows(b, draws: int, guidance: float = 1.0) -> dict[str, np.ndarray]:
    """Every row's images (float, in [0, 1]) for one subject."""
    # the generator the shipped prior models (latent_prior.SHIPPED_GRID), whatever the baselines' default
    model = EncodingGAN(generator=str(prior_generator(0))).fit(b.X_train, b.images_train[b.y_train])
    z, z_direct = model.latent_codes(b.X_test)
    prior, _ = load_prior(shipped_prior(int(model.generator_seed)))
    if guidance != 1.0:
        prior = autoguided(prior, load_prior(shipped_prior(int(model.generator_seed), guide=True))[0], guidance)

    def draw(latents: np.ndarray) -> np.ndarray:
        with torch_threads("cpu"):
            return _gan.render(model.generator_.cpu(), latents, model.output_size_)

    def sdedit(latents: np.ndarray, t: int, n: int) -> np.ndarray:
        with torch_threads("cpu"):
            redrawn = [prior.regenerate(latents, t, seed=k, sample_steps=min(100, t + 1)) for k in range(n)]
        return np.mean([draw(r) for r in redrawn], 0)

    drawn, smooth = draw(z), draw(z_direct)
    smooth_100 = sdedit(z_direct, 100, draws)
    drawn_300 = sdedit(z, 300, 1)
    return {
        DEFAULT: 0.25 * drawn + 0.75 * smooth,
        "direct decode G(z_direct)": smooth,
        f"SDEdit z_direct, t=100, mean of {draws}": smooth_100,
        f"SDEdit z_direct, t=200, mean of {draws}": sdedit(z_direct, 200, draws),
        "SDEdit z_direct, t=200, one draw": sdedit(z_direct, 200, 1),
        "searched G(z)": drawn,
        "SDEdit z, t=300, one draw": drawn_300,
        "0.25 SDEdit z (t=300) + 0.75 G(z_direct)": 0.25 * drawn_300 + 0.75 * smooth,
        f"0.25 SDEdit z (t=300) + 0.75 SDEdit z_direct (t=100, mean of {draws})": 0.25 * drawn_300 + 0.75 * smooth_100,
    }


def main() -> None:
    """Print one markdown row per configuration, per subject and pooled."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-home", required=True)
    ap.add_argument("--subjects", nargs="+", default=["sub-01", "sub-02", "sub-03"])
    ap.add_argument("--draws", type=int, default=4, help="SDEdit draws averaged in the 'mean of' rows")
    ap.add_argument("--figure", type=Path, help="PNG of the first subject's first 10 test images, row by row")
    ap.add_argument("--guidance", type=float, default=1.0, help="autoguidance weight (1: the prior alone)")
    args = ap.parse_args()
    if args.draws < 1:
        ap.error(f"--draws {args.draws}: expected 1 or more")
    if not args.guidance >= 1.0:
        ap.error(f"--guidance {args.guidance}: expected a number >= 1")
    scores: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for i, subject in enumerate(args.subjects):
        b = fb.fetch("synthetic", "v1", subject=subject, data_home=args.data_home, verbose=0)
        rows = {
            k: np.round(np.clip(v, 0, 1) * 255).astype(np.uint8)
            for k, v in subject_rows(b, args.draws, args.guidance).items()
        }
        for label, stored in rows.items():
            per = evaluate_detailed(b.images_test, stored.astype(np.float32) / 255, METRICS).per_image
            scores.setdefault(label, {})[subject] = {m: np.asarray(per[m], dtype=np.float64) for m in METRICS}
        if i == 0 and args.figure is not None:
            figure_rows = [("stimuli", b.images_test[:10])] + [(k, v[:10]) for k, v in rows.items()]
            labelled_rows(args.figure, [("\n".join(textwrap.wrap(k, 24)), v) for k, v in figure_rows], 10)
            print(f"wrote {args.figure}")
        print(f"{subject} done", flush=True)
    print("\n| subjects | row | PixCorr (- default, p) | SSIM | SqueezeNet ident. |")
    print("|---|---|---|---|---|")
    for name, subjects in [*((s, [s]) for s in args.subjects), ("all", args.subjects)]:
        ref = {m: np.concatenate([scores[DEFAULT][s][m] for s in subjects]) for m in METRICS}
        for label, by_subject in scores.items():
            cells = []
            for m in METRICS:
                x = np.concatenate([by_subject[s][m] for s in subjects])
                p = paired_permutation_p(x, ref[m])
                cells.append(f"{x.mean():.3f} ({x.mean() - ref[m].mean():+.3f}, p {p:.2g})")
            print(f"| {name} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
