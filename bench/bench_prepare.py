"""Benchmark: prepare's time and peak memory per run against the I/O floor, on a run of the real size.

Writes one synthetic BOLD run of the real ds001506 size (96x96x76x239 int16, gzipped) with
a real events file and ROI masks of a realistic size into a temporary folder, then runs
each variant in a fresh subprocess (so peak RSS, ``ru_maxrss``, is its own):

- ``io``: the I/O floor, decompress and read the run with nibabel alone;
- ``v1``, ``v2``, ``v1+v2``: prepare's per-run work (read once, mask early, compute).

Targets: time per run <= 1.3x the I/O floor; peak memory per worker <= 2x one run's
float32 volume. Usage: ``python bench/bench_prepare.py [--repeats 2] [--dir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPE = (96, 96, 76, 239)
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "openneuro" / "ds001506"
EVENTS = "sub-01/ses-perceptionNaturalImageTraining01/func/sub-01_ses-perceptionNaturalImageTraining01_task-perception_run-01_events.tsv"
ROIS = ["V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA"]


def write_inputs(folder: Path) -> None:
    """One run of the real size: a brain-shaped ellipsoid of noisy signal, int16, gzipped."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n) for n in SHAPE[:3]), indexing="ij")
    brain = (x**2 + y**2 + z**2) < 0.8
    data = np.zeros(SHAPE, dtype=np.int16)
    base = rng.normal(800, 200, size=brain.sum()).astype(np.float32)
    for t in range(SHAPE[3]):  # scanner-like: baseline + thermal noise, zero outside the head
        data[..., t][brain] = (base + rng.normal(0, 15, size=base.size)).astype(np.int16)
    nib.save(nib.Nifti1Image(data, affine), folder / "bold.nii.gz")
    # ROI masks: a posterior slab of the brain, about 14,000 voxels in all (ds001506's
    # visual cortex ROIs hold roughly 10,000-15,000 voxels per subject)
    posterior = brain & (y < -0.52)
    labels = rng.integers(0, len(ROIS), size=SHAPE[:3])
    for i, roi in enumerate(ROIS):
        for hemi, side in (("LH", x < 0), ("RH", x >= 0)):
            mask = (posterior & side & (labels == i)).astype(np.uint8)
            nib.save(nib.Nifti1Image(mask, affine), folder / f"mask_{hemi}_{roi}.nii.gz")
    (folder / "events.tsv").write_bytes((REFERENCE / EVENTS).read_bytes())


def run_variant(folder: Path, variant: str) -> dict:
    """Run one variant in this process; return its wall time and peak RSS."""
    import nibabel as nib

    if variant == "io":
        start = time.perf_counter()
        data = np.asanyarray(nib.load(folder / "bold.nii.gz").dataobj)
        checksum = float(data[48, 48, 38].sum())
        n_voxels = int(np.prod(SHAPE[:3]))
    else:
        # Imports, events and masks are per-process / per-subject costs: timed apart.
        import nilearn.glm.first_level
        import nilearn.signal  # noqa: F401

        from fmri_bench.prepare.core import _load_union_mask
        from fmri_bench.prepare.extract import RunTask, process_run
        from fmri_bench.raw.bids import read_events
        from fmri_bench.recipe import load_recipe

        recipe = load_recipe("ds001506")
        versions = variant.split("+")
        mask, _ = _load_union_mask([folder / f"mask_{h}_{r}.nii.gz" for r in ROIS for h in ("LH", "RH")])
        flat = np.ravel_multi_index(np.argwhere(mask).T, mask.shape, order="F")
        n_voxels = int(flat.size)
        task = RunTask(
            bold=folder / "bold.nii.gz",
            events=read_events(folder / "events.tsv", recipe.events),
            tr=2.0,
            n_volumes=SHAPE[3],
            voxels=dict.fromkeys(versions, flat),
            params={v: recipe.version(v) for v in versions},
        )
        start = time.perf_counter()
        out = process_run(task)
        checksum = float(sum(np.abs(o.fmri).sum() for o in out.values()))
    seconds = time.perf_counter() - start
    return {
        "variant": variant,
        "seconds": seconds,
        "n_voxels": n_voxels,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "checksum": checksum,
    }


def timing_loop(folder: Path, repeats: int) -> dict[str, float]:
    """Best wall time per variant, alternating the variants in one process (same load, same cache)."""
    best: dict[str, float] = {}
    for _ in range(repeats):
        for variant in ("io", "v1", "v2", "v1+v2"):
            seconds = run_variant(folder, variant)["seconds"]
            best[variant] = min(seconds, best.get(variant, np.inf))
    return best


def _import_baseline() -> float:
    """Peak RSS (MB) of a process that only imports what the prepare variants import."""
    code = (
        "import resource, nibabel, nilearn.signal, nilearn.glm.first_level, fmri_bench.prepare; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=None, help="reuse (or keep) the inputs in this folder")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)  # internal: run one variant
    args = parser.parse_args()
    if args.variant == "timing":
        print(json.dumps(timing_loop(args.dir, args.repeats)))
        return
    if args.variant:
        print(json.dumps(run_variant(args.dir, args.variant)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "bold.nii.gz").is_file():
            start = time.perf_counter()
            write_inputs(folder)
            print(
                f"wrote a {SHAPE} int16 run ({(folder / 'bold.nii.gz').stat().st_size / 1e6:.0f} MB gzipped) "
                f"in {time.perf_counter() - start:.0f} s",
                file=sys.stderr,
            )
        # Peak memory: each variant alone in a fresh process. Time: the variants alternated
        # in one process, best of --repeats (load from other processes hits them alike).
        results: dict[str, dict] = {}
        for variant in ("io", "v1", "v2", "v1+v2"):
            out = subprocess.run(
                [sys.executable, __file__, "--dir", str(folder), "--variant", variant],
                capture_output=True,
                text=True,
                check=True,
            )
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        out = subprocess.run(
            [sys.executable, __file__, "--dir", str(folder), "--variant", "timing", "--repeats", str(args.repeats)],
            capture_output=True,
            text=True,
            check=True,
        )
        best = json.loads(out.stdout.strip().splitlines()[-1])
        imports_mb = _import_baseline()
    volume_mb = np.prod(SHAPE) * 4 / 2**20
    limit = 2 * volume_mb
    print(
        f"\nrun {SHAPE} int16; one float32 volume = {volume_mb:.0f} MB; memory limit 2x = {limit:.0f} MB; "
        f"best of {args.repeats}"
    )
    print(f"{'variant':<8} {'s/run':>7} {'ratio':>7} {'peak MB':>8} {'peak-imports':>13} {'limit MB':>9}")
    floor = best["io"]
    for variant, row in results.items():
        peak = row["max_rss_mb"]
        print(
            f"{variant:<8} {best[variant]:7.2f} {best[variant] / floor:7.2f} {peak:8.0f} {peak - imports_mb:13.0f} {limit:9.0f}"
        )
    print(f"masked voxels: {results['v1']['n_voxels']}")
    print(f"(imports alone: {imports_mb:.0f} MB peak RSS; ratio = s/run over the I/O floor, target <= 1.3)")


if __name__ == "__main__":
    main()
