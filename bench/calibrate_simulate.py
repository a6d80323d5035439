"""Calibrate the simulator's SNR: the seed's sanity check and a ridge pixel decoder per subject.

Usage: python bench/calibrate_simulate.py [--size default] [--snr 0.2 0.3] [--seed 0]

For each SNR, simulates the dataset (the size preset with that SNR) into a temporary
folder and prints, per subject, the pairwise test-image SVM accuracy (v1 block
average, PCA 300 fit on training samples, SVC(gamma='auto'), 4 training blocks per
image; chance 0.5; real ds001506 sub-01: 0.56) and the ridge pixel correlation
(32x32 RGB, mean over pixels of the correlation across test images; chance 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from fmri_bench.raw.simulate import SIZES, _simulate, ridge_pixel_correlation, sanity_check_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default", choices=sorted(SIZES))
    parser.add_argument("--snr", type=float, nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=300)
    args = parser.parse_args()
    base = SIZES[args.size]
    print(f"{'snr':>6} {'subject':>8} {'svm_acc':>8} {'ridge_r':>8} {'sim_s':>6}")
    for snr in args.snr or [base.snr]:
        preset = dataclasses.replace(base, snr=snr)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            root = _simulate(Path(tmp) / "bids", preset, args.seed)
            sim_s = time.perf_counter() - start
            for s in range(1, preset.n_subjects + 1):
                sub = f"sub-{s:02d}"
                acc = sanity_check_accuracy(root, sub, n_pairs=args.pairs)
                r = ridge_pixel_correlation(root, sub)
                print(f"{snr:6.3f} {sub:>8} {acc:8.3f} {r:8.3f} {sim_s:6.1f}", flush=True)


if __name__ == "__main__":
    main()
