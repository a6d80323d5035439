"""Measure candidate version definitions on a replica with real run lengths: which keep the signal?

Not a speed benchmark: it writes a replica of one real subject (``tests/replica_support.py``:
its real events and run lengths, back-to-back 8 s (ds001506) or 9 s (ds001246) blocks, a
known per-image pattern convolved with a double-gamma HRF, AR(1) noise and slow drifts; no
head motion, so that only the per-run computation differs) and prepares its runs with each
candidate, then prints the split-half identification (chance 0.5) and the median NCSNR of
the samples per split. The recipes' v1 and v2 were chosen with it (datasets/README.md).

Usage: ``python bench/measure_versions.py [ds001506|ds001246] [--subject sub-01]
[--noise 0.04] [--runs-per-session 2]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import replica_support as rs  # noqa: E402

from fmri_bench.prepare.extract import block_average, single_trial_glm  # noqa: E402
from fmri_bench.raw.bids import read_events  # noqa: E402
from fmri_bench.recipe import load_recipe  # noqa: E402
from fmri_bench.stats import ncsnr, split_half_identification  # noqa: E402


def candidates(dataset: str) -> dict[str, dict]:
    """The shipped versions and the alternatives measured against them."""
    recipe = load_recipe(dataset)
    v2 = recipe.version("v2")
    lsa = {**v2, "trial_model": "lsa"}
    return {
        "v1: block average (shipped)": recipe.version("v1"),
        "v2: LSS, linear drift (shipped)": v2,
        "LSA, cosine drift 0.01 Hz (the old v2)": {**lsa, "drift_model": "cosine"},
        "LSA, linear drift (the old v3)": lsa,
        "LSA, polynomial drift of order 2": {**lsa, "drift_order": 2},
        "LSA, polynomial drift of order 3": {**lsa, "drift_order": 3},
        "LSA, linear drift, AR(1) noise model": {**lsa, "noise_model": "ar1"},
    }


def measure(dataset: str, subject: str, noise: float, runs_per_session: int, folder: Path) -> None:
    """Write the replica, run every candidate on every run, print the table."""
    import nibabel as nib
    from threadpoolctl import threadpool_limits

    rs.write_replica(
        rs_reference(folder), dataset, subject, folder / "bids", splits=["train", "test"],
        runs_per_session=runs_per_session, motion=rs.STILL, noise=noise, derivatives=False,
    )  # fmt: skip
    recipe = load_recipe(dataset)
    mask = np.zeros(rs.GRID, dtype=bool)
    mask[rs.ROI_BOX] = True
    variants = candidates(dataset)
    samples = {name: {"train": [], "test": []} for name in variants}
    labels: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        for split in ("train", "test"):
            prefix = rs.SPLIT_SESSIONS[dataset][split]
            for events_path in sorted((folder / "bids" / subject).glob(f"{prefix}*/func/*_events.tsv")):
                bold = events_path.with_name(events_path.name.replace("_events.tsv", "_bold.nii.gz"))
                data = np.asarray(nib.load(bold).dataobj)[mask].T.astype(np.float32)
                events = read_events(events_path, recipe.events)
                for name, params in variants.items():
                    method = block_average if params["method"] == "block_average" else single_trial_glm
                    out = method(data, events, rs.TR[dataset], params)
                    samples[name][split].append(out.fmri)
                labels[split].append(out.labels)
    print(f"\n{dataset} {subject} replica: noise sd {noise:g} of the baseline, pattern 2%, {runs_per_session} run(s) "
          f"per session (+ short runs); {time.perf_counter() - start:.0f} s")  # fmt: skip
    print("| candidate | train split-half identification | train NCSNR | test split-half identification | test NCSNR |")
    print("|---|---|---|---|---|")
    for name in variants:
        cells = []
        for split in ("train", "test"):
            x, y = np.concatenate(samples[name][split]), np.concatenate(labels[split])
            shi, snr = split_half_identification(x, y), ncsnr(x, y)
            cells += ["n/a" if shi is None else f"{shi:.3f}", "n/a" if snr is None else f"{np.median(snr):.2f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")


def rs_reference(folder: Path) -> Path:
    """The vendored real metadata, unpacked into ``folder``."""
    import tarfile

    with tarfile.open(ROOT / "tests" / "fixtures" / "reference.tar.xz") as archive:
        archive.extractall(folder / "reference", filter="data")
    return folder / "reference"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default="ds001506", choices=("ds001506", "ds001246"))
    parser.add_argument("--subject", default="sub-01")
    parser.add_argument("--noise", type=float, default=0.04)
    parser.add_argument("--runs-per-session", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="measure_versions_") as tmp:
        measure(args.dataset, args.subject, args.noise, args.runs_per_session, Path(tmp))


if __name__ == "__main__":
    main()
