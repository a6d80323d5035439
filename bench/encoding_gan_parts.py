"""Each part of encoding-gan on the default synthetic dataset: mean ± sd over subjects.

    python bench/encoding_gan_parts.py --data-home H   # H prepared by `./dev demo` or `fmri-bench prepare`

Rows: the default (the searched image averaged with the direct decode, ``structure_weight``
0.25), the searched image alone (``structure_weight=1``), and, for the searched image alone,
the encoding model without the low-pass terms and the library choice without the latent
search. Metrics: PixCorr, SSIM, SqueezeNet identification (mindeye protocol). Generator
seed 0; ``bench/structure_weight.py`` gives the default's weight over the three seeds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fmri_bench as fb
from fmri_bench.baselines.encoding_gan import EncodingGAN

CONFIGS = {
    "default (0.25 x searched image + 0.75 x direct decode)": {},
    "library choice + latent search (structure_weight=1)": {"structure_weight": 1.0},
    "encoding model alone (pixel_weight=0, lowpass_weight=0)": {
        "pixel_weight": 0.0, "lowpass_weight": 0.0, "structure_weight": 1.0,
    },
    "library choice only (search_steps=0)": {"search_steps": 0, "structure_weight": 1.0},
}  # fmt: skip


def main() -> None:
    """Print one line per subject and configuration, then the mean ± sd."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-home", required=True)
    ap.add_argument("--subjects", nargs="+", default=["sub-01", "sub-02", "sub-03"])
    args = ap.parse_args()
    for label, params in CONFIGS.items():
        scores = []
        for subject in args.subjects:
            b = fb.fetch("synthetic", "v1", subject=subject, data_home=args.data_home)
            start = time.perf_counter()
            recon = EncodingGAN(**params).fit(b.X_train, b.images_train[b.y_train]).predict(b.X_test)
            s = fb.evaluate(b.images_test, recon, ["pixcorr", "ssim", "squeezenet"])
            scores.append([s["pixcorr"], s["ssim"], s["squeezenet"]])
            print(f"{label} {subject}: {np.round(scores[-1], 3).tolist()} ({time.perf_counter() - start:.0f} s)")
        m, sd = np.mean(scores, 0), np.std(scores, 0, ddof=1) if len(scores) > 1 else np.zeros(3)
        print(f"== {label}: PixCorr / SSIM / SqueezeNet " + " | ".join(f"{a:.3f} ± {b:.3f}" for a, b in zip(m, sd)))


if __name__ == "__main__":
    main()
