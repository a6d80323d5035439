"""Head motion in the simulated BOLD and the fMRIPrep transforms that describe it.

The motion-on dataset uses the same random streams as the motion-free one (``tiny_bids``),
so the motion-free BOLD is the truth that realigning the moved BOLD must recover.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from fmri_bench.raw.simulate import SIZES, simulate_dataset
from fmri_bench.raw.simulate.motion import COREG_SUFFIX, HMC_SUFFIX, resample_run, rigid

TINY = SIZES["tiny"]


@pytest.fixture(scope="module")
def moving_bids(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_dataset(tmp_path_factory.mktemp("moving") / "synthetic", size="tiny", seed=0, motion=True)


def _load_transforms(root: Path, bold: Path) -> tuple[np.ndarray, np.ndarray]:
    """(hmc (T, 4, 4), coreg (4, 4)) read with nitransforms, as fMRIPrep's consumers read them."""
    import nitransforms as nt

    stem = bold.name.replace("_bold.nii.gz", "")
    folder = root / "derivatives" / "fmriprep" / bold.parts[-4] / bold.parts[-3] / "func"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hmc = nt.linear.load(folder / f"{stem}{HMC_SUFFIX}", fmt="itk")
        coreg = nt.linear.load(folder / f"{stem}{COREG_SUFFIX}", fmt="itk")
    return np.asarray(hmc.matrix), np.asarray(coreg.matrix)


def _mask_voxels(root: Path, subject: str) -> tuple[np.ndarray, np.ndarray]:
    files = sorted((root / "sourcedata" / subject / "anat").glob("*_mask_*.nii.gz"))
    union = np.any([np.asarray(nib.load(f).dataobj) > 0 for f in files], axis=0)
    return np.argwhere(union), nib.load(files[0]).affine


def _realign(root: Path, bold: Path, ijk: np.ndarray, mask_affine: np.ndarray, invert: bool = False) -> np.ndarray:
    """Each mask voxel read from the raw run at inv(A_bold) HMC[t] COREG A_mask m (trilinear), (N, T)."""
    hmc, coreg = _load_transforms(root, bold)
    img = nib.load(bold)
    data = np.asarray(img.dataobj, dtype=np.float32)
    points = np.c_[ijk, np.ones(len(ijk))].T
    out = np.empty((len(ijk), data.shape[3]), dtype=np.float32)
    for t in range(data.shape[3]):
        chain = hmc[t] @ coreg if not invert else np.linalg.inv(coreg) @ np.linalg.inv(hmc[t])
        coords = (np.linalg.inv(img.affine) @ chain @ mask_affine @ points)[:3]
        out[:, t] = ndi.map_coordinates(data[..., t], coords, order=1, mode="nearest")
    return out


def _temporal_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def test_fmriprep_derivatives_are_laid_out_and_written_like_the_real_ones(moving_bids: Path) -> None:
    deriv = moving_bids / "derivatives" / "fmriprep"
    description = json.loads((deriv / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["BIDSVersion"] == "1.4.0"
    bolds = sorted(moving_bids.glob("sub-*/ses-*/func/*_bold.nii.gz"))
    for bold in bolds:
        folder = deriv / bold.parts[-4] / bold.parts[-3] / "func"
        stem = bold.name.replace("_bold.nii.gz", "")
        for suffix in (HMC_SUFFIX, COREG_SUFFIX, "_desc-hmc_boldref.nii.gz", "_desc-coreg_boldref.nii.gz"):
            assert (folder / f"{stem}{suffix}").is_file(), f"{stem}{suffix}"
    bold = bolds[0]
    stem = bold.name.replace("_bold.nii.gz", "")
    folder = deriv / bold.parts[-4] / bold.parts[-3] / "func"
    text = (folder / f"{stem}{HMC_SUFFIX}").read_text()
    n_vol = nib.load(bold).shape[3]
    # ITK text, one AffineTransform_float_3_3 per volume (niworkflows' MCFLIRT2ITK): about 210 bytes each,
    # like the real files (200-217 bytes per volume).
    assert text.startswith("#Insight Transform File V1.0")
    assert text.count("Transform: AffineTransform_float_3_3") == n_vol
    assert 180 < len(text.encode()) / n_vol < 240
    coreg_text = (folder / f"{stem}{COREG_SUFFIX}").read_text()
    assert coreg_text.count("AffineTransform_float_3_3") == 1
    boldref = nib.load(folder / f"{stem}_desc-hmc_boldref.nii.gz")
    assert boldref.shape == nib.load(bold).shape[:3] and np.allclose(boldref.affine, nib.load(bold).affine)


def test_motion_is_rigid_within_bounds_and_differs_by_session(moving_bids: Path) -> None:
    positions = {}
    for bold in sorted(moving_bids.glob("sub-01/ses-*/func/*run-01_bold.nii.gz")):
        hmc, coreg = _load_transforms(moving_bids, bold)
        for m in (coreg, *hmc):
            rot = m[:3, :3]
            assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) and np.linalg.det(rot) == pytest.approx(1, abs=1e-4)
        angles = np.degrees(np.arccos(np.clip((np.trace(coreg[:3, :3]) - 1) / 2, -1, 1)))
        assert angles < 2.0 * np.sqrt(3) + 0.6  # up to 2 deg about each axis, plus the run's offset
        middle = hmc[len(hmc) // 2]
        assert np.allclose(middle, np.eye(4), atol=1e-4)  # the reference (boldref) is the middle volume
        assert 0.01 < np.abs(hmc[:, :3, 3]).max() < 1.5  # slow drift and jitter within the run, mm
        positions[bold.parts[-3]] = coreg
    coregs = list(positions.values())
    assert len(coregs) >= 3
    assert (
        min(np.abs(a - b).max() for i, a in enumerate(coregs) for b in coregs[i + 1 :]) > 0.1
    )  # every session its own


def test_applying_the_transforms_realigns_the_volumes_to_the_motion_free_truth(
    moving_bids: Path, tiny_bids: Path
) -> None:
    """raw voxel = inv(A_bold) HMC[t] COREG A_mask m, as fMRIPrep resamples: the motion-free BOLD comes back."""
    ijk, mask_affine = _mask_voxels(moving_bids, "sub-01")
    errors = {"realigned": [], "naive": []}
    for bold in sorted(moving_bids.glob("sub-01/ses-perceptionNaturalImage*/func/*run-01_bold.nii.gz"))[:3]:
        truth = np.asarray(nib.load(tiny_bids / bold.relative_to(moving_bids)).dataobj, dtype=np.float32)[tuple(ijk.T)]
        scale = truth.std(axis=1).mean()  # the BOLD's fluctuation over time
        realigned = _realign(moving_bids, bold, ijk, mask_affine)
        naive = np.asarray(nib.load(bold).dataobj, dtype=np.float32)[tuple(ijk.T)]  # mask voxel = raw voxel
        inverted = _realign(moving_bids, bold, ijk, mask_affine, invert=True)  # the classic mistake
        error = {k: np.abs(v - truth).mean() / scale for k, v in (("realigned", realigned), ("naive", naive))}
        assert np.median(_temporal_r(realigned, truth)) > 0.85 > np.median(_temporal_r(naive, truth)) + 0.05
        assert error["realigned"] < error["naive"] and 2 * error["realigned"] < np.abs(inverted - truth).mean() / scale
        for k, v in error.items():
            errors[k].append(v)
    # Left: interpolating twice (the simulated motion, then the realignment) smooths the white noise.
    assert np.mean(errors["realigned"]) < 1.0 < 2 * np.mean(errors["realigned"]) < np.mean(errors["naive"])


def test_first_order_motion_matches_exact_resampling() -> None:
    """The within-run motion term against exact per-volume trilinear resampling of the head images."""
    from fmri_bench.raw.simulate.anatomy import make_subject
    from fmri_bench.raw.simulate.motion import run_motion, run_transforms, session_position
    from fmri_bench.raw.simulate.writer import grid_affine

    subj = make_subject(TINY.grid, TINY.params, 0, 1)
    rng = np.random.default_rng(0)
    affine, n_vol = grid_affine(TINY), 40
    head = (subj.baseline.reshape(1, -1) * (1 + 0.02 * rng.standard_normal((n_vol, subj.baseline.size)))).astype(
        np.float32
    )
    offset, series = run_motion(TINY.motion_params, n_vol, rng)
    coreg, hmc = run_transforms(session_position(TINY.motion_params, rng), offset, series, TINY.motion_params)
    moved, _ = resample_run(head, subj.baseline, affine, coreg, hmc)
    ijk = np.indices(TINY.grid).reshape(3, -1).astype(float)
    exact = np.empty_like(moved)
    for t in range(n_vol):
        m = np.linalg.inv(affine) @ np.linalg.inv(coreg) @ np.linalg.inv(hmc[t]) @ affine
        exact[t] = ndi.map_coordinates(head[t].reshape(TINY.grid), m[:3, :3] @ ijk + m[:3, 3:], order=1, mode="nearest")
    noise = np.abs(head - subj.baseline.reshape(1, -1)).mean()
    motion = np.abs(exact - head).mean()
    assert motion > noise  # the motion changes the BOLD by more than the noise does
    assert np.abs(moved - exact).mean() < 0.2 * min(motion, noise)  # the two interpolations differ by little


def test_rigid_is_a_rotation_about_its_centre() -> None:
    centre = np.array([1.0, 40.0, -3.0])
    m = rigid(np.array([10.0, -5.0, 3.0, 0.0, 0.0, 0.0]), centre)
    assert np.allclose(m @ np.r_[centre, 1.0], np.r_[centre, 1.0])
    shift = rigid(np.array([0, 0, 0, 1.0, -2.0, 0.5]), centre)
    assert np.allclose(shift[:3, 3], [1.0, -2.0, 0.5])


def test_prepare_realigns_the_moving_runs_and_drops_voxels_that_left_the_view(
    moving_bids: Path, tmp_path: Path
) -> None:
    """Through the transforms every run lines up; voxels that motion took out of some run's view are dropped."""
    from fmri_bench.pipeline import prepare_dataset
    from fmri_bench.recipe import load_recipe

    prepare_dataset("synthetic", versions=("v1",), subjects=["sub-01"], source=moving_bids, data_home=tmp_path)
    version = tmp_path / "synthetic" / "v1"
    meta = json.loads((version / "manifest.json").read_text())["subjects"]["sub-01"]
    qc, dropped = meta["alignment"], meta["voxels_out_of_view"]["dropped"]
    assert qc["flagged"] == [] and qc["min_r"] > 0.95  # zeros outside a run's view no longer look like misalignment
    assert qc["partly_out_of_view"] and dropped > 0
    rois = load_recipe("synthetic").version("v1")["rois"]
    files = list((moving_bids / "sourcedata" / "sub-01" / "anat").glob("*_mask_*.nii.gz"))
    ijk = np.argwhere(
        np.any([np.asarray(nib.load(f).dataobj) > 0 for f in files if f.name[:-7].split("_")[-1] in rois], 0)
    )
    kept = np.load(version / "sub-01" / "voxel_ijk.npy")
    mask = np.asarray(nib.load(version / "sub-01" / "mask.nii.gz").dataobj) > 0
    assert len(kept) + dropped == len(ijk) == meta["n_voxels"] + dropped and mask.sum() == len(kept)
    assert (np.argwhere(mask) == kept).all()
    train = np.load(version / "sub-01" / "train_fmri.npy")
    assert train.shape[1] == len(kept) and (train.std(axis=0) > 0).all()
    assert sum(meta["roi_voxels"].values()) >= len(kept)  # ROIs renumbered onto the kept columns
