"""Benchmark: simulate and prepare the default synthetic dataset (all subjects, v1 and v2).

Target: under 60 s on 2 CPU cores. These machines are shared and noisy, so the same run
times a fixed reference workload (the PCA of bench_demo.py) before and after, and reports
the time in units of it as well. The simulation covers every session (natural-image
training and test, the 40 shapes and the 10 letters), the fMRIPrep transforms and the
oracle; prepare reads the sessions its recipe names. Motion off is the default dataset;
``--motion`` also times the motion-on simulation (its grid is larger: 4 mm of empty field of view).

Usage: python bench/bench_simulate.py [--motion] [--size default]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_demo import reference_workload

TARGET_S = 60.0


def run(size: str, motion: bool) -> tuple[float, float]:
    """(simulate seconds, prepare seconds) in a fresh folder."""
    from fmri_bench.pipeline import prepare_dataset
    from fmri_bench.raw.simulate import simulate_dataset

    work = Path(tempfile.mkdtemp(prefix="fmri-bench-sim-"))
    try:
        start = time.perf_counter()
        bids = simulate_dataset(work / "bids", size=size, seed=0, motion=motion)
        simulated = time.perf_counter()
        prepare_dataset("synthetic", versions=["v1", "v2"], source=bids, data_home=work / "home")
        return simulated - start, time.perf_counter() - simulated
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default")
    parser.add_argument("--motion", action="store_true", help="also time the motion-on simulation")
    args = parser.parse_args()
    os.environ.setdefault("FMRI_BENCH_NO_PROGRESS", "1")
    import fmri_bench.pipeline  # noqa: F401  (imports are not part of the figure)

    reference = [reference_workload()]
    rows = []
    for motion in (False, True) if args.motion else (False,):
        sim_s, prep_s = run(args.size, motion)
        rows.append((motion, sim_s, prep_s))
        reference.append(reference_workload())
    ref = sum(reference) / len(reference)
    print("| dataset | simulate s | prepare v1+v2 s | total s | reference units | of the 60 s target |")
    print("|---|---|---|---|---|---|")
    for motion, sim_s, prep_s in rows:
        total = sim_s + prep_s
        label = f"{args.size}, motion {'on' if motion else 'off'}"
        print(f"| {label} | {sim_s:.1f} | {prep_s:.1f} | {total:.1f} | {total / ref:.0f} | {total / TARGET_S:.2f} |")
    print(
        f"\nreference workload (PCA 2000x3000 -> 300): {ref:.2f} s (mean of {len(reference)}, "
        f"{min(reference):.2f}-{max(reference):.2f}); cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
