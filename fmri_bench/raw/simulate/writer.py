"""Write the simulated dataset as BIDS, laid out like OpenNeuro ds001506 1.3.x."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.errors import FmriBenchError
from fmri_bench.io import atomic_dir
from fmri_bench.progress import make_progress
from fmri_bench.raw.simulate.config import (
    _BOLD_SIDECAR,
    _LEVEL_SIGMA,
    _ROI_LEVEL,
    EVENTS_COLUMNS,
    FEATURE_GRID,
    FEATURES,
    LEVELS,
    ROIS,
    SIMULATOR_VERSION,
    SIZES,
    TASK,
    SizePreset,
    _rng,
)
from fmri_bench.raw.simulate.model import (
    _ar1,
    _brain_mask,
    _channel_drive,
    _make_channels,
    _retinotopic_targets,
    _roi_labels,
    _roi_masks,
    block_regressors,
    feature_maps,
)
from fmri_bench.raw.simulate.stimuli import _make_stimuli


def _slice_timing(nz: int, tr: float, multiband: int) -> list[float]:
    """Interleaved multiband slice times like the ds001506 sidecars (times repeat per band)."""
    shots = nz // multiband if nz % multiband == 0 else nz
    order = list(range(0, shots, 2)) + list(range(1, shots, 2))
    times = [0.0] * shots
    for rank, s in enumerate(order):
        times[s] = round(rank * tr / shots, 4)
    return [times[k % shots] for k in range(nz)]


def _run_schedule(preset: SizePreset, rng: np.random.Generator) -> list[dict]:
    """The runs of one subject: split, session, run number, the images shown in order."""
    runs = []
    for split, n_img, reps in (("train", preset.n_train, preset.train_reps), ("test", preset.n_test, preset.test_reps)):
        sequence = np.concatenate([rng.permutation(n_img) + 1 for _ in range(reps)])
        chunks = [sequence[i : i + preset.images_per_run] for i in range(0, len(sequence), preset.images_per_run)]
        for k, chunk in enumerate(chunks):
            session = k // preset.runs_per_session + 1
            label = "Training" if split == "train" else "Test"
            n_rep = min(preset.onebacks_per_run, len(chunk))
            # One-back repeats follow their original immediately, never the first block.
            repeat_after = set(rng.choice(np.arange(len(chunk)), size=n_rep, replace=False).tolist())
            blocks = []
            for pos, img in enumerate(chunk):
                blocks.append((int(img), 1))
                if pos in repeat_after:
                    blocks.append((int(img), 2))
            runs.append(
                {
                    "split": split,
                    "session": f"ses-perceptionNaturalImage{label}{session:02d}",
                    "run": k % preset.runs_per_session + 1,
                    "blocks": blocks,
                }
            )
    return runs


def _events_table(
    blocks: list[tuple[int, int]], stim: dict[int, dict], preset: SizePreset, rng: np.random.Generator
) -> tuple[str, np.ndarray, np.ndarray, float]:
    """Return (events.tsv text, block onsets, block durations, run length in seconds)."""
    lines = ["\t".join(EVENTS_COLUMNS)]

    def fmt(x: float) -> str:
        return f"{x:g}"

    lines.append(f"0\t{fmt(preset.initial_rest_s)}\t-1\tn/a\tn/a\tn/a\tn/a\tn/a")
    onsets, durs = [], []
    t = preset.initial_rest_s
    for img, code in blocks:
        s = stim[img]
        rt = f"{t + rng.uniform(0.6, 1.6):.6f}" if code == 2 else "n/a"
        lines.append(
            "\t".join(
                [
                    fmt(t),
                    fmt(preset.block_s),
                    str(code),
                    s["stimulus_id"],
                    s["stimulus_name"],
                    str(s["category_index"]),
                    str(img),
                    rt,
                ]
            )
        )
        onsets.append(t), durs.append(preset.block_s)
        t += preset.block_s
    lines.append(f"{fmt(t)}\t{fmt(preset.final_rest_s)}\t-2\tn/a\tn/a\tn/a\tn/a\tn/a")
    return "\n".join(lines) + "\n", np.array(onsets), np.array(durs), t + preset.final_rest_s


def _read_events(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(onset, duration, event_type, image_index) of every stimulus/one-back row."""
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    col = {c: i for i, c in enumerate(header)}
    onset, dur, code, image = [], [], [], []
    for r in rows:
        et = int(float(r[col["event_type"]]))
        if et in (1, 2):
            onset.append(float(r[col["onset"]]))
            dur.append(float(r[col["duration"]]))
            code.append(et)
            image.append(int(r[col["image_index"]]))
    return np.array(onset), np.array(dur), np.array(code), np.array(image)


# ------------------------------------------------------------------------ writing


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


def _check_existing(out_dir: Path, size: str, seed: int) -> bool:
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
    found = (info.get("size"), info.get("seed"), info.get("simulator_version"))
    if found[:2] != (size, seed):
        raise FmriBenchError(
            f"{out_dir} holds a simulation with size={found[0]} seed={found[1]}; "
            f"expected size={size} seed={seed} (choose a new folder)"
        )
    if found[2] != SIMULATOR_VERSION:
        raise FmriBenchError(
            f"{out_dir} was simulated by simulator version {found[2]}, expected version "
            f"{SIMULATOR_VERSION}; delete that folder to simulate it again"
        )
    return True


def simulate_dataset(out_dir: str | os.PathLike[str], *, size: str = "default", seed: int = 0) -> Path:
    """Write the synthetic ds001506-like BIDS dataset into ``out_dir``; return its root.

    Parameters
    ----------
    out_dir : path-like
        New (or empty) folder. An earlier simulation with the same size, seed and
        simulator version is returned as is, without rewriting.
    size : {"tiny", "default"}
        Size preset (see :data:`SIZES`).
    seed : int
        Seed of every random draw; the same (size, seed) gives byte-identical files.

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
    out_dir = Path(out_dir).expanduser().absolute()
    if _check_existing(out_dir, size, seed):
        return out_dir
    return _simulate(out_dir, SIZES[size], seed)


def _simulate(out_dir: Path, preset: SizePreset, seed: int) -> Path:
    """Simulate ``preset`` into ``out_dir``, built in a temporary folder beside it and swapped in."""
    from threadpoolctl import threadpool_limits

    # Same bytes whatever BLAS threading the caller set up: a multi-threaded matrix
    # product may sum in another order and change the last bits of the derivatives.
    with atomic_dir(out_dir) as tmp, threadpool_limits(limits=1, user_api="blas"):
        _write_dataset(tmp, preset, seed)
    return out_dir


def _write_dataset(root: Path, preset: SizePreset, seed: int) -> None:
    nx, ny, nz = preset.grid
    vs = preset.voxel_mm
    affine = np.array(
        [[vs, 0, 0, -vs * (nx - 1) / 2], [0, vs, 0, -vs * (ny - 1) / 2], [0, 0, vs, -vs * (nz - 1) / 2], [0, 0, 0, 1.0]]
    )
    deriv = root / "derivatives" / "simulation"
    deriv.mkdir(parents=True)
    progress = make_progress()
    progress.start()
    try:
        with ThreadPoolExecutor(max_workers=2) as writer:
            ctx = _shared_model(root, deriv, preset, seed, affine, progress, writer)
            short_rows: list[list] = []
            for s in range(1, preset.n_subjects + 1):
                short_rows += _write_subject(ctx, s)
        _write_metadata(root, deriv, preset, seed, short_rows)
    finally:
        progress.stop()


@dataclass
class _Context:
    """What every subject's simulation shares: paths, preset, stimuli and the latent channels."""

    root: Path
    deriv: Path
    preset: SizePreset
    seed: int
    affine: np.ndarray
    progress: Any
    writer: ThreadPoolExecutor
    channels: dict[str, np.ndarray]
    z: np.ndarray
    stim_by_split: dict[str, dict[int, dict]]
    sidecar: dict[str, Any]
    brain: np.ndarray


def _write_stimuli(
    root: Path, deriv: Path, preset: SizePreset, seed: int, progress: Any
) -> tuple[list[dict], np.ndarray]:
    """Render the stimuli, write them as PNG and their table; return (rows, images)."""
    from PIL import Image

    rows, images = _make_stimuli(preset, seed, progress)
    (root / "stimuli").mkdir()
    for r, img in zip(rows, images):
        Image.fromarray(img).save(root / "stimuli" / f"{r['stimulus_name']}.png", compress_level=1)
    stim_cols = [
        "stimulus_name",
        "stimulus_id",
        "split",
        "image_index",
        "category_index",
        "background",
        "shapes",
        "fill",
    ]
    _write_tsv(deriv / "stimuli.tsv", stim_cols, [[r[c] for c in stim_cols] for r in rows])
    return rows, images


def _shared_model(
    root: Path,
    deriv: Path,
    preset: SizePreset,
    seed: int,
    affine: np.ndarray,
    progress: Any,
    writer: ThreadPoolExecutor,
) -> _Context:
    """Write the stimuli; compute the shared channels' standardized drive ``z`` for every image."""
    rows, images = _write_stimuli(root, deriv, preset, seed, progress)
    feats = feature_maps(images)
    feature_mean = feats.mean(axis=(0, 2, 3))
    feature_std = feats.std(axis=(0, 2, 3))
    channels = _make_channels(preset, seed)
    drive = _channel_drive(feats, channels, feature_mean, feature_std)
    channel_mean, channel_std = drive.mean(axis=0), drive.std(axis=0)
    z = (drive - channel_mean) / channel_std
    _save_arrays(
        deriv / "shared",
        {
            **channels,
            "feature_mean": feature_mean,
            "feature_std": feature_std,
            "channel_mean": channel_mean,
            "channel_std": channel_std,
            "z_train": z[: preset.n_train],
            "z_test": z[preset.n_train :],
        },
    )
    stim_by_split = {split: {r["image_index"]: r for r in rows if r["split"] == split} for split in ("train", "test")}
    nz = preset.grid[2]
    sidecar = {
        **_BOLD_SIDECAR,
        "RepetitionTime": preset.tr,
        "SliceTiming": _slice_timing(nz, preset.tr, _BOLD_SIDECAR["MultibandAccelerationFactor"]),
    }
    sidecar = {
        k: sidecar[k]
        for k in (
            "Manufacturer",
            "ManufacturersModelName",
            "MagneticFieldStrength",
            "FlipAngle",
            "EchoTime",
            "RepetitionTime",
            "SliceTiming",
            "MultibandAccelerationFactor",
            "TaskName",
        )
    }
    return _Context(
        root,
        deriv,
        preset,
        seed,
        affine,
        progress,
        writer,
        channels,
        z,
        stim_by_split,
        sidecar,
        _brain_mask(preset.grid),
    )


def _voxel_model(ctx: _Context, label: np.ndarray, hemi: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """One subject's ROI voxels, their mixing of the shared channels and their block heights."""
    preset, channels = ctx.preset, ctx.channels
    flat_label = label.reshape(-1)
    roi_idx = np.flatnonzero(flat_label >= 0)
    roi_names = [ROIS[i] for i in flat_label[roi_idx]]
    roi_hemi = hemi.reshape(-1)[roi_idx]
    targets = _retinotopic_targets(roi_names, roi_hemi, rng)
    n_roi = len(roi_idx)
    chan_idx = np.empty((n_roi, preset.mix), dtype=np.int64)
    for v, roi in enumerate(roi_names):
        pool = np.flatnonzero(channels["channel_level"] == _ROI_LEVEL[roi])
        d2 = (channels["channel_x"][pool] - targets[v, 0]) ** 2 + (channels["channel_y"][pool] - targets[v, 1]) ** 2
        scale = 0.05 + _LEVEL_SIGMA[_ROI_LEVEL[roi]]
        p = np.exp(-d2 / (2 * scale**2)) + 1e-12
        chan_idx[v] = rng.choice(pool, size=preset.mix, replace=False, p=p / p.sum())
    weights = rng.gamma(2.0, 1.0, size=(n_roi, preset.mix))
    weights /= weights.sum(axis=1, keepdims=True)
    raw = np.einsum("nvk,vk->nv", ctx.z[:, chan_idx], weights)  # (n_images, n_roi)
    a_mean, a_std = raw.mean(axis=0), raw.std(axis=0)
    a = (raw - a_mean) / a_std
    amp = np.exp(rng.normal(np.log(1.0), 0.25, n_roi))
    n_vox = int(np.prod(preset.grid))
    return {
        "roi_voxel_index": roi_idx,
        "roi_label": flat_label[roi_idx],
        "roi_hemisphere": roi_hemi,
        "retinotopic_target": targets,
        "channel_index": chan_idx,
        "channel_weight": weights,
        "rf_x": np.sum(weights * channels["channel_x"][chan_idx], axis=1),
        "rf_y": np.sum(weights * channels["channel_y"][chan_idx], axis=1),
        "rf_sigma": np.sum(weights * channels["channel_sigma"][chan_idx], axis=1),
        "a_mean": a_mean,
        "a_std": a_std,
        "amp": amp,
        "baseline": np.where(ctx.brain.reshape(-1), 1000.0 * np.exp(rng.normal(0, 0.1, n_vox)), 30.0),
        "heights": amp * (0.5 + a),  # percent signal change per image
    }


def _plan_runs(ctx: _Context, model: dict[str, Any], rng: np.random.Generator) -> list[tuple]:
    """Events, lengths and noise-free signal of every run of one subject (one short run among them)."""
    preset = ctx.preset
    schedule = _run_schedule(preset, rng)
    # Runs to cut short, like the 47 short runs of ds001506 (e.g. 233 instead of 239 volumes).
    train_runs = [i for i, r in enumerate(schedule) if r["split"] == "train"]
    short = {int(rng.choice(train_runs)): int(rng.integers(1, 7))}
    run_data = []
    for i, run in enumerate(schedule):
        stim = ctx.stim_by_split[run["split"]]
        text, onsets, durs, length = _events_table(run["blocks"], stim, preset, rng)
        n_expected = int(round(length / preset.tr))
        n_vol = n_expected - short.get(i, 0)
        X = block_regressors(onsets, durs, n_vol, preset.tr)
        imgs = np.array([img for img, _ in run["blocks"]])
        offset = 0 if run["split"] == "train" else preset.n_train
        signal = X @ model["heights"][imgs - 1 + offset]  # (n_vol, n_roi) percent
        run_data.append((run, text, n_vol, n_expected, length, signal))
    return run_data


def _noise_levels(ctx: _Context, model: dict[str, Any], run_data: list[tuple], rng: np.random.Generator) -> np.ndarray:
    """Per-voxel noise SD (percent) that sets the configured SNR in the ROI voxels."""
    preset = ctx.preset
    pooled = np.concatenate([sig - sig.mean(axis=0) for *_, sig in run_data])
    signal_sd = pooled.std(axis=0)
    n_vox = int(np.prod(preset.grid))
    noise_pct = np.full(n_vox, float(np.median(signal_sd)) / preset.snr)
    noise_pct *= np.exp(rng.normal(0, 0.1, n_vox))
    noise_pct[model["roi_voxel_index"]] = signal_sd / preset.snr
    model["signal_sd"] = signal_sd
    return noise_pct


def _run_volume(
    ctx: _Context,
    model: dict[str, Any],
    noise_pct: np.ndarray,
    s: int,
    i: int,
    n_vol: int,
    n_expected: int,
    signal: np.ndarray,
) -> np.ndarray:
    """One run's int16 BOLD (x, y, z, t): baseline x (1 + (signal + AR(1) noise) / 100) + drift."""
    preset = ctx.preset
    nx, ny, nz = preset.grid
    run_rng = _rng(ctx.seed, 20, s, i)
    eps = run_rng.standard_normal((n_vol, nx * ny * nz), dtype=np.float32)
    pct = _ar1(eps, preset.ar_rho) * noise_pct.astype(np.float32)[None, :]
    pct[:, model["roi_voxel_index"]] += signal
    t = np.linspace(-1, 1, n_expected)[:n_vol]
    legendre = np.stack([t, 1.5 * t**2 - 0.5], axis=1)  # (n_vol, 2)
    pct += (legendre @ run_rng.normal(0, preset.drift_pct, (2, nx * ny * nz))).astype(np.float32)
    bold = model["baseline"].astype(np.float32)[None, :] * (1 + pct / np.float32(100.0))
    outside = ~ctx.brain.reshape(-1)
    bold[:, outside] = 30.0 + 4.0 * run_rng.standard_normal((n_vol, int(outside.sum())), dtype=np.float32)
    vol = np.clip(np.round(bold), 0, 32767).astype(np.int16)
    return np.ascontiguousarray(vol.T).reshape(nx, ny, nz, n_vol)


def _write_subject(ctx: _Context, s: int) -> list[list]:
    """Write one subject's masks, runs and ground truth; return its short-run rows."""
    preset, sub = ctx.preset, f"sub-{s:02d}"
    rng = _rng(ctx.seed, 10, s)
    label, hemi = _roi_labels(preset.grid, rng)
    anat = ctx.root / "sourcedata" / sub / "anat"
    anat.mkdir(parents=True)
    for (h, roi), m in _roi_masks(label, hemi).items():
        _save_nifti(anat / f"{sub}_mask_{h}_{roi}.nii.gz", m.astype(np.uint8), ctx.affine, None)
    model = _voxel_model(ctx, label, hemi, rng)
    run_data = _plan_runs(ctx, model, rng)
    noise_pct = _noise_levels(ctx, model, run_data, rng)
    task = ctx.progress.add_task(f"{sub} runs", total=len(run_data))
    pending: list = []
    short_rows: list[list] = []
    for i, (run, text, n_vol, n_expected, length, signal) in enumerate(run_data):
        func = ctx.root / sub / run["session"] / "func"
        func.mkdir(parents=True, exist_ok=True)
        stem = f"{sub}_{run['session']}_task-{TASK}_run-{run['run']:02d}"
        (func / f"{stem}_events.tsv").write_text(text, encoding="utf-8")
        _write_json(func / f"{stem}_bold.json", ctx.sidecar)
        vol = _run_volume(ctx, model, noise_pct, s, i, n_vol, n_expected, signal)
        # gzip (zlib releases the GIL) runs beside the next run's arithmetic.
        pending.append(ctx.writer.submit(_save_nifti, func / f"{stem}_bold.nii.gz", vol, ctx.affine, preset.tr))
        while len(pending) > 3:
            pending.pop(0).result()
            ctx.progress.advance(task)
        if n_vol < n_expected:
            short_rows.append([stem, n_vol, n_expected, f"{length:g}", f"{(n_expected - n_vol) * preset.tr:g}"])
    while pending:
        pending.pop(0).result()
        ctx.progress.advance(task)
    ctx.progress.remove_task(task)
    heights = model.pop("heights")
    _save_arrays(
        ctx.deriv / sub,
        {
            **model,
            "noise_pct": noise_pct,
            "heights_train": heights[: preset.n_train],
            "heights_test": heights[preset.n_train :],
        },
    )
    return short_rows


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
        "snr": preset.snr,
        "snr_definition": "per ROI voxel: sd over time of the noise-free signal (run means removed) / sd of the AR(1) noise",
        "ar_rho": preset.ar_rho,
        "drift_pct": preset.drift_pct,
        "hrf": "SPM canonical (= nilearn.glm.first_level.spm_hrf), sampled at TR/16, read at volume start",
        "features": list(FEATURES),
        "feature_grid": FEATURE_GRID,
        "levels": list(LEVELS),
        "roi_level": _ROI_LEVEL,
        "rois": list(ROIS),
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
        f"size={preset.name}, seed={seed}). It is laid out like OpenNeuro ds001506 1.3.x "
        "(Deep Image Reconstruction) but holds no real brain data: the BOLD comes from a known "
        "encoding model of procedural images (see fmri_bench/raw/simulate/ and derivatives/simulation/).\n\n"
        f"- {preset.n_subjects} subjects, {preset.n_train} training images x {preset.train_reps}, "
        f"{preset.n_test} test images x {preset.test_reps}\n"
        f"- grid {nx}x{ny}x{nz} at {preset.voxel_mm:g} mm, TR {preset.tr:g} s, SNR {preset.snr:g}\n"
        "- stimuli/<stimulus_name>.png: the images; stimulus wnids >= n90000000 are not ImageNet ids\n",
        encoding="utf-8",
    )
    (root / "CHANGES").write_text(f"{SIMULATOR_VERSION} synthetic\n  - simulated by fmri-bench\n", encoding="utf-8")
    (root / "sourcedata").mkdir(exist_ok=True)
    (root / "sourcedata" / "README").write_text(
        "# ROI mask images (synthetic)\n\n'sourcedata/sub-*/anat' holds binary ROI masks on the EPI grid, "
        "named '<subject>_mask_<hemisphere>_<ROI>.nii.gz' as in ds001506.\n",
        encoding="utf-8",
    )


def noise_free_signal(
    root: str | os.PathLike[str], subject: str, events_path: str | os.PathLike[str], n_volumes: int
) -> np.ndarray:
    """Rebuild one run's noise-free signal (percent change) in the ROI voxels.

    Parameters
    ----------
    root : path-like
        The simulated BIDS root.
    subject : str
        e.g. ``"sub-01"``.
    events_path : path-like
        The run's events.tsv; its session name says whether it is a test run.
    n_volumes : int
        Volumes in the run's BOLD file.

    Returns
    -------
    ndarray, shape (n_volumes, n_roi_voxels)
        In the order of ``derivatives/simulation/<subject>/roi_voxel_index.npy``.
    """
    root = Path(root)
    info = json.loads(_record_path(root).read_text(encoding="utf-8"))
    tr = float(info["preset"]["tr"])
    split = "test" if "NaturalImageTest" in Path(events_path).name else "train"
    heights = np.load(root / "derivatives" / "simulation" / subject / f"heights_{split}.npy", allow_pickle=False)
    onset, dur, _, image = _read_events(Path(events_path))
    X = block_regressors(onset, dur, n_volumes, tr)
    return X @ heights[image - 1]
