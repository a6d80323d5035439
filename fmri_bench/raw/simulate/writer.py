"""Write the simulated dataset as BIDS, laid out like OpenNeuro ds001506 1.3.x, with fMRIPrep's transforms."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.errors import FmriBenchError
from fmri_bench.io import atomic_dir
from fmri_bench.progress import make_progress
from fmri_bench.raw.simulate.anatomy import Subject, make_subject
from fmri_bench.raw.simulate.config import (
    _BOLD_SIDECAR,
    HEMISPHERES,
    ROIS,
    SIMULATOR_VERSION,
    SIZES,
    STREAM_MOTION,
    STREAM_RUN_NOISE,
    STREAM_SCHEDULE,
    TASK,
    SizePreset,
    _rng,
)
from fmri_bench.raw.simulate.features import feature_maps, image_features
from fmri_bench.raw.simulate.model import COMPONENTS, combine, noise_free_series, quantized_peaks, raw_components
from fmri_bench.raw.simulate.motion import (
    BOLDREF_SUFFIXES,
    resample_run,
    run_motion,
    run_transforms,
    session_position,
    write_fmriprep_transforms,
)
from fmri_bench.raw.simulate.noise import run_noise
from fmri_bench.raw.simulate.oracle import Measurement, oracle_reconstructions, standard_blocks
from fmri_bench.raw.simulate.schedule import events_table, read_events, run_schedule
from fmri_bench.raw.simulate.shapes import render_test_sets
from fmri_bench.raw.simulate.stimuli import _make_stimuli
from fmri_bench.threads import single_blas_thread

#: The four stimulus sets, in the order of the model's image rows.
SPLITS = ("train", "test", "artificial", "letter")
THERMAL_PCT = 2.0  # white noise of the voxels outside the brain (no physiology, no signal)


def _slice_timing(nz: int, tr: float, multiband: int) -> list[float]:
    """Interleaved multiband slice times like the ds001506 sidecars (times repeat per band)."""
    shots = nz // multiband if nz % multiband == 0 else nz
    order = list(range(0, shots, 2)) + list(range(1, shots, 2))
    times = [0.0] * shots
    for rank, s in enumerate(order):
        times[s] = round(rank * tr / shots, 4)
    return [times[k % shots] for k in range(nz)]


def _save_nifti(path: Path, data: np.ndarray, affine: np.ndarray, tr: float | None) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    if tr is not None:
        img.header.set_zooms(tuple(img.header.get_zooms()[:3]) + (tr,))
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    nib.save(img, str(path))


def _write_tsv(path: Path, header: list[str], rows: list[list]) -> None:
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_json(path: Path, obj: dict, indent: int = 4) -> None:
    path.write_text(json.dumps(obj, indent=indent) + "\n", encoding="utf-8")


def _save_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", np.asarray(arr), allow_pickle=False)


def _record_path(root: Path) -> Path:
    return root / "derivatives" / "simulation" / "simulation.json"


def _check_existing(out_dir: Path, size: str, seed: int, motion: bool) -> bool:
    """True if out_dir already holds this simulation; raise if it holds something else."""
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise FmriBenchError(
            f"{out_dir} exists and is not a folder; expected a new or empty folder for the simulated dataset"
        )
    if not any(out_dir.iterdir()):
        return False
    record = _record_path(out_dir)
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise FmriBenchError(
            f"{out_dir} is not empty and is not a simulated dataset; expected a new or empty folder"
        ) from None
    found = (info.get("size"), info.get("seed"), info.get("simulator_version"), info.get("motion"))
    if found[:2] != (size, seed) or found[3] != motion:
        raise FmriBenchError(
            f"{out_dir} holds a simulation with size={found[0]} seed={found[1]} motion={found[3]}; "
            f"expected size={size} seed={seed} motion={motion} (choose a new folder)"
        )
    if found[2] != SIMULATOR_VERSION:
        raise FmriBenchError(
            f"{out_dir} was simulated by simulator version {found[2]}, expected version "
            f"{SIMULATOR_VERSION}; delete that folder to simulate it again"
        )
    return True


def with_motion_margin(preset: SizePreset) -> SizePreset:
    """The preset as simulated: with motion, its slab inside ``fov_margin`` voxels of empty field of view.

    Head motion would carry the ROI voxels at the slab's faces out of some run's view (prepare
    drops them); a real whole-brain EPI keeps the visual cortex in view. Without motion the
    grid is the slab's, so the motion-free dataset does not pay for the margin.

    Parameters
    ----------
    preset : SizePreset
        A size preset (its ``grid`` is the slab's).

    Returns
    -------
    SizePreset
        With ``grid`` grown by ``2 * fov_margin`` per axis when ``motion``; else ``fov_margin = 0``.
    """
    if not preset.motion or not preset.fov_margin:
        return replace(preset, fov_margin=0)
    return replace(preset, grid=tuple(int(n) + 2 * preset.fov_margin for n in preset.grid))


def simulate_dataset(
    out_dir: str | os.PathLike[str], *, size: str = "default", seed: int = 0, motion: bool | None = None
) -> Path:
    """Write the synthetic ds001506-like BIDS dataset into ``out_dir``; return its root.

    Parameters
    ----------
    out_dir : path-like
        New (or empty) folder. An earlier simulation with the same size, seed, motion and
        simulator version is returned as is, without rewriting.
    size : {"tiny", "default"}
        Size preset (see :data:`SIZES`).
    seed : int
        Seed of every random draw; the same arguments give byte-identical files.
    motion : bool, optional
        Head motion in the written BOLD (default: the preset's).

    Returns
    -------
    Path
        ``out_dir`` (the BIDS root).
    """
    if size not in SIZES:
        raise FmriBenchError(f"unknown size {size!r}; expected one of: {', '.join(SIZES)}")
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise FmriBenchError(f"seed must be an integer, got {seed!r}") from None
    if seed < 0:
        raise FmriBenchError(f"seed must be a non-negative integer, got {seed}")
    preset = with_motion_margin(SIZES[size] if motion is None else replace(SIZES[size], motion=bool(motion)))
    out_dir = Path(out_dir).expanduser().absolute()
    if _check_existing(out_dir, size, seed, preset.motion):
        return out_dir
    return _simulate(out_dir, preset, seed)


def _simulate(out_dir: Path, preset: SizePreset, seed: int) -> Path:
    """Simulate ``preset`` into ``out_dir``, built in a temporary folder beside it and swapped in."""
    # Same bytes whatever BLAS threading the caller set up: a multi-threaded matrix
    # product may sum in another order and change the last bits of the derivatives.
    with atomic_dir(out_dir) as tmp, single_blas_thread():
        _write_dataset(tmp, preset, seed)
    return out_dir


def grid_affine(preset: SizePreset) -> np.ndarray:
    """The voxel -> RAS affine of the masks and the raw BOLD: axis-aligned, centred on 0.

    Parameters
    ----------
    preset : SizePreset
        ``grid``, ``voxel_mm``.

    Returns
    -------
    ndarray, shape (4, 4)
    """
    vs = preset.voxel_mm
    out = np.diag([vs, vs, vs, 1.0])
    out[:3, 3] = -vs * (np.asarray(preset.grid) - 1) / 2
    return out


@dataclass
class _Context:
    """What every subject's simulation shares: paths, preset, stimuli and the feature maps."""

    root: Path
    deriv: Path
    preset: SizePreset
    seed: int
    affine: np.ndarray
    progress: Any
    pool: ThreadPoolExecutor
    images: np.ndarray  # every stimulus, rows in SPLITS order
    offsets: dict[str, int]  # split -> first row
    stim_by_split: dict[str, dict[int, dict]]
    maps: dict[str, np.ndarray]
    sidecar: dict[str, Any]


def _write_dataset(root: Path, preset: SizePreset, seed: int) -> None:
    deriv = root / "derivatives" / "simulation"
    deriv.mkdir(parents=True)
    progress = make_progress()
    progress.start()
    try:
        # Two workers take the jobs in order: every subject's model, then each subject's runs
        # followed by its oracle; the main thread consumes the results in order (same bytes).
        with ThreadPoolExecutor(max_workers=2) as pool:
            ctx = _shared_model(root, deriv, preset, seed, progress, pool)
            models = [pool.submit(_subject_model, ctx, s) for s in range(1, preset.n_subjects + 1)]
            short_rows, oracles = [], []
            for model in models:
                subj, heights, components = model.result()
                rows, measurement = _write_subject_runs(ctx, subj, heights)
                _write_subject_truth(ctx, subj, heights, components)
                short_rows += rows
                oracles.append(pool.submit(_write_oracle, ctx, subj, heights, measurement))
            scores = dict(future.result() for future in oracles)
        _write_json(deriv / "oracle_scores.json", _oracle_record(scores), indent=2)
        _write_metadata(root, deriv, preset, seed, short_rows)
        _write_fmriprep_description(root)
    finally:
        progress.stop()


def _write_stimuli(root: Path, deriv: Path, preset: SizePreset, seed: int, progress: Any) -> tuple[list, np.ndarray]:
    """Render every stimulus, write the PNGs and their table; return (rows, images) in SPLITS order."""
    from PIL import Image

    rows, natural = _make_stimuli(preset, seed, progress)
    extra_rows, extra = render_test_sets(preset.image_px)
    for r in extra_rows:
        r.update(background="grey", shapes=r.pop("shape"), fill=r.pop("colour"))
    rows, images = rows + extra_rows, np.concatenate([natural, extra])
    (root / "stimuli").mkdir()
    for r, img in zip(rows, images):
        Image.fromarray(img).save(root / "stimuli" / f"{r['stimulus_name']}.png", compress_level=1)
    cols = ["stimulus_name", "stimulus_id", "split", "image_index", "category_index", "background", "shapes", "fill"]
    _write_tsv(deriv / "stimuli.tsv", cols, [[r[c] for c in cols] for r in rows])
    return rows, images


def _shared_model(
    root: Path, deriv: Path, preset: SizePreset, seed: int, progress: Any, pool: ThreadPoolExecutor
) -> _Context:
    """Write the stimuli; compute the subject-independent feature maps of every image."""
    rows, images = _write_stimuli(root, deriv, preset, seed, progress)
    params = preset.params
    task = progress.add_task("image features", total=None)
    maps, norms = feature_maps(image_features(images, params), preset.n_train, params)
    progress.remove_task(task)
    _save_arrays(deriv / "shared", {f"norm_{k}": v for k, v in norms.items()})
    stim_by_split = {s: {r["image_index"]: r for r in rows if r["split"] == s} for s in SPLITS}
    offsets, start = {}, 0
    for s in SPLITS:
        offsets[s], start = start, start + len(stim_by_split[s])
    nz = preset.grid[2]
    sidecar = {**_BOLD_SIDECAR, "RepetitionTime": preset.tr}
    sidecar["SliceTiming"] = _slice_timing(nz, preset.tr, _BOLD_SIDECAR["MultibandAccelerationFactor"])
    order = ("Manufacturer", "ManufacturersModelName", "MagneticFieldStrength", "FlipAngle", "EchoTime")
    order += ("RepetitionTime", "SliceTiming", "MultibandAccelerationFactor", "TaskName")
    sidecar = {k: sidecar[k] for k in order}
    affine = grid_affine(preset)
    return _Context(root, deriv, preset, seed, affine, progress, pool, images, offsets, stim_by_split, maps, sidecar)


def _subject_model(ctx: _Context, s: int) -> tuple[Subject, np.ndarray, np.ndarray]:
    """Draw one subject and its noise-free block heights for every image (rows in SPLITS order).

    The raw model components of the test images go to the ground truth (``components_test.npy``).
    """
    preset = ctx.preset
    subj = make_subject(preset.grid, preset.params, ctx.seed, s, preset.fov_margin)
    comps = raw_components(subj, ctx.maps, preset.params, n_fit=preset.n_train)
    heights = combine(subj, comps, preset.params, preset.n_train)
    test = slice(ctx.offsets["test"], ctx.offsets["test"] + preset.n_test)
    return subj, heights, np.stack([comps[k][test] for k in COMPONENTS]).astype(np.float32)


def _write_masks(ctx: _Context, subj: Subject, sub: str) -> None:
    """Binary masks per (hemisphere, ROI) on the T1w-aligned grid; HVC = LOC + FFA + PPA + the HVC-only band."""
    anat = ctx.root / "sourcedata" / sub / "anat"
    anat.mkdir(parents=True)
    hvc = np.isin(subj.label, [ROIS.index(r) for r in ("LOC", "FFA", "PPA", "HVC")])
    for h, hname in enumerate(HEMISPHERES):
        for i, roi in enumerate(ROIS):
            m = (hvc if roi == "HVC" else subj.label == i) & (subj.hemi == h)
            _save_nifti(anat / f"{sub}_mask_{hname}_{roi}.nii.gz", m.astype(np.uint8), ctx.affine, None)


def _run_plans(ctx: _Context, subj: Subject) -> list[dict]:
    """Every run of one subject: events, length (one training run cut short), head position and motion."""
    preset = ctx.preset
    rng = _rng(ctx.seed, STREAM_SCHEDULE, subj.index)
    n_extra = (len(ctx.stim_by_split["artificial"]), len(ctx.stim_by_split["letter"]))
    schedule = run_schedule(preset, *n_extra, rng)
    # One run cut short, like the 47 short runs of ds001506 (e.g. 233 instead of 239 volumes).
    short = {int(rng.choice([i for i, r in enumerate(schedule) if r["split"] == "train"])): int(rng.integers(1, 7))}
    motion_rng = _rng(ctx.seed, STREAM_MOTION, subj.index)
    sessions: dict[str, np.ndarray] = {}
    plans = []
    for i, run in enumerate(schedule):
        text, onsets, durations, length = events_table(run, ctx.stim_by_split[run["split"]], preset, rng)
        n_expected = int(round(length / preset.tr))
        n_vol = n_expected - short.get(i, 0)
        coreg, hmc = np.eye(4), np.tile(np.eye(4), (n_vol, 1, 1))
        if preset.motion:
            if run["session"] not in sessions:
                sessions[run["session"]] = session_position(preset.motion_params, motion_rng)
            offset, series = run_motion(preset.motion_params, n_vol, motion_rng)
            coreg, hmc = run_transforms(sessions[run["session"]], offset, series, preset.motion_params)
        stem = f"sub-{subj.index:02d}_{run['session']}_task-{TASK}_run-{run['run']:02d}"
        plans.append(
            {"index": i, "run": run, "text": text, "onsets": onsets, "durations": durations, "length": length,
             "n_vol": n_vol, "n_expected": n_expected, "coreg": coreg, "hmc": hmc, "stem": stem}
        )  # fmt: skip
    return plans


def _head_series(ctx: _Context, subj: Subject, heights: np.ndarray, plan: dict) -> tuple[np.ndarray, np.ndarray]:
    """One run's percent signal change at the ROI voxels and its head images (T, N) on the T1w grid."""
    preset, params = ctx.preset, ctx.preset.params
    run, n_vol = plan["run"], plan["n_vol"]
    images = np.array([img for img, _ in run["blocks"]])
    rows = heights[ctx.offsets[run["split"]] + images - 1]
    peaks = quantized_peaks(subj, params.hrf_peak_step)
    signal = noise_free_series(peaks, rows, plan["onsets"], plan["durations"], n_vol, preset.tr)
    rng = _rng(ctx.seed, STREAM_RUN_NOISE, subj.index, plan["index"])
    brain = run_noise(subj, params, n_vol, plan["n_expected"], preset.voxel_mm, rng)
    brain[:, subj.roi_in_brain] += signal
    pct = np.empty((n_vol, int(np.prod(subj.grid))), dtype=np.float32)
    outside = np.flatnonzero(~subj.brain.reshape(-1))
    pct[:, outside] = THERMAL_PCT * rng.standard_normal((n_vol, len(outside)), dtype=np.float32)
    pct[:, subj.brain_index] = brain
    roi_series = brain[:, subj.roi_in_brain]
    del brain
    baseline = subj.baseline.reshape(1, -1)
    pct *= baseline / np.float32(100.0)
    pct += baseline  # the head image: baseline x (1 + percent / 100), in place
    return roi_series, pct


def _simulate_run(ctx: _Context, subj: Subject, heights: np.ndarray, plan: dict) -> tuple | None:
    """Write one run (BOLD, events, sidecar, fMRIPrep transforms and boldrefs); return its v1 measurement."""
    from fmri_bench.raw.simulate.oracle import measure_run

    preset, run, n_vol = ctx.preset, plan["run"], plan["n_vol"]
    roi_series, head = _head_series(ctx, subj, heights, plan)
    ref = subj.baseline
    if preset.motion:
        head, ref = resample_run(head, subj.baseline, ctx.affine, plan["coreg"], plan["hmc"])
    np.clip(np.rint(head, out=head), 0, 32767, out=head)
    # NIfTI stores x fastest: each volume in (z, y, x) C order, i.e. an F-contiguous (x, y, z, t) array.
    vol = np.ascontiguousarray(head.astype(np.int16).reshape(n_vol, *subj.grid).transpose(0, 3, 2, 1)).T
    sub, stem = f"sub-{subj.index:02d}", plan["stem"]
    func = ctx.root / sub / run["session"] / "func"
    deriv = ctx.root / "derivatives" / "fmriprep" / sub / run["session"] / "func"
    func.mkdir(parents=True, exist_ok=True)
    deriv.mkdir(parents=True, exist_ok=True)
    (func / f"{stem}_events.tsv").write_text(plan["text"], encoding="utf-8")
    _write_json(func / f"{stem}_bold.json", ctx.sidecar)
    _save_nifti(func / f"{stem}_bold.nii.gz", vol, ctx.affine, preset.tr)
    write_fmriprep_transforms(deriv, stem, plan["coreg"], plan["hmc"])
    for suffix in BOLDREF_SUFFIXES:
        _save_nifti(deriv / f"{stem}{suffix}", np.asarray(ref, dtype=np.float32), ctx.affine, None)
    if run["split"] not in ("train", "test"):
        return None
    windows = standard_blocks(preset, plan["onsets"], n_vol, preset.params)
    return (run["split"], *measure_run(roi_series, run["blocks"], windows))


def _write_subject_runs(ctx: _Context, subj: Subject, heights: np.ndarray) -> tuple[list[list], Measurement]:
    """Write one subject's masks and runs (two at a time); return its short-run rows and the oracle's measurement."""
    preset, sub = ctx.preset, f"sub-{subj.index:02d}"
    _write_masks(ctx, subj, sub)
    plans = _run_plans(ctx, subj)
    task = ctx.progress.add_task(f"{sub} runs", total=len(plans))
    measurement = Measurement(subj.n_voxels, {"train": preset.n_train, "test": preset.n_test})

    def job(plan: dict) -> tuple | None:
        out = _simulate_run(ctx, subj, heights, plan)
        ctx.progress.advance(task)
        return out

    for result in ctx.pool.map(job, plans):  # in run order: the sums do not depend on the threading
        if result is not None:
            measurement.add(*result)
    ctx.progress.remove_task(task)
    short_rows = [
        [p["stem"], p["n_vol"], p["n_expected"], f"{p['length']:g}", f"{(p['n_expected'] - p['n_vol']) * preset.tr:g}"]
        for p in plans
        if p["n_vol"] < p["n_expected"]
    ]
    _write_runs_table(ctx, subj, plans)
    return short_rows, measurement


def _write_subject_truth(ctx: _Context, subj: Subject, heights: np.ndarray, components: np.ndarray) -> None:
    """The subject's ground truth in ``derivatives/simulation/sub-XX/`` (arrays follow ``roi_voxel_index``)."""
    truth = {
        "roi_voxel_index": subj.roi_index,
        "roi_label": np.array([ROIS.index(r) for r in subj.roi]),
        "roi_hemisphere": subj.hemi.reshape(-1)[subj.roi_index],
        **{name: getattr(subj, name) for name in ("prf_x", "prf_y", "prf_sigma", "ecc", "angle", "amp", "hrf_peak")},
        "noise_sd": subj.noise_sd[subj.roi_in_brain],
        "global_loading": subj.global_loading[subj.roi_in_brain],
        "baseline": subj.baseline,
        "components_test": components,
        **{f"tuning_{k}": np.asarray(v) for k, v in subj.tuning.items()},
        **{f"norm_{k}": np.asarray(v) for k, v in subj.norm.items()},
    }
    for split in SPLITS:
        start = ctx.offsets[split]
        truth[f"heights_{split}"] = heights[start : start + len(ctx.stim_by_split[split])].astype(np.float32)
    _save_arrays(ctx.deriv / f"sub-{subj.index:02d}", truth)


def _write_runs_table(ctx: _Context, subj: Subject, plans: list[dict]) -> None:
    """``runs.tsv``: every run, its split, volumes and largest head displacement; ``motion_coreg.npy``."""
    folder = ctx.deriv / f"sub-{subj.index:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "motion_coreg.npy", np.stack([p["coreg"] for p in plans]), allow_pickle=False)
    _write_tsv(
        folder / "runs.tsv",
        ["run", "split", "volumes", "max_motion_mm"],
        [
            [p["stem"], p["run"]["split"], p["n_vol"], f"{_max_displacement(p, ctx.affine, subj.grid):.3f}"]
            for p in plans
        ],
    )


def _max_displacement(plan: dict, affine: np.ndarray, grid: tuple[int, int, int]) -> float:
    """The largest distance (mm) any grid point moves from its T1w position in any volume of the run."""
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in grid], indexing="ij")).reshape(3, -1)
    points = affine @ np.vstack([corners, np.ones((1, corners.shape[1]))])
    moved = np.einsum("tij,jk,kn->tin", plan["hmc"], plan["coreg"], points)
    return float(np.linalg.norm(moved[:, :3] - points[None, :3], axis=1).max())


def _write_oracle(ctx: _Context, subj: Subject, heights: np.ndarray, measurement: Measurement) -> tuple[str, dict]:
    """Decode the test images with the oracle; save the reconstructions and return their pixel figures."""
    from fmri_bench.stats import correlation_matrix, pearson_rows

    preset, sub = ctx.preset, f"sub-{subj.index:02d}"
    train = ctx.images[: preset.n_train]
    recon = oracle_reconstructions(subj, preset, heights[: preset.n_train], train, measurement)
    np.save(ctx.deriv / sub / "oracle_test.npy", recon, allow_pickle=False)
    targets = ctx.images[ctx.offsets["test"] : ctx.offsets["test"] + preset.n_test].astype(np.float64) / 255.0
    guess = recon.astype(np.float64) / 255.0
    r = correlation_matrix(targets, guess)
    ident = (r < np.diag(r)[None, :]).sum(axis=0) / max(len(r) - 1, 1)
    return sub, {
        "pixel_correlation": float(pearson_rows(targets, guess).mean()),
        "pixel_identification": float(ident.mean()),
        "pixel_mse": float(((targets - guess) ** 2).mean()),
    }


def _oracle_record(scores: dict[str, dict]) -> dict:
    return {
        "name": "oracle (true encoding model)",
        "reconstructions": "<subject>/oracle_test.npy: uint8 (n_test, H, W, 3), test image_index order",
        "construction": "fmri_bench.raw.simulate.oracle (Wiener decoder from the true noise-free training "
        "responses and the known noise covariance, applied to the measured test data averaged over repetitions)",
        "figures": "at the stimulus resolution: pixel_correlation = mean Pearson r of flattened RGB; "
        "pixel_identification = two-way identification on pixels (chance 0.5); pixel_mse. The leaderboard's "
        "oracle row scores the same reconstructions with every metric of its protocol.",
        "subjects": scores,
    }


def _write_metadata(root: Path, deriv: Path, preset: SizePreset, seed: int, short_rows: list[list]) -> None:
    """simulation.json, short_runs.tsv and the BIDS top-level files."""
    nx, ny, nz = preset.grid
    _write_tsv(
        deriv / "short_runs.tsv", ["run", "volumes", "expected_volumes", "events_len_s", "missing_s"], short_rows
    )
    record = {
        "simulator_version": SIMULATOR_VERSION,
        "size": preset.name,
        "seed": seed,
        "motion": preset.motion,
        "model": "fmri_bench/raw/simulate (package docstring): Gabor-energy pRF model of V1-hV4, "
        "higher-order features in LOC/FFA/PPA, subject-specific share, per-voxel HRFs, spatially "
        "correlated noise, head motion when 'motion' is true",
        "rois": list(ROIS),
        "splits": {s: f"heights_{s}.npy rows: image_index 1..n" for s in SPLITS},
        "preset": preset.as_dict(),
        "subjects": [f"sub-{s:02d}" for s in range(1, preset.n_subjects + 1)],
        "short_runs": [r[0] for r in short_rows],
    }
    _write_json(deriv / "simulation.json", record, indent=2)
    _write_json(
        root / "dataset_description.json",
        {
            "Name": "fmri-bench synthetic dataset (ds001506 layout)",
            "License": "CC0",
            "Authors": ["fmri-bench simulate"],
            "Acknowledgements": "",
            "HowToAcknowledge": "",
            "Funding": "",
            "ReferencesAndLinks": [
                "Shen, Horikawa, Majima, and Kamitani (2019) Deep image reconstruction from human brain activity. "
                "PLOS Computational Biology. http://dx.doi.org/10.1371/journal.pcbi.1006633 (layout imitated)"
            ],
            "DatasetDOI": "",
            "BIDSVersion": "1.0.2",
        },
    )
    (root / "README").write_text(
        "# fmri-bench synthetic dataset\n\n"
        f"SYNTHETIC data written by `fmri-bench simulate` (simulator version {SIMULATOR_VERSION}, "
        f"size={preset.name}, seed={seed}, motion={preset.motion}). It is laid out like OpenNeuro ds001506 1.3.x "
        "(Deep Image Reconstruction) but holds no real brain data: the BOLD comes from a known "
        "encoding model of procedural images (see fmri_bench/raw/simulate/ and derivatives/simulation/).\n\n"
        f"- {preset.n_subjects} subjects, {preset.n_train} training images x {preset.train_reps}, "
        f"{preset.n_test} test images x {preset.test_reps}, 40 colour shapes x {preset.artificial_reps}, "
        f"10 letters x {preset.letter_reps}\n"
        f"- grid {nx}x{ny}x{nz} at {preset.voxel_mm:g} mm, TR {preset.tr:g} s\n"
        "- stimuli/<stimulus_name>.png: the images; stimulus wnids >= n90000000 are not ImageNet ids\n"
        "- derivatives/fmriprep: the true head-motion and coregistration transforms, named as fMRIPrep 23.2 names them\n"
        "- derivatives/simulation: the ground truth and the oracle decoder's reconstructions\n",
        encoding="utf-8",
    )
    (root / "CHANGES").write_text(f"{SIMULATOR_VERSION} synthetic\n  - simulated by fmri-bench\n", encoding="utf-8")
    (root / "sourcedata" / "README").write_text(
        "# ROI mask images (synthetic)\n\n'sourcedata/sub-*/anat' holds binary ROI masks on a grid of the EPI's "
        "size coregistered to the T1w space (the head moves in the BOLD, the masks do not), named "
        "'<subject>_mask_<hemisphere>_<ROI>.nii.gz' as in ds001506.\n",
        encoding="utf-8",
    )


def _write_fmriprep_description(root: Path) -> None:
    """derivatives/fmriprep/dataset_description.json, as the OpenNeuroDerivatives release has it, but honest."""
    _write_json(
        root / "derivatives" / "fmriprep" / "dataset_description.json",
        {
            "Name": "fMRIPrep - fMRI PREProcessing workflow (simulated: the true transforms)",
            "BIDSVersion": "1.4.0",
            "DatasetType": "derivative",
            "GeneratedBy": [
                {
                    "Name": "fmri-bench simulate",
                    "Version": SIMULATOR_VERSION,
                    "Description": "the simulation's true head-motion and coregistration transforms, written with "
                    "nitransforms as fMRIPrep 23.2.1 writes its minimal outputs",
                }
            ],
            "SourceDatasets": [{"URL": "../../"}],
            "License": "CC0",
        },
    )


def noise_free_signal(
    root: str | os.PathLike[str], subject: str, events_path: str | os.PathLike[str], n_volumes: int
) -> np.ndarray:
    """Rebuild one run's noise-free signal (percent signal change) at the ROI voxels.

    Parameters
    ----------
    root : path-like
        The simulated BIDS root.
    subject : str
        e.g. ``"sub-01"``.
    events_path : path-like
        The run's events.tsv; its session name says which stimulus set it shows.
    n_volumes : int
        Volumes in the run's BOLD file.

    Returns
    -------
    ndarray, shape (n_volumes, n_roi_voxels)
        In the order of ``derivatives/simulation/<subject>/roi_voxel_index.npy``, before head motion.
    """
    root = Path(root)
    info = json.loads(_record_path(root).read_text(encoding="utf-8"))
    preset = info["preset"]
    name = Path(events_path).name
    labels = {"NaturalImageTest": "test", "ArtificialImage": "artificial", "LetterImage": "letter"}
    split = next((s for label, s in labels.items() if label in name), "train")
    folder = root / "derivatives" / "simulation" / subject
    heights = np.load(folder / f"heights_{split}.npy", allow_pickle=False).astype(np.float64)
    peak = np.load(folder / "hrf_peak.npy", allow_pickle=False)
    step = float(preset["params"]["hrf_peak_step"])
    onset, duration, _, image = read_events(Path(events_path))
    return noise_free_series(np.round(peak / step) * step, heights[image - 1], onset, duration, n_volumes, preset["tr"])
