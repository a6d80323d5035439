"""The synthetic dataset: real ds001506 structure, determinism, the ground-truth encoding model, noise, CLI.

Head motion and fMRIPrep's transforms: tests/test_simulate_motion.py; the oracle through
prepare and scoring: tests/test_oracle.py.
"""

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


def _real_perception_paths(reference_dir: Path) -> list[str]:
    root = reference_dir / DS
    paths = [str(p.relative_to(root)) for p in root.glob("sub-*/ses-perception*/func/*")]
    annexed = (root / "ANNEXED_FILES.tsv").read_text().splitlines()
    paths += [line.split("\t")[0] for line in annexed if "ses-perception" in line]
    return paths


def _events(path: Path) -> list[dict[str, str]]:
    header, rows = _read_tsv(path)
    return [dict(zip(header, r)) for r in rows]


# ----------------------------------------------------------------- structure


def test_file_naming_follows_real_paths(tiny_bids: Path, reference_dir: Path) -> None:
    real = _real_perception_paths(reference_dir)
    real_patterns = {_pattern(p) for p in real}
    assert any(p.endswith("_bold.nii.gz") for p in real) and any(p.endswith("_events.tsv") for p in real)
    ours = [str(p.relative_to(tiny_bids)) for p in tiny_bids.glob("sub-*/ses-*/func/*")]
    natural = (TINY.n_train * TINY.train_reps + TINY.n_test * TINY.test_reps) // TINY.images_per_run
    assert len(ours) == 3 * TINY.n_subjects * (natural + TINY.artificial_reps + TINY.letter_reps)
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
    for path in sorted(tiny_bids.glob("sub-01/ses-perceptionNaturalImage*/func/*_events.tsv")):
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
    with pytest.raises(FmriBenchError, match="motion=False"):
        simulate_dataset(tiny_bids, size="tiny", seed=0, motion=True)
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
    record.write_text(json.dumps({"size": "tiny", "seed": 0, "simulator_version": "0", "motion": False}))
    with pytest.raises(FmriBenchError, match="simulator version 0"):
        simulate_dataset(stale, size="tiny", seed=0)


def test_cli_bad_size_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(tmp_path / "x"), "--size", "huge"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "huge" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------ DIR's artificial and letter sessions

REAL_EVENTS = Path(__file__).parent / "fixtures" / "ds001506_events"


@pytest.mark.parametrize(
    ("kind", "reps", "block", "rest"),
    [("ArtificialImage", TINY.artificial_reps, 8.0, 0.0), ("LetterImage", TINY.letter_reps, 12.0, 12.0)],
)
def test_artificial_and_letter_sessions_follow_the_real_events(
    tiny_bids: Path, kind: str, reps: int, block: float, rest: float
) -> None:
    (real_path,) = REAL_EVENTS.glob(f"*{kind}*_events.tsv")
    real_header, _ = _read_tsv(real_path)
    real = _events(real_path)
    real_blocks = [r for r in real if r["event_type"] in ("1", "2")]
    name_of = {int(r["image_index"]): r["stimulus_name"] for r in real_blocks}
    ours = sorted(tiny_bids.glob(f"sub-01/ses-perception{kind}0*/func/*_events.tsv"))
    assert len(ours) == reps
    shown: dict[int, int] = {}
    for path in ours:
        header, _ = _read_tsv(path)
        rows = _events(path)
        assert header == real_header
        assert {r["event_type"] for r in rows} <= {r["event_type"] for r in real} | {"-3"}
        assert (rows[0]["duration"], rows[0]["event_type"]) == ("32", "-1")
        assert (rows[-1]["duration"], rows[-1]["event_type"]) == ("6", "-2")
        blocks = [r for r in rows if r["event_type"] in ("1", "2")]
        # Each image once per run, and as many one-backs as in the real run.
        assert sorted(int(r["image_index"]) for r in blocks if r["event_type"] == "1") == sorted(name_of)
        assert sum(r["event_type"] == "2" for r in blocks) == sum(r["event_type"] == "2" for r in real_blocks)
        for prev, row in zip(blocks, blocks[1:]):
            assert float(row["onset"]) == float(prev["onset"]) + block + rest  # 8 s back to back; 12 s + 12 s rest
            if row["event_type"] == "2":
                assert row["stimulus_name"] == prev["stimulus_name"]
        for row in blocks:
            index = int(row["image_index"])
            assert row["stimulus_name"] == name_of[index]  # the real name for the real index
            assert row["stimulus_id"] == row["category_index"] == str(index) and float(row["duration"]) == block
            assert (tiny_bids / "stimuli" / f"{row['stimulus_name']}.png").is_file()
            shown[index] = shown.get(index, 0) + (row["event_type"] == "1")
        # The run is as long as its events say (32 + blocks + 6 s at TR 2 s).
        n_vol = nib.load(str(path).replace("_events.tsv", "_bold.nii.gz")).shape[3]
        assert n_vol * 2.0 == float(rows[-1]["onset"]) + 6.0
    assert set(shown.values()) == {reps}


def test_shapes_and_letters_are_drawn_as_named(tiny_bids: Path) -> None:
    def load(name: str) -> np.ndarray:
        return np.asarray(Image.open(tiny_bids / "stimuli" / f"{name}.png"), dtype=float) / 255.0

    centre = (slice(60, 68), slice(60, 68))
    assert np.allclose(load("colorExpStim01_red_square")[centre], [1, 0, 0])
    assert np.allclose(load("colorExpStim36_black_square")[centre], [0, 0, 0])
    ring = load("colorExpStim13_blue_largering")
    assert np.allclose(ring[centre], 0.5, atol=0.01)  # an opened square: grey inside
    assert np.isclose(ring[:, :, 2], 1.0).sum() > 1000 and np.isclose(ring[:, :, 0], 0.0).sum() > 1000
    middle = (slice(62, 66), slice(62, 66))
    assert np.allclose(load("colorExpStim04_red_+")[middle], [1, 0, 0])  # the cross passes the centre
    assert np.allclose(load("colorExpStim05_red_X")[middle], [1, 0, 0])
    assert not np.allclose(load("colorExpStim04_red_+")[20:30, 20:30], [1, 0, 0])
    letters = [load(p.stem) for p in sorted((tiny_bids / "stimuli").glob("letter_black_img*"))]
    assert len(letters) == 10
    for img in letters:
        dark = img.mean(axis=2) < 0.1
        assert 0.03 < dark.mean() < 0.25 and np.allclose(img[~dark & (img.mean(axis=2) > 0.45)].mean(), 0.5, atol=0.01)
    assert min(np.abs(a - b).mean() for i, a in enumerate(letters) for b in letters[i + 1 :]) > 0.01


# ------------------------------------------------------------------ ground truth


def _truth(root: Path, subject: str = "sub-01") -> dict[str, np.ndarray]:
    folder = root / "derivatives" / "simulation" / subject
    return {p.stem: np.load(p, allow_pickle=False) for p in folder.glob("*.npy")}


def _test_images(root: Path) -> np.ndarray:
    _, rows = _read_tsv(root / "derivatives" / "simulation" / "stimuli.tsv")
    test = sorted((r for r in rows if r[2] == "test"), key=lambda r: int(r[3]))
    return np.stack([np.asarray(Image.open(root / "stimuli" / f"{r[0]}.png"), dtype=np.float64) / 255 for r in test])


def _gabor_energy(lum: np.ndarray, sf_cpi: float, theta: float) -> np.ndarray:
    """Complex-cell energy by direct spatial convolution with a quadrature Gabor (independent of the
    simulator's FFT filters): the 1-octave filter's envelope sd is 1 / (2 pi sigma_f) image widths,
    computed at >= 4 px per cycle (block means), zero (grey) beyond the image, block-averaged to 32 x 32."""
    from scipy.signal import fftconvolve

    n = int(min(128, max(32, 2 ** np.ceil(np.log2(4 * sf_cpi)))))
    img = lum.reshape(n, 128 // n, n, 128 // n).mean(axis=(1, 3))
    sigma_f = sf_cpi * (2**0.5 - 2**-0.5) / 2.3548
    sigma_px = n / (2 * np.pi * sigma_f)
    r = int(np.ceil(4 * sigma_px))
    y, x = np.mgrid[-r : r + 1, -r : r + 1] / n
    kernel = np.exp(-(x**2 + y**2) / (2 * (sigma_px / n) ** 2)) * np.exp(
        2j * np.pi * sf_cpi * (x * np.cos(theta) + y * np.sin(theta))
    )
    kernel /= np.exp(-(x**2 + y**2) / (2 * (sigma_px / n) ** 2)).sum()  # unit gain at the carrier
    energy = np.abs(fftconvolve(img, kernel, mode="same"))
    return energy.reshape(32, n // 32, 32, n // 32).mean(axis=(1, 3))


def test_voxel_response_follows_its_prf_weighted_gabor_energy(tiny_bids: Path) -> None:
    """The energy component of early voxels is their pRF-pooled, tuned, normalized Gabor energy under
    the compressive exponent; the heights combine the components as documented."""
    from scipy.stats import norm

    truth = _truth(tiny_bids)
    norm_mean = np.load(tiny_bids / "derivatives" / "simulation" / "shared" / "norm_energy_mean.npy")
    info = json.loads((tiny_bids / "derivatives" / "simulation" / "simulation.json").read_text())
    params = info["preset"]["params"]
    images = _test_images(tiny_bids)
    sfs, thetas = params["gabor_sf_cpi"], np.arange(8) * np.pi / 8
    energy = np.stack(
        [[[_gabor_energy(img.mean(axis=2) - 0.5, sf, th) for th in thetas] for sf in sfs] for img in images]
    )  # (n, S, O, 32, 32)
    normalized = energy / (
        params["norm_c"] * norm_mean[None, :, None, None, None] + energy.mean(axis=(2, 3, 4), keepdims=True)
    )
    inside = (truth["prf_x"] > 0.2) & (truth["prf_x"] < 0.8) & (truth["prf_y"] > 0.2) & (truth["prf_y"] < 0.8)
    voxels = np.flatnonzero((truth["roi_label"] <= 5) & inside)[:40]  # V1-V3 voxels seeing the image
    assert len(voxels) >= 20
    edges = np.arange(33) / 32
    for v in voxels:
        wx = np.diff(norm.cdf((edges - truth["prf_x"][v]) / truth["prf_sigma"][v]))
        wy = np.diff(norm.cdf((edges - truth["prf_y"][v]) / truth["prf_sigma"][v]))
        pooled = np.einsum("nsoij,i,j->nso", normalized, wy, wx)
        c = truth["tuning_early"][v].reshape(len(sfs), 3)  # per SF: w, w kappa cos 2phi, w kappa sin 2phi
        tuning = c[:, :1] + c[:, 1:2] * np.cos(2 * thetas) + c[:, 2:3] * np.sin(2 * thetas)
        drive = np.einsum("nso,so->n", pooled, tuning) ** truth["tuning_exponent"][v]
        np.testing.assert_allclose(drive, truth["components_test"][0, :, v], rtol=0.03)
    # The heights are the documented combination of the normalized components.
    z = [(truth["components_test"][i] - truth[f"norm_{k}_mean"]) / truth[f"norm_{k}_scale"] for i, k in
         enumerate(("energy", "first", "specific"))]  # fmt: skip
    beta, share = truth["tuning_first_share"], params["subject_share"]
    a = np.sqrt(1 - share) * (np.sqrt(1 - beta) * z[0] + np.sqrt(beta) * z[1]) + np.sqrt(share) * z[2]
    np.testing.assert_allclose(
        truth["amp"] * (params["mean_response"] + a), truth["heights_test"], rtol=1e-4, atol=1e-5
    )


def test_prf_size_grows_with_eccentricity_and_along_the_hierarchy(tiny_bids: Path) -> None:
    truth = _truth(tiny_bids)
    label, ecc, sigma = truth["roi_label"], truth["ecc"], truth["prf_sigma"] * 12.0  # degrees
    v1 = label <= 1
    assert np.corrcoef(ecc[v1], sigma[v1])[0, 1] > 0.6
    at_5deg = [np.median(sigma[(label // 2 == k) & (ecc > 3) & (ecc < 7)]) for k in range(3)]  # V1, V2, V3
    assert at_5deg[0] < at_5deg[1] < at_5deg[2]
    assert np.median(sigma[label >= 7]) > 1.5 * at_5deg[2]  # LOC, FFA, PPA, HVC: large, position tolerant
    hrf = truth["hrf_peak"]
    assert hrf.min() >= 4.0 and hrf.max() <= 7.0 and hrf.std() > 0.3


def _run_residuals(root: Path, subject: str = "sub-01") -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Noise at the ROI voxels of every natural-image run (percent; the known drift basis regressed out)."""
    from fmri_bench.raw.simulate.noise import drift_basis

    truth = _truth(root, subject)
    roi = truth["roi_voxel_index"]
    baseline = truth["baseline"].reshape(-1)[roi]
    out, projections = [], []
    for bold in sorted(root.glob(f"{subject}/ses-perceptionNaturalImage*/func/*_bold.nii.gz")):
        data = np.asarray(nib.load(bold).dataobj, dtype=np.float64)
        pct = (data.reshape(-1, data.shape[-1]).T[:, roi] / baseline - 1) * 100
        events = Path(str(bold).replace("_bold.nii.gz", "_events.tsv"))
        rows = _events(events)
        resid = pct - noise_free_signal(root, subject, events, len(pct))
        n_expected = int(round((float(rows[-1]["onset"]) + 6) / 2))
        basis = np.column_stack([np.ones(len(pct)), drift_basis(n_expected)[0][: len(pct)]])
        projection = np.eye(len(pct)) - basis @ np.linalg.pinv(basis)
        out.append(projection @ resid)
        projections.append(projection)
    return np.concatenate(out), truth["roi_voxel_index"], projections


def _kept_variance(rho: float, projections: list[np.ndarray]) -> float:
    """Variance of a unit AR(1) left after each run's drift regression, averaged over volumes."""
    kept = [
        np.trace(p @ rho ** np.abs(np.subtract.outer(np.arange(len(p)), np.arange(len(p)))) @ p) for p in projections
    ]
    return float(np.sum(kept) / sum(len(p) for p in projections))


def test_noise_is_spatially_correlated_as_specified(tiny_bids: Path) -> None:
    """Smooth field (FWHM 10 mm) + global signal + independent AR(1): neighbours correlate strongly,
    distant voxels through the global signal only, and the white part stays independent."""
    resid, roi, projections = _run_residuals(tiny_bids)
    ijk = np.array(np.unravel_index(roi, TINY.grid)).T
    interior = np.all((ijk >= 3) & (ijk < np.array(TINY.grid) - 3), axis=1)  # the field's sd is lower at the edge
    corr = np.corrcoef(resid.T)
    dist = np.sqrt(((ijk[:, None] - ijk[None]) ** 2).sum(-1)) * 2.0  # mm
    pairs = np.triu(np.outer(interior, interior), 1)
    p = TINY.params
    # Each part's variance after the drift regression; a Gaussian field of FWHM 10 mm correlates
    # exp(-d^2 / (4 sigma^2)) at distance d (0.95 at 2 mm).
    white, field, glob = (
        share * _kept_variance(rho, projections)
        for share, rho in (
            (p.share_white, p.rho_white),
            (p.share_spatial, p.rho_spatial),
            (p.share_global, p.rho_global),
        )
    )
    total = white + field + glob * (1 + p.global_loading_sd**2)
    sigma = p.grf_fwhm_mm / 2.3548
    assert np.mean(corr[pairs & (dist == 2.0)]) == pytest.approx(
        (field * np.exp(-1 / sigma**2) + glob) / total, abs=0.05
    )
    assert np.mean(corr[pairs & (dist > 20.0)]) == pytest.approx(glob / total, abs=0.05)
    # Removing the global signal (with the mean over voxels) removes the long-range correlation.
    clean = resid - resid.mean(axis=1, keepdims=True)
    assert np.mean(np.corrcoef(clean.T)[pairs & (dist > 20.0)]) < 0.05 < 0.15 < np.mean(corr[pairs & (dist > 20.0)])
    # Temporal autocorrelation: a mix of AR(1) processes (rho 0.4, 0.5, 0.8), not white noise.
    lag1 = np.mean([np.corrcoef(resid[:-1, v], resid[1:, v])[0, 1] for v in range(0, resid.shape[1], 7)])
    assert 0.3 < lag1 < 0.75


def test_roi_voxels_carry_stimulus_signal_and_others_do_not(tiny_bids: Path) -> None:
    x, y = _block_samples(tiny_bids, "sub-01")
    groups = np.unique(y)
    means = np.stack([x[y == g].mean(axis=0) for g in groups])
    counts = np.array([(y == g).sum() for g in groups])
    between = (counts[:, None] * (means - x.mean(axis=0)) ** 2).sum(axis=0) / (len(groups) - 1)
    within = sum(((x[y == g] - means[i]) ** 2).sum(axis=0) for i, g in enumerate(groups)) / (len(y) - len(groups))
    f = between / np.maximum(within, 1e-12)
    truth = _truth(tiny_bids)
    roi = truth["roi_voxel_index"]
    others = np.setdiff1d(np.arange(int(np.prod(TINY.grid))), roi)
    assert np.median(f[roi]) > 1.1  # no-signal F over 60 images x 2: 1.00 +- 0.01 for the median of 1,300 voxels
    assert 0.9 < np.median(f[others]) < 1.1
    assert np.mean(f[roi] > np.quantile(f[others], 0.95)) > 0.2
    # The noise-free per-image response predicts the ROI voxels' block averages.
    r = [np.corrcoef(means[:, v], truth["heights_train"][groups - 1, i])[0, 1] for i, v in enumerate(roi)]
    assert np.median(r) > 0.3


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


def test_artificial_and_letter_runs_carry_their_images_signal(tiny_bids: Path) -> None:
    truth = _truth(tiny_bids)
    roi = truth["roi_voxel_index"]
    for kind, split in (("ArtificialImage", "artificial"), ("LetterImage", "letter")):
        bold = sorted(tiny_bids.glob(f"sub-01/ses-perception{kind}0*/func/*_bold.nii.gz"))[0]
        data = np.asarray(nib.load(bold).dataobj, dtype=np.float64).reshape(-1, nib.load(bold).shape[3]).T[:, roi]
        signal = noise_free_signal(tiny_bids, "sub-01", str(bold).replace("_bold.nii.gz", "_events.tsv"), len(data))
        assert truth[f"heights_{split}"].shape == ((40 if split == "artificial" else 10), len(roi))
        r = [np.corrcoef(data[:, v], signal[:, v])[0, 1] for v in range(len(roi))]
        assert np.median(r) > 0.2


def test_hrf_peaks_where_asked_and_is_spm_at_5_s() -> None:
    from nilearn.glm.first_level import spm_hrf as nilearn_spm_hrf

    from fmri_bench.raw.simulate.model import design, hrf

    dt = 2.0 / 16
    for peak in (4.0, 5.5, 7.0):
        assert np.argmax(hrf(peak, dt)) * dt == pytest.approx(peak, abs=dt)
    ours, spm = hrf(5.0, dt), nilearn_spm_hrf(2.0, oversampling=16)
    n = min(len(ours), len(spm))
    assert np.corrcoef(ours[:n], spm[:n])[0, 1] > 0.999
    x = design(np.array([32.0]), np.array([8.0]), 40, 2.0, 5.0)
    assert x[:16, 0].max() == 0.0 and 0.9 < x[:, 0].max() < 1.2  # nothing before the onset; about unit height


def test_subjects_share_structure_but_are_not_interchangeable(tiny_bids: Path) -> None:
    """A subject's noise-free responses are largely, not exactly, a linear map of another's: own
    retinotopy, tuning and a subject-specific share (the old model's map was exact, r = 0.99999)."""
    from sklearn.linear_model import RidgeCV

    a, b = _truth(tiny_bids, "sub-01"), _truth(tiny_bids, "sub-02")
    source = np.concatenate([b["heights_train"], b["heights_artificial"]])
    target = np.concatenate([a["heights_train"], a["heights_artificial"]])
    model = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(source, target)
    pred = model.predict(np.concatenate([b["heights_test"], b["heights_letter"]]))
    truth = np.concatenate([a["heights_test"], a["heights_letter"]])
    r = np.median([np.corrcoef(pred[:, v], truth[:, v])[0, 1] for v in range(truth.shape[1])])
    assert 0.4 < r < 0.98
    same = np.intersect1d(a["roi_voxel_index"], b["roi_voxel_index"])
    label_a = dict(zip(a["roi_voxel_index"], a["roi_label"]))
    label_b = dict(zip(b["roi_voxel_index"], b["roi_label"]))
    assert np.mean([label_a[v] != label_b[v] for v in same]) > 0.1  # their own maps: ROI borders move


def test_tiny_noise_free_responses_are_high_dimensional(tiny_bids: Path) -> None:
    """Participation ratio of the noise-free responses over all 120 images of tiny (default: 22-32 over 650)."""
    truth = _truth(tiny_bids)
    h = np.concatenate([truth[f"heights_{s}"] for s in ("train", "test", "artificial", "letter")])
    h = h - h.mean(axis=0)
    ev = np.linalg.eigvalsh(h @ h.T)
    assert ev.sum() ** 2 / (ev**2).sum() > 10  # the old model: about 2


def test_default_slab_leaves_empty_field_of_view_for_head_motion() -> None:
    """With motion, no ROI voxel within the margin of the volume's faces; without, the grid is the slab's."""
    from dataclasses import replace

    from fmri_bench.raw.simulate.anatomy import make_anatomy
    from fmri_bench.raw.simulate.writer import with_motion_margin

    still, moving = (with_motion_margin(replace(SIZES["default"], motion=m)) for m in (False, True))
    m = moving.fov_margin
    assert still.grid == SIZES["default"].grid and still.fov_margin == 0
    assert m >= 2 and moving.grid == tuple(n + 2 * m for n in still.grid)
    assert 2 * moving.motion_params.session_mm <= m * moving.voxel_mm * 2  # the largest shift stays in view
    roi = np.argwhere(make_anatomy(moving.grid, 0, 1, m)["label"] >= 0)
    assert len(roi) > 3000 and (roi >= m).all() and (roi < np.asarray(moving.grid) - m).all()
    slab = np.argwhere(make_anatomy(still.grid, 0, 1, 0)["label"] >= 0)
    assert (slab == 0).any()  # without the margin the slab fills the grid
