"""Benchmark: the README's demo (simulate -> prepare -> every baseline -> score -> leaderboard).

Target: under 5 minutes on 2 CPU cores. Since these machines are noisy, the same run also
times a fixed reference workload (a PCA of a fixed random matrix, the kind of work the
pipeline does), and reports the demo's time in units of that reference as well.

As `./dev demo` does, the offline weights of ../shared/weights (when present) are imported
first, here into a temporary torch cache, so the deep-feature metrics are computed too.

Usage: python bench/bench_demo.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_S = 300.0
SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights"
OFFLINE_WEIGHTS = {
    "squeezenet1_0": "squeezenet1_0-imagenet-deepcompression.pth",
    "mobilenet_v2": "mobilenet_v2-imagenet-coral-dequant.pth",
}


def reference_workload() -> float:
    """Seconds for a fixed PCA (2000 x 3000, 300 components), the calibration unit."""
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).standard_normal((2000, 3000)).astype(np.float32)
    start = time.perf_counter()
    PCA(n_components=300, svd_solver="randomized", random_state=0).fit(x)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="keep the data home and leaderboard here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="fmri-bench-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    home, board = work / "home", work / "leaderboard"
    env = {**os.environ, "FMRI_BENCH_NO_PROGRESS": "1", "TORCH_HOME": str(work / "torch")}
    for backbone, filename in OFFLINE_WEIGHTS.items():
        if (SHARED_WEIGHTS / filename).is_file():
            subprocess.run(
                [sys.executable, "-m", "fmri_bench.cli", "weights", "import", backbone, str(SHARED_WEIGHTS / filename)],
                env=env,
                check=True,
                capture_output=True,
            )
    code = (
        "import json; from fmri_bench.pipeline import run_demo; "
        f"print('TIMINGS=' + json.dumps(run_demo(data_home={str(home)!r}, leaderboard={str(board)!r})['timings']))"
    )
    reference_s = reference_workload()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    wall_s = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        return 1
    timings = json.loads(
        next(line for line in result.stdout.splitlines() if line.startswith("TIMINGS="))[len("TIMINGS=") :]
    )
    print("| stage | seconds |\n|---|---|")
    for stage, seconds in timings.items():
        print(f"| {stage} | {seconds:.1f} |")
    print(
        f"\ndemo wall time {wall_s:.1f} s (process start included); target {TARGET_S:.0f} s "
        f"-> {wall_s / TARGET_S:.2f} of the budget"
    )
    print(
        f"reference workload (PCA 2000x3000 -> 300) {reference_s:.2f} s; demo = {wall_s / reference_s:.0f} reference units"
    )
    print(f"cores: {os.cpu_count()}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
