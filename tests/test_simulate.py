"""The synthetic dataset: real ds001506 structure, determinism, ground truth, SNR, CLI."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from fmri_bench.cli import main
from fmri_bench.errors import FmriBenchError
from fmri_bench.raw.simulate import SIZES, noise_free_signal, simulate_dataset

DS = "openneuro/ds001506"
TINY = SIZES["tiny"]


def _read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:] if line]


def _pattern(rel: str) -> str:
    """A path with every digit run generalized to that many digits: the naming scheme."""
    return re.sub(r"\d+", lambda m: rf"\d{{{len(m.group())}}}", re.escape(rel).replace(r"\-", "-"))


def _real_natural_paths(reference_dir: Path) -> list[str]:
    root = reference_dir / DS
    paths = [str(p.relative_to(root)) for p in root.glob("sub-*/ses-perceptionNaturalImage*/func/*")]
    annexed = (root / "ANNEXED_FILES.tsv").read_text().splitlines()
    paths += [line.split("\t")[0] for line in annexed if "ses-perceptionNaturalImage" in line]
    return paths


def _events(path: Path) -> list[dict[str, str]]:
    header, rows = _read_tsv(path)
    return [dict(zip(header, r)) for r in rows]


# ----------------------------------------------------------------- structure


def test_file_naming_follows_real_paths(tiny_bids: Path, reference_dir: Path) -> None:
    real = _real_natural_paths(reference_dir)
    real_patterns = {_pattern(p) for p in real}
    assert any(p.endswith("_bold.nii.gz") for p in real) and any(p.endswith("_events.tsv") for p in real)
    ours = [str(p.relative_to(tiny_bids)) for p in tiny_bids.glob("sub-*/ses-*/func/*")]
    assert (
        len(ours)
        == 3 * TINY.n_subjects * (TINY.n_train * TINY.train_reps + TINY.n_test * TINY.test_reps) // TINY.images_per_run
    )
    for rel in ours:
        assert _pattern(rel) in real_patterns, rel
    # Every run has its three files.
    stems = {re.sub(r"_(bold\.nii\.gz|bold\.json|events\.tsv)$", "", r) for r in ours}
    for stem in stems:
        for suffix in ("_bold.nii.gz", "_bold.json", "_events.tsv"):
            assert (tiny_bids / f"{stem}{suffix}").is_file()
    assert {p.name.split("_")[0] for p in tiny_bids.glob("sub-*")} == {"sub-01", "sub-02"}


def test_events_match_real_columns_and_codes(tiny_bids: Path, reference_dir: Path) -> None:
    real_files = sorted((reference_dir / DS).glob("sub-01/ses-perceptionNaturalImageT*/func/*_events.tsv"))
    real_header = _read_tsv(real_files[0])[0]
    real_codes = {r["event_type"] for f in real_files for r in _events(f)}
    real_row = next(r for r in _events(real_files[0]) if r["event_type"] == "1")
    id_format = re.compile(r"^\d+\.\d{6}$")
    assert id_format.match(real_row["stimulus_id"])  # the real format, e.g. 1639765.047681

    seen = {"train": {}, "test": {}}
    for path in sorted(tiny_bids.glob("sub-01/ses-*/func/*_events.tsv")):
        header, _ = _read_tsv(path)
        assert header == real_header
        rows = _events(path)
        assert {r["event_type"] for r in rows} <= real_codes
        assert (rows[0]["onset"], rows[0]["duration"], rows[0]["event_type"]) == ("0", "32", "-1")
        assert (rows[-1]["duration"], rows[-1]["event_type"]) == ("6", "-2")
        assert all(v == "n/a" for k, v in rows[0].items() if k not in ("onset", "duration", "event_type"))
        t = 0.0
        for prev, row in zip([None, *rows[:-1]], rows):
            assert float(row["onset"]) == t  # contiguous blocks
            t += float(row["duration"])
            if row["event_type"] in ("1", "2"):
                assert row["duration"] == "8"
                wnid, number = row["stimulus_name"][1:].split("_")
                assert id_format.match(row["stimulus_id"])
                assert float(row["stimulus_id"]) == pytest.approx(int(wnid) + int(number) / 1e6, abs=1e-7)
            if row["event_type"] == "2":  # one-back: the same image again, with a response time
                assert prev["stimulus_name"] == row["stimulus_name"] and prev["event_type"] == "1"
                assert float(row["onset"]) < float(row["response_time"]) < float(row["onset"]) + 8
            else:
                assert row["response_time"] == "n/a"
            if row["event_type"] == "1":
                split = "test" if "Test" in path.name else "train"
                seen[split].setdefault(int(row["image_index"]), []).append(row["stimulus_name"])
    # Training and test image_index run separately from 1, each image shown the preset's times.
    assert sorted(seen["train"]) == list(range(1, TINY.n_train + 1))
    assert sorted(seen["test"]) == list(range(1, TINY.n_test + 1))
    assert {len(v) for v in seen["train"].values()} == {TINY.train_reps}
    assert {len(v) for v in seen["test"].values()} == {TINY.test_reps}
    names = [v[0] for split in seen.values() for v in split.values()]
    for name in names:
        assert (tiny_bids / "stimuli" / f"{name}.png").is_file()


def test_sidecars_masks_and_descriptions_match_reference(tiny_bids: Path, reference_dir: Path) -> None:
    real_root = reference_dir / DS
    real_json = json.loads(
        next(real_root.glob("sub-01/ses-perceptionNaturalImageTraining01/func/*_bold.json")).read_text()
    )
    bold = sorted(tiny_bids.glob("sub-01/ses-*/func/*_bold.nii.gz"))[0]
    sidecar = json.loads(Path(str(bold).replace(".nii.gz", ".json")).read_text())
    assert list(sidecar) == list(real_json)
    img = nib.load(bold)
    assert img.get_data_dtype() == np.int16
    assert sidecar["RepetitionTime"] == pytest.approx(float(img.header.get_zooms()[3])) == 2.0
    assert len(sidecar["SliceTiming"]) == img.shape[2]
    assert max(sidecar["SliceTiming"]) < sidecar["RepetitionTime"]
    assert img.header.get_zooms()[:3] == (2.0, 2.0, 2.0)
    data = np.asarray(img.dataobj)
    assert 800 < np.median(data[data > 500]) < 1200  # scanner-like baseline

    annexed = (real_root / "ANNEXED_FILES.tsv").read_text().splitlines()
    real_masks = {re.sub(r"sub-0\d", "sub-0X", line.split("\t")[0]) for line in annexed if "_mask_" in line}
    for sub in ("sub-01", "sub-02"):
        ours = {
            re.sub(r"sub-0\d", "sub-0X", str(p.relative_to(tiny_bids)))
            for p in tiny_bids.glob(f"sourcedata/{sub}/anat/*")
        }
        assert ours == real_masks
        for mask_path in tiny_bids.glob(f"sourcedata/{sub}/anat/*.nii.gz"):
            mask = nib.load(mask_path)
            assert mask.shape == img.shape[:3]
            np.testing.assert_allclose(mask.affine, img.affine)
            assert np.asarray(mask.dataobj).sum() > 0, mask_path.name

    real_desc = json.loads((real_root / "dataset_description.json").read_text())
    desc = json.loads((tiny_bids / "dataset_description.json").read_text())
    assert set(desc) == set(real_desc)
    readme = (tiny_bids / "README").read_text().lower()
    assert "synthetic" in readme and "seed=0" in readme and "size=tiny" in readme


def test_short_run_recorded_and_shorter_than_its_events(tiny_bids: Path) -> None:
    header, rows = _read_tsv(tiny_bids / "derivatives" / "simulation" / "short_runs.tsv")
    assert len(rows) >= 1
    for row in rows:
        rec = dict(zip(header, row))
        sub = rec["run"].split("_")[0]
        ses = rec["run"].split("_")[1]
        func = tiny_bids / sub / ses / "func"
        n_vol = nib.load(func / f"{rec['run']}_bold.nii.gz").shape[3]
        events = _events(func / f"{rec['run']}_events.tsv")
        implied = (float(events[-1]["onset"]) + float(events[-1]["duration"])) / 2.0
        assert n_vol == int(rec["volumes"]) < implied == int(rec["expected_volumes"])
    # The other runs are complete.
    for bold in sorted(tiny_bids.glob("sub-02/ses-*/func/*_bold.nii.gz"))[:3]:
        stem = bold.name.replace("_bold.nii.gz", "")
        if stem not in {r[0] for r in rows}:
            events = _events(bold.parent / f"{stem}_events.tsv")
            assert nib.load(bold).shape[3] == (float(events[-1]["onset"]) + float(events[-1]["duration"])) / 2.0


# ------------------------------------------------------ determinism, CLI, reuse


def _file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_cli_same_seed_gives_identical_bytes(tiny_bids: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    assert main(["simulate", str(out), "--size", "tiny"]) == 0
    ours, theirs = _file_bytes(out), _file_bytes(tiny_bids)
    assert list(ours) == list(theirs)
    differing = [name for name in ours if ours[name] != theirs[name]]
    assert differing == []
    assert not list(tmp_path.glob(".again*")), "temporary folder left behind"


def test_other_seed_differs(tiny_bids: Path, tmp_path: Path) -> None:
    other = simulate_dataset(tmp_path / "seed1", size="tiny", seed=1)
    a, b = _file_bytes(tiny_bids), _file_bytes(other)
    bold = "sub-01/ses-perceptionNaturalImageTraining01/func/sub-01_ses-perceptionNaturalImageTraining01_task-perception_run-01_bold.nii.gz"
    assert a[bold] != b[bold]
    assert {p for p in a if p.startswith("stimuli/")} != {p for p in b if p.startswith("stimuli/")}
    info = json.loads((other / "derivatives" / "simulation" / "simulation.json").read_text())
    assert (info["seed"], info["size"]) == (1, "tiny")


def test_existing_folder_reused_or_refused(tiny_bids: Path, tmp_path: Path) -> None:
    marker = tiny_bids / "README"
    before = marker.stat().st_mtime_ns
    start = time.perf_counter()
    assert simulate_dataset(tiny_bids, size="tiny", seed=0) == tiny_bids
    assert time.perf_counter() - start < 1.0
    assert marker.stat().st_mtime_ns == before
    with pytest.raises(FmriBenchError, match="seed=0"):
        simulate_dataset(tiny_bids, size="tiny", seed=3)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FmriBenchError, match="not empty"):
        simulate_dataset(foreign, size="tiny")
    assert (foreign / "notes.txt").read_text() == "mine"
    # An older simulator's output is not silently reused as if it were current.
    stale = tmp_path / "stale"
    record = stale / "derivatives" / "simulation" / "simulation.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"size": "tiny", "seed": 0, "simulator_version": "0"}))
    with pytest.raises(FmriBenchError, match="simulator version 0"):
        simulate_dataset(stale, size="tiny", seed=0)


def test_cli_bad_size_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(tmp_path / "x"), "--size", "huge"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "huge" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------ ground truth


def _independent_drive(pngs: list[Path], shared: dict[str, np.ndarray]) -> np.ndarray:
    """Channel responses z (n_images, K) recomputed from the PNGs and the documented model."""
    feats = []
    for png in pngs:
        x = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64) / 255.0
        n = x.shape[0] // 32
        x = x.reshape(32, n, 32, n, 3).mean(axis=(1, 3))
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
        lum = (r + g + b) / 3
        gy, gx = np.gradient(lum)
        maps = [lum, r - g, b - (r + g) / 2]
        maps += [(gx * np.cos(t) + gy * np.sin(t)) ** 2 for t in np.deg2rad([0, 45, 90, 135])]
        feats.append(np.stack(maps))
    f = np.stack(feats)
    f = (f - shared["feature_mean"][:, None, None]) / shared["feature_std"][:, None, None]
    c = (np.arange(32) + 0.5) / 32
    z = np.empty((len(pngs), shared["channel_x"].size))
    for k, (cx, cy, s) in enumerate(zip(shared["channel_x"], shared["channel_y"], shared["channel_sigma"])):
        rf = np.exp(-((c[:, None] - cy) ** 2 + (c[None, :] - cx) ** 2) / (2 * s**2))
        rf /= rf.sum()
        z[:, k] = np.einsum("nfij,ij,f->n", f, rf, shared["channel_tuning"][k])
    return (z - shared["channel_mean"]) / shared["channel_std"]


def _load_folder(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p, allow_pickle=False) for p in folder.glob("*.npy")}


def test_noise_free_response_follows_receptive_field_drive(tiny_bids: Path) -> None:
    deriv = tiny_bids / "derivatives" / "simulation"
    shared = _load_folder(deriv / "shared")
    sub = _load_folder(deriv / "sub-01")
    _, rows = _read_tsv(deriv / "stimuli.tsv")
    train = sorted((r for r in rows if r[2] == "train"), key=lambda r: int(r[3]))
    z = _independent_drive([tiny_bids / "stimuli" / f"{r[0]}.png" for r in train], shared)
    drive = np.einsum("nvk,vk->nv", z[:, sub["channel_index"]], sub["channel_weight"])
    heights = sub["heights_train"]
    for v in np.random.default_rng(0).choice(heights.shape[1], 20, replace=False):
        assert np.corrcoef(drive[:, v], heights[:, v])[0, 1] > 0.99
    # Early ROIs have small receptive fields, higher ones large.
    labels = sub["roi_label"]
    assert sub["rf_sigma"][labels <= 1].mean() < sub["rf_sigma"][labels >= 7].mean()


def _block_samples(root: Path, subject: str) -> tuple[np.ndarray, np.ndarray]:
    """Training block averages of every voxel (detrended, z-scored per run, 4 s shift)."""
    from scipy.signal import detrend

    xs, ys = [], []
    for bold in sorted(root.glob(f"{subject}/ses-perceptionNaturalImageTraining*/func/*_bold.nii.gz")):
        data = np.asarray(nib.load(bold).dataobj, dtype=np.float64)
        data = detrend(data.reshape(-1, data.shape[-1]).T, axis=0)
        data /= np.maximum(data.std(axis=0), 1e-9)
        for row in _events(Path(str(bold).replace("_bold.nii.gz", "_events.tsv"))):
            if row["event_type"] != "1":
                continue
            first = int((float(row["onset"]) + 4) / 2)
            if first + 4 <= data.shape[0]:
                xs.append(data[first : first + 4].mean(axis=0))
                ys.append(int(row["image_index"]))
    return np.array(xs), np.array(ys)


def test_roi_voxels_carry_stimulus_signal_and_others_do_not(tiny_bids: Path) -> None:
    x, y = _block_samples(tiny_bids, "sub-01")
    # One-way ANOVA F across images per voxel: ~1 without stimulus signal.
    groups = np.unique(y)
    means = np.stack([x[y == g].mean(axis=0) for g in groups])
    counts = np.array([(y == g).sum() for g in groups])
    between = (counts[:, None] * (means - x.mean(axis=0)) ** 2).sum(axis=0) / (len(groups) - 1)
    within = sum(((x[y == g] - means[i]) ** 2).sum(axis=0) for i, g in enumerate(groups)) / (len(y) - len(groups))
    f = between / np.maximum(within, 1e-12)
    roi = np.load(tiny_bids / "derivatives" / "simulation" / "sub-01" / "roi_voxel_index.npy")
    first_run = nib.load(sorted(tiny_bids.glob("sub-01/ses-*/func/*_bold.nii.gz"))[0])
    brain = np.asarray(first_run.dataobj)[..., 0].reshape(-1) > 500
    others = np.setdiff1d(np.flatnonzero(brain), roi)
    assert np.median(f[roi]) > 1.2
    assert 0.8 < np.median(f[others]) < 1.1
    assert np.mean(f[roi] > np.quantile(f[others], 0.95)) > 0.2
    # The noise-free per-image response predicts the ROI voxels' block averages.
    heights = np.load(tiny_bids / "derivatives" / "simulation" / "sub-01" / "heights_train.npy")
    r = [np.corrcoef(means[:, v], heights[groups - 1, i])[0, 1] for i, v in enumerate(roi)]
    assert np.median(r) > 0.3


def test_measured_snr_matches_configured(tiny_bids: Path) -> None:
    deriv = tiny_bids / "derivatives" / "simulation"
    roi = np.load(deriv / "sub-01" / "roi_voxel_index.npy")
    baseline = np.load(deriv / "sub-01" / "baseline.npy")[roi]
    signals, residuals = [], []
    for bold in sorted(tiny_bids.glob("sub-01/ses-*/func/*_bold.nii.gz")):
        data = np.asarray(nib.load(bold).dataobj, dtype=np.float64)
        data = data.reshape(-1, data.shape[-1]).T[:, roi]
        events = Path(str(bold).replace("_bold.nii.gz", "_events.tsv"))
        signal = noise_free_signal(tiny_bids, "sub-01", events, data.shape[0])
        resid = (data / baseline - 1) * 100 - signal
        t = np.linspace(-1, 1, resid.shape[0])
        design = np.stack([np.ones_like(t), t, t**2], axis=1)  # the drift is linear + quadratic
        resid -= design @ np.linalg.lstsq(design, resid, rcond=None)[0]
        signals.append(signal - signal.mean(axis=0))
        residuals.append(resid)
    snr = np.concatenate(signals).std(axis=0) / np.concatenate(residuals).std(axis=0)
    info = json.loads((deriv / "simulation.json").read_text())
    assert info["snr"] == TINY.snr
    assert np.median(snr) == pytest.approx(info["snr"], rel=0.1)


def test_hrf_is_nilearn_spm_hrf_and_regressors_are_its_convolution() -> None:
    from nilearn.glm.first_level import spm_hrf as nilearn_spm_hrf

    from fmri_bench.raw.simulate import block_regressors, spm_hrf

    for tr, oversampling in ((2.0, 16), (3.0, 50)):
        np.testing.assert_allclose(
            spm_hrf(tr, oversampling), nilearn_spm_hrf(tr, oversampling=oversampling), atol=1e-12
        )
    onsets, durations = np.array([32.0, 40.0, 72.0]), np.array([8.0, 8.0, 8.0])
    x = block_regressors(onsets, durations, 60, 2.0)
    t = np.arange(60 * 16 + 400) * (2.0 / 16)
    expected = np.stack(
        [
            np.convolve(((t >= o) & (t < o + d)).astype(float), nilearn_spm_hrf(2.0, oversampling=16))[: t.size][::16][
                :60
            ]
            for o, d in zip(onsets, durations)
        ],
        axis=1,
    )
    np.testing.assert_allclose(x, expected, atol=1e-12)
    assert x[: int(32 / 2), 0].max() == 0.0 and x[:, 0].max() > 0.9  # nothing before the onset


def test_subjects_share_latent_structure(tiny_bids: Path) -> None:
    """One subject's noise-free responses are a linear map of another's (shared channels)."""
    from sklearn.linear_model import RidgeCV

    deriv = tiny_bids / "derivatives" / "simulation"

    def heights(sub: str, split: str) -> np.ndarray:
        return np.load(deriv / sub / f"heights_{split}.npy")

    def median_r(source_train: np.ndarray) -> float:
        model = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(source_train, heights("sub-01", "train"))
        pred, truth = model.predict(heights("sub-02", "test")), heights("sub-01", "test")
        return float(np.median([np.corrcoef(pred[:, v], truth[:, v])[0, 1] for v in range(truth.shape[1])]))

    assert not np.array_equal(
        np.load(deriv / "sub-01" / "roi_voxel_index.npy"), np.load(deriv / "sub-02" / "roi_voxel_index.npy")
    )
    aligned = median_r(heights("sub-02", "train"))
    shuffled = median_r(heights("sub-02", "train")[np.random.default_rng(0).permutation(TINY.n_train)])
    assert aligned > 0.9 and aligned > shuffled + 0.4
    info = json.loads((deriv / "simulation.json").read_text())
    assert info["preset"] == json.loads(json.dumps(TINY.as_dict()))  # the size preset is recorded


def test_same_bytes_whatever_the_blas_threading(tiny_bids: Path, tmp_path: Path) -> None:
    # A single-threaded BLAS sums in another order than a multi-threaded one; the
    # simulator must not let that reach its files.
    import os
    import subprocess
    import sys

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = tmp_path / "single_thread"
    code = f"from fmri_bench.raw.simulate import simulate_dataset; simulate_dataset({str(out)!r}, size='tiny', seed=0)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    ours, theirs = _file_bytes(out), _file_bytes(tiny_bids)
    assert [name for name in ours if ours[name] != theirs.get(name)] == []
