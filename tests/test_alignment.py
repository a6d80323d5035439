"""The alignment path against independent routes: nitransforms' own reader and resampler, and the
transforms as fMRIPrep 23.2's nitransforms writer stores them; and its failures, in one line."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import nitransforms as nt
import numpy as np
import pytest
import replica_support as rs
from nitransforms.io.itk import ITKLinearTransformArray

from fmri_bench.cli import main
from fmri_bench.errors import DataError
from fmri_bench.pipeline import prepare_dataset as prepare
from fmri_bench.prepare.align import read_itk_affines, resample_run, voxel_maps

SHAPE = (11, 12, 9)
N_VOL = 5


@pytest.fixture(scope="module")
def moved_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small float run on an oblique grid, per-volume motion and a session offset, written as fMRIPrep does."""
    root = tmp_path_factory.mktemp("moved")
    rng = np.random.default_rng(0)
    bold_affine = rs.rigid(np.array([8.0, -3.0, 5.0]), np.array([-10.0, -14.0, -6.0]), np.zeros(3)) @ np.diag(
        [2.0, 2.0, 2.2, 1]
    )
    grid = np.indices(SHAPE).reshape(3, -1).T @ np.array([0.5, 0.3, 0.7])
    data = np.stack([np.sin(grid + t) * 100 + 1000 + rng.normal(0, 5, grid.size) for t in range(N_VOL)], axis=-1)
    data = data.reshape(*SHAPE, N_VOL).astype(np.float32)
    nib.save(nib.Nifti1Image(data, bold_affine), root / "bold.nii.gz")
    centre = nib.affines.apply_affine(bold_affine, (np.asarray(SHAPE) - 1) / 2)
    hmc = rs.motion_series(N_VOL, rng, 1.5, 1.5, centre)
    coreg = rs.rigid(np.array([2.0, -3.0, 1.5]), np.array([1.5, -2.0, 2.5]), centre)
    ITKLinearTransformArray.from_ras(hmc).to_filename(root / "hmc.txt")  # niworkflows MCFLIRT2ITK's call
    nt.linear.Affine(coreg).to_filename(root / "coreg.txt", fmt="itk")  # niworkflows ConcatenateXFMs' call
    mask_affine = np.diag([-2.0, 2.0, 2.0, 1.0])
    mask_affine[:3, 3] = centre + np.array([5.3, -5.1, -3.9])
    mask = np.zeros((9, 10, 8), dtype=bool)
    mask[2:7, 3:8, 2:6] = True
    return {
        "root": root,
        "data": data,
        "bold_affine": bold_affine,
        "hmc": hmc,
        "coreg": coreg,
        "mask_img": nib.Nifti1Image(mask.astype(np.uint8), mask_affine),
        "ijk": np.argwhere(mask),
    }


def test_itk_reader_matches_nitransforms_on_fmriprep_files(moved_run: dict) -> None:
    root = moved_run["root"]
    hmc = read_itk_affines(root / "hmc.txt")
    assert hmc.shape == (N_VOL, 4, 4)
    assert np.allclose(hmc, nt.linear.load(root / "hmc.txt", fmt="itk").matrix, atol=1e-5)
    assert np.allclose(hmc, moved_run["hmc"], atol=1e-4)  # %g keeps 6 significant digits
    coreg = read_itk_affines(root / "coreg.txt")
    assert coreg.shape == (1, 4, 4) and np.allclose(
        coreg[0], nt.linear.load(root / "coreg.txt", fmt="itk").matrix, atol=1e-5
    )
    # the replicas' hand-written files (LPS by hand, centre 0) read the same through nitransforms
    (root / "hand.txt").write_text(rs.itk_text(moved_run["hmc"]))
    assert np.allclose(nt.linear.load(root / "hand.txt", fmt="itk").matrix, moved_run["hmc"], atol=1e-4)
    # a non-zero centre of rotation is folded in as ITK defines it: y = A (x - c) + t + c (in LPS)
    text = "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n"
    text += "Parameters: 0 -1 0 1 0 0 0 0 1 1 2 3\nFixedParameters: 10 -4 2\n"
    (root / "centred.txt").write_text(text)
    assert np.allclose(
        read_itk_affines(root / "centred.txt")[0], nt.linear.load(root / "centred.txt", fmt="itk").matrix
    )


@pytest.mark.filterwarnings("ignore:Reference space not set")
@pytest.mark.parametrize("order", [1, 3])
def test_resampling_matches_nitransforms_apply(moved_run: dict, order: int) -> None:
    """One interpolation through HMC[t] o COREG, as fMRIPrep composes it, equals nitransforms' own
    resampler of each volume onto the mask grid (order 3: fMRIPrep's cubic B-spline; ours prefilters
    a cropped box only)."""
    maps = voxel_maps(
        read_itk_affines(moved_run["root"] / "hmc.txt"),
        read_itk_affines(moved_run["root"] / "coreg.txt")[0],
        moved_run["bold_affine"],
        moved_run["mask_img"].affine,
    )
    got, inside = resample_run(moved_run["root"] / "bold.nii.gz", maps, moved_run["ijk"], order)
    assert got.shape == (N_VOL, len(moved_run["ijk"])) and got.dtype == np.float32 and inside.all()
    i, j, k = moved_run["ijk"].T
    for t in range(N_VOL):
        volume = nib.Nifti1Image(moved_run["data"][..., t], moved_run["bold_affine"])
        chain = nt.linear.Affine(moved_run["hmc"][t]) @ nt.linear.Affine(moved_run["coreg"])
        expected = nt.resampling.apply(chain, volume, reference=moved_run["mask_img"], order=order, prefilter=order > 1)
        expected = np.asanyarray(expected.dataobj)[i, j, k]
        assert np.allclose(got[t], expected, rtol=1e-4, atol=0.05), np.abs(got[t] - expected).max()
    # without the transforms the same voxels read other tissue
    plain = voxel_maps(np.stack([np.eye(4)] * N_VOL), np.eye(4), moved_run["bold_affine"], moved_run["mask_img"].affine)
    off, _ = resample_run(moved_run["root"] / "bold.nii.gz", plain, moved_run["ijk"], order)
    assert np.abs(off - got).mean() > 20  # the data vary by +-100 over a few voxels; the routes agree to 0.05


def test_bad_transforms_and_bold_fail_in_one_line(moved_run: dict, tmp_path: Path) -> None:
    root = moved_run["root"]
    hmc = read_itk_affines(root / "hmc.txt")
    maps = voxel_maps(hmc[:3], np.eye(4), moved_run["bold_affine"], moved_run["mask_img"].affine)
    with pytest.raises(DataError, match=r"bold.nii.gz: 5 volumes, but 3 motion transforms"):
        resample_run(root / "bold.nii.gz", maps, moved_run["ijk"])
    (tmp_path / "x.txt").write_text("not a transform\n")
    with pytest.raises(DataError, match=r"x.txt: not an ITK transform file"):
        read_itk_affines(tmp_path / "x.txt")
    (tmp_path / "y.txt").write_text((root / "coreg.txt").read_text().replace("AffineTransform", "BSplineTransform"))
    with pytest.raises(DataError, match=r"y.txt: transform 0 is BSplineTransform_.*; expected an affine"):
        read_itk_affines(tmp_path / "y.txt")
    maps = voxel_maps(hmc, np.eye(4), moved_run["bold_affine"], moved_run["mask_img"].affine)
    data = moved_run["data"].copy()
    data[0, 0, 0, 3] = np.nan  # outside the ROI: still refused, naming the file and the volume
    nib.save(nib.Nifti1Image(data, moved_run["bold_affine"]), tmp_path / "nan_bold.nii.gz")
    with pytest.raises(DataError, match=r"nan_bold.nii.gz: volume 3 holds NaN or inf values"):
        resample_run(tmp_path / "nan_bold.nii.gz", maps, moved_run["ijk"])
    raw = gzip.decompress((root / "bold.nii.gz").read_bytes())
    (tmp_path / "cut_bold.nii.gz").write_bytes(gzip.compress(raw)[:-500])
    with pytest.raises(DataError, match=r"cut_bold.nii.gz: cannot read NIfTI, .*(truncated|corrupt)"):
        resample_run(tmp_path / "cut_bold.nii.gz", maps, moved_run["ijk"])


@pytest.fixture(scope="module")
def small_replica(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("small") / "bids"
    rs.write_replica(
        reference_dir, "ds001246", "sub-01", root, splits=["train", "test"], runs_per_session={"train": 1, "test": 1}
    )
    return root


def test_missing_derivatives_are_named_before_any_work(small_replica: Path, tmp_path: Path) -> None:
    bids = tmp_path / "bids"
    shutil.copytree(small_replica, bids)
    home = tmp_path / "home"
    hmc = next((bids / "derivatives" / "fmriprep").rglob("*_desc-hmc_xfm.txt"))
    hmc.unlink()
    with pytest.raises(
        DataError, match=rf"{hmc}: fMRIPrep transform missing for .*give their folder with --fmriprep"
    ) as info:
        prepare("ds001246", versions=("v1",), subjects=["sub-01"], source=bids, data_home=home)
    assert "\n" not in str(info.value) and not (home / "ds001246" / "v1").exists()
    shutil.rmtree(bids / "derivatives")
    with pytest.raises(DataError, match=r"derivatives/fmriprep: no fMRIPrep derivatives folder"):
        prepare("ds001246", versions=("v1",), subjects=["sub-01"], source=bids, data_home=home)


def test_fmriprep_option_points_at_derivatives_elsewhere(small_replica: Path, tmp_path: Path, capsys) -> None:
    bids = tmp_path / "bids"
    shutil.copytree(small_replica, bids, ignore=shutil.ignore_patterns("derivatives"))
    shutil.copytree(small_replica / "derivatives" / "fmriprep", tmp_path / "fmriprep")
    home = tmp_path / "home"
    args = [
        "prepare",
        "ds001246",
        "--version",
        "v2",
        "--subject",
        "sub-01",
        "--source",
        str(bids),
        "--data-home",
        str(home),
    ]
    assert main([*args, "--fmriprep", str(tmp_path / "fmriprep")]) == 0
    err = capsys.readouterr().err
    assert "reliability (test): NCSNR median" in err and "alignment QC" in err  # the figures are shown
    from fmri_bench.prepare import read_manifest

    manifest = read_manifest(home / "ds001246" / "v2")
    assert manifest["release"]["fmriprep"]["folder"] == str(tmp_path / "fmriprep")
    assert any(r["path"].endswith("_desc-hmc_xfm.txt") for r in manifest["inputs"])
    hmc = next((tmp_path / "fmriprep").rglob("*_desc-hmc_xfm.txt"))
    lines = hmc.read_text().split("#Transform ")
    hmc.write_text("#Transform ".join(lines[:-1]).rstrip() + "\n")  # one volume's transform lost
    assert main([*args[:3], "v1", *args[4:], "--fmriprep", str(tmp_path / "fmriprep")]) == 1
    assert f"{hmc}: {len(lines) - 2} head-motion transforms for the {len(lines) - 1} volumes" in capsys.readouterr().err
