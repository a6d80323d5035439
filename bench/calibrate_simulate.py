"""Calibrate the simulator's SNR with the package's own stages: the seed's sanity check and a ridge decoder.

Usage: python bench/calibrate_simulate.py [--size default] [--snr 0.1 0.12] [--seed 0]

For each SNR, simulates the dataset (the size preset with that SNR) into a temporary
folder, prepares v1 (fmri_bench.prepare, the same code users run) and prints, per
subject, the seed's sanity check (svm-sanity: PCA 300, SVC(gamma='auto'), 4 training
blocks per image; chance 0.5; real ds001506 sub-01: 0.56) and pca-ridge's PixCorr and
pixel identification on the test images (chance 0 and 0.5).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from fmri_bench.data import load_images, prepared_subjects
from fmri_bench.metrics import evaluate
from fmri_bench.pipeline import prepare_dataset, run_baseline
from fmri_bench.raw.simulate import SIZES
from fmri_bench.raw.simulate import config as simulate_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default", choices=sorted(SIZES))
    parser.add_argument("--snr", type=float, nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=300)
    args = parser.parse_args()
    base = SIZES[args.size]
    print(f"{'snr':>6} {'subject':>8} {'svm_acc':>8} {'pixcorr':>8} {'pix_id':>8} {'sim_s':>6}")
    for snr in args.snr or [base.snr]:
        simulate_config.SIZES[args.size] = dataclasses.replace(base, snr=snr)
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            start = time.perf_counter()
            from fmri_bench.raw.simulate import simulate_dataset

            bids = simulate_dataset(Path(tmp) / "bids", size=args.size, seed=args.seed)
            prepare_dataset("synthetic", versions=["v1"], source=bids, data_home=home)
            sim_s = time.perf_counter() - start
            targets = np.asarray(load_images("synthetic", "v1", "test", data_home=home))
            for sub in prepared_subjects("synthetic", "v1", data_home=home):
                (svm,) = run_baseline(
                    "svm-sanity",
                    subject=sub,
                    data_home=home,
                    score=False,
                    params={"n_pairs": args.pairs},
                    seed=args.seed,
                )
                (ridge,) = run_baseline("pca-ridge", subject=sub, data_home=home, score=False, seed=args.seed)
                scores = evaluate(targets, np.load(ridge.submission_path), ["pixcorr", "pixel_identification"])
                print(
                    f"{snr:>6.3f} {sub:>8} {svm.metrics['accuracy']:>8.3f} {scores['pixcorr']:>8.3f} "
                    f"{scores['pixel_identification']:>8.3f} {sim_s:>6.1f}"
                )
    simulate_config.SIZES[args.size] = base


if __name__ == "__main__":
    main()
