"""encoding-gan's ``structure_weight``: the searched image averaged with the direct decode.

    python bench/structure_weight.py --data-home H   # H prepared by `./dev demo` or `fmri-bench prepare`

For each subject, encoding-gan is fit once per generator seed (0, 1, 2); its searched image
``G(z)`` and the direct decode ``G(z_direct)`` are mixed as ``w * G(z) + (1 - w) *
G(z_direct)`` for each weight ``w``, stored as uint8 (as a submission is), and scored
(mindeye protocol); per-image scores are averaged over the seeds, as the leaderboard's
generator-based rows are. Each row: the mean, its difference from ``pca-ridge`` and the
sign-flip p-value of that paired difference (before any adjustment), per subject and pooled
over the subjects' test images.
"""

from __future__ import annotations

import argparse

import numpy as np

import fmri_bench as fb
from fmri_bench.baselines.encoding_gan import EncodingGAN
from fmri_bench.baselines.pca_ridge import PCARidge
from fmri_bench.metrics.compare import paired_permutation_p
from fmri_bench.metrics.evaluate import evaluate_detailed

METRICS = ["pixcorr", "ssim", "squeezenet"]
WEIGHTS = [0.0, 0.15, 0.2, 0.25, 0.3, 0.4, 1.0]


def subject_scores(b, seeds: list[int]) -> tuple[dict, dict]:
    """Per-image scores of pca-ridge and of each weight (mean over generator seeds) for one subject."""
    train_images = b.images_train[b.y_train]
    ridge = PCARidge().fit(b.X_train, train_images).predict(b.X_test)
    ref = evaluate_detailed(b.images_test, ridge, METRICS).per_image
    model = EncodingGAN(structure_weight=1.0).fit(b.X_train, train_images)
    per: dict[float, dict[str, list]] = {w: {m: [] for m in METRICS} for w in WEIGHTS}
    for seed in seeds:
        seeded = model if seed == model.generator_seed else model.with_generator_seed(seed)
        drawn = seeded.set_params(structure_weight=1.0).predict(b.X_test)
        smooth = seeded.set_params(structure_weight=0.0).predict(b.X_test)
        for w in WEIGHTS:
            stored = np.round((w * drawn + (1 - w) * smooth) * 255).astype(np.uint8)
            scores = evaluate_detailed(b.images_test, stored.astype(np.float32) / 255, METRICS).per_image
            for m in METRICS:
                per[w][m].append(scores[m])
    return ref, {w: {m: np.mean(v, 0) for m, v in by.items()} for w, by in per.items()}


def main() -> None:
    """Print one markdown row per subject (and pooled) and weight."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-home", required=True)
    ap.add_argument("--subjects", nargs="+", default=["sub-01", "sub-02", "sub-03"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = ap.parse_args()
    results = {}
    for subject in args.subjects:
        b = fb.fetch("synthetic", "v1", subject=subject, data_home=args.data_home, verbose=0)
        results[subject] = subject_scores(b, args.seeds)
        print(f"{subject} done", flush=True)
    print("\n| subjects | structure_weight | PixCorr (- pca-ridge, p) | SSIM | SqueezeNet ident. |")
    print("|---|---|---|---|---|")
    for label, subjects in [*((s, [s]) for s in args.subjects), ("all", args.subjects)]:
        ref = {m: np.concatenate([results[s][0][m] for s in subjects]) for m in METRICS}
        for w in WEIGHTS:
            cells = []
            for m in METRICS:
                x = np.concatenate([results[s][1][w][m] for s in subjects])
                p = paired_permutation_p(x, ref[m])
                cells.append(f"{x.mean():.3f} ({x.mean() - ref[m].mean():+.3f}, p {p:.2g})")
            print(f"| {label} | {w:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
