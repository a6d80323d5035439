"""Benchmark: prepare's aligned read and per-run work against nibabel's read, on a run of the real size.

Writes one BOLD run of the real ds001506 size (96x96x76x239 int16 on an oblique grid,
gzipped to about the real 190 MB), fMRIPrep-format transforms of that size (239 head-motion
affines, one coregistration, an hmc boldref), ROI masks of about 29,000 voxels on a T1w grid
of their own, and a real events file (from the vendored test fixture). Variants:

- ``io``: the reference, nibabel reading the run (``np.asanyarray(img.dataobj)``, int16);
- ``aligned``: prepare's T1w read alone, trilinear (``resample_run``: streamed volume by
  volume, one interpolation through HMC[t] o COREG, only at the ROI voxels);
- ``aligned-cubic``: the same with fMRIPrep's cubic B-spline (order 3);
- ``aligned+v1+v2``: prepare's whole per-run work for both versions (``process_run``);
- ``native+v1+v2``: the same without alignment (the raw voxels; the old path).

Time: best of ``--repeats``, the variants alternated in one process, as wall and CPU
seconds (CPU time is the stable figure on a shared machine). Peak memory: each variant alone
in a fresh process (``ru_maxrss``). Targets: aligned <= 1.5x the nibabel read; peak <= 2x one
run's float32 volume. Usage: ``python bench/bench_prepare.py [--repeats 2] [--dir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPE = (96, 96, 76, 239)
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reference.tar.xz"
EVENTS = (
    "openneuro/ds001506/sub-01/ses-perceptionNaturalImageTraining01/func/"
    "sub-01_ses-perceptionNaturalImageTraining01_task-perception_run-01_events.tsv"
)
ROIS = ["V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA"]
VARIANTS = ("io", "aligned", "aligned-cubic", "aligned+v1+v2", "native+v1+v2")


def _rigid(deg: np.ndarray, mm: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    out = np.eye(4)
    out[:3, :3] = Rotation.from_euler("xyz", deg, degrees=True).as_matrix()
    out[:3, 3] = mm
    return out


def _itk(ras: np.ndarray) -> str:
    """ITK text as fMRIPrep writes it (LPS, centre 0, %g)."""
    lps = np.diag([-1.0, -1.0, 1.0, 1.0])
    lines = ["#Insight Transform File V1.0"]
    for k, matrix in enumerate(ras):
        m = lps @ matrix @ lps
        values = " ".join(f"{v:g}" for v in [*m[:3, :3].ravel(), *m[:3, 3]])
        lines += [
            f"#Transform {k}",
            "Transform: AffineTransform_float_3_3",
            f"Parameters: {values}",
            "FixedParameters: 0 0 0",
            "",
        ]
    return "\n".join(lines)


def write_inputs(folder: Path) -> None:
    """One run of the real size: a head-shaped ellipsoid of noisy signal on an oblique grid; transforms; masks."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    bold_affine = _rigid(np.array([8.0, 0.0, 3.0]), np.array([-95.0, -110.0, -60.0])) @ np.diag([2.0, 2.0, 2.0, 1.0])
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n) for n in SHAPE[:3]), indexing="ij")
    head = (x**2 + y**2 + z**2) < 0.8
    base = rng.normal(800, 200, size=head.sum()).astype(np.float32)
    data = np.zeros(SHAPE, dtype=np.int16)
    for t in range(SHAPE[3]):  # scanner-like noise, in the background too: about a real run's 190 MB gzipped
        volume = np.abs(rng.normal(0, 8, size=SHAPE[:3]))
        volume[head] = base + rng.normal(0, 60, size=base.size)
        data[..., t] = volume.astype(np.int16)
    nib.save(nib.Nifti1Image(data, bold_affine), folder / "bold.nii.gz")
    nib.save(nib.Nifti1Image(data[..., 119].astype(np.float32), bold_affine), folder / "boldref.nii.gz")
    motion = np.stack([_rigid(rng.normal(0, 0.5, 3), rng.normal(0, 0.5, 3)) for _ in range(SHAPE[3])])
    (folder / "hmc.txt").write_text(_itk(motion))
    (folder / "coreg.txt").write_text(_itk(_rigid(np.array([2.0, -3.0, 1.0]), np.array([3.0, -4.0, 2.0]))[None]))
    # ROI masks on a T1w grid of its own (axis-aligned, shifted by a fraction of a voxel): a
    # posterior slab of the head, about 29,000 voxels (ds001506's visual ROIs: 10-30k per subject)
    mask_affine = np.diag([2.0, 2.0, 2.0, 1.0])
    mask_affine[:3, 3] = nib.affines.apply_affine(bold_affine, (np.asarray(SHAPE[:3]) - 1) / 2) - 95.3
    centre = nib.affines.apply_affine(
        np.linalg.inv(mask_affine), nib.affines.apply_affine(bold_affine, (np.asarray(SHAPE[:3]) - 1) / 2)
    )
    mx, my, mz = (np.indices(SHAPE[:3]) - centre[:, None, None, None]) / (
        np.asarray(SHAPE[:3])[:, None, None, None] / 2
    )
    slab = ((mx**2 + my**2 + mz**2) < 0.7) & ((mx**2 + my**2 + mz**2) > 0.47) & (my < -0.3)
    labels = rng.integers(0, len(ROIS), size=SHAPE[:3])
    for i, roi in enumerate(ROIS):
        for hemi, side in (("LH", mx < 0), ("RH", mx >= 0)):
            mask = (slab & side & (labels == i)).astype(np.uint8)
            nib.save(nib.Nifti1Image(mask, mask_affine), folder / f"mask_{hemi}_{roi}.nii.gz")
    with tarfile.open(FIXTURE) as archive:
        (folder / "events.tsv").write_bytes(archive.extractfile(EVENTS).read())


def _task(folder: Path, space: str, interpolation: str, versions: list[str]):
    """prepare's RunTask for the bench run (masks, transforms and events read as prepare reads them)."""
    import nibabel as nib

    from fmri_bench.prepare.align import read_itk_affines, voxel_maps
    from fmri_bench.prepare.extract import Read, RunTask
    from fmri_bench.prepare.tasks import Mask
    from fmri_bench.raw.bids import read_events
    from fmri_bench.recipe import load_recipe

    recipe = load_recipe("ds001506")
    union = None
    for roi in ROIS:
        for hemi in ("LH", "RH"):
            img = nib.load(folder / f"mask_{hemi}_{roi}.nii.gz")
            union = np.asarray(img.dataobj) > 0 if union is None else union | (np.asarray(img.dataobj) > 0)
    mask = Mask(union, img.affine, np.argwhere(union), [], {})
    params = {v: {**recipe.version(v), "space": space, "interpolation": interpolation} for v in versions}
    columns = dict.fromkeys(versions, np.arange(len(mask.ijk)))
    if space == "native":
        read = Read("native", None, mask.flat, columns)
        maps = None
    else:
        read = Read("T1w", interpolation, mask.ijk, columns)
        hmc, coreg = read_itk_affines(folder / "hmc.txt"), read_itk_affines(folder / "coreg.txt")[0]
        maps = voxel_maps(hmc, coreg, nib.load(folder / "boldref.nii.gz").affine, mask.affine)
    events = read_events(folder / "events.tsv", recipe.events)
    return RunTask(folder / "bold.nii.gz", events, 2.0, SHAPE[3], [read], params, maps)


def run_variant(folder: Path, variant: str) -> dict:
    """Run one variant in this process; return its wall and CPU seconds and peak RSS."""
    import nibabel as nib

    if variant == "io":
        wall, cpu = time.perf_counter(), time.process_time()
        checksum = float(np.asanyarray(nib.load(folder / "bold.nii.gz").dataobj)[48, 48, 38].sum())
        n_voxels = int(np.prod(SHAPE[:3]))
    else:
        import nilearn.glm.first_level
        import nilearn.signal  # noqa: F401

        from fmri_bench.prepare.align import ORDERS, resample_run
        from fmri_bench.prepare.extract import process_run

        space = "native" if variant.startswith("native") else "T1w"
        interpolation = "cubic" if variant == "aligned-cubic" else "linear"
        versions = ["v1", "v2"] if "+" in variant else ["v1"]
        task = _task(folder, space, interpolation, versions)
        n_voxels = len(task.reads[0].voxels)
        wall, cpu = time.perf_counter(), time.process_time()
        if "+" in variant:
            out = process_run(task)
            checksum = float(sum(np.abs(s.fmri).sum() for s in out.samples.values()))
        else:
            data, _ = resample_run(task.bold, task.maps, task.reads[0].voxels, ORDERS[interpolation])
            checksum = float(data.sum())
    return {
        "variant": variant,
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "n_voxels": n_voxels,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "checksum": checksum,
    }


def timing_loop(folder: Path, repeats: int) -> dict[str, dict[str, float]]:
    """Best wall and CPU time per variant, alternating the variants in one process (same load, same cache)."""
    from threadpoolctl import threadpool_limits

    best: dict[str, dict[str, float]] = {}
    with threadpool_limits(limits=1):
        for _ in range(repeats):
            for variant in VARIANTS:
                row = run_variant(folder, variant)
                got = best.setdefault(variant, {"seconds": np.inf, "cpu_seconds": np.inf})
                got["seconds"] = min(got["seconds"], row["seconds"])
                got["cpu_seconds"] = min(got["cpu_seconds"], row["cpu_seconds"])
    return best


def _import_baseline() -> float:
    """Peak RSS (MB) of a process that only imports what the prepare variants import."""
    code = (
        "import resource, nibabel, nitransforms, nilearn.signal, nilearn.glm.first_level, fmri_bench.prepare; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def _child(folder: Path, variant: str, repeats: int = 1) -> dict:
    args = [sys.executable, __file__, "--dir", str(folder), "--variant", variant, "--repeats", str(repeats)]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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
            size = (folder / "bold.nii.gz").stat().st_size / 1e6
            print(
                f"wrote a {SHAPE} int16 run ({size:.0f} MB gzipped) in {time.perf_counter() - start:.0f} s",
                file=sys.stderr,
            )
        results = {variant: _child(folder, variant) for variant in VARIANTS}  # peak memory: a fresh process each
        best = _child(folder, "timing", args.repeats)
        imports_mb = _import_baseline()
    report(results, best, imports_mb, args.repeats)


def report(results: dict, best: dict, imports_mb: float, repeats: int) -> None:
    """Print the markdown table of the README."""
    volume_mb = np.prod(SHAPE) * 4 / 2**20
    print(
        f"\nrun {SHAPE} int16; one float32 volume = {volume_mb:.0f} MB (memory limit 2x = {2 * volume_mb:.0f} MB); best of {repeats}"
    )
    print("| variant | wall s/run | CPU s/run | CPU ratio to the nibabel read | peak RSS MB | above the imports MB |")
    print("|---|---|---|---|---|---|")
    floor = best["io"]["cpu_seconds"]
    for variant, row in results.items():
        b = best[variant]
        print(
            f"| {variant} | {b['seconds']:.2f} | {b['cpu_seconds']:.2f} | {b['cpu_seconds'] / floor:.2f} "
            f"| {row['max_rss_mb']:.0f} | {row['max_rss_mb'] - imports_mb:.0f} |"
        )
    print(f"\nROI voxels: {results['aligned']['n_voxels']}; imports alone: {imports_mb:.0f} MB peak RSS")


if __name__ == "__main__":
    main()
