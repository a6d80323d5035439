"""Per-run computations against hand-made signals: the read, the block average, the single-trial GLM."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from fmri_bench.prepare.extract import block_average, kept_blocks, read_masked, single_trial_glm
from fmri_bench.recipe import load_recipe

TR = 2.0


def _events(n_blocks: int, onset0: float = 32.0, block: float = 8.0) -> pd.DataFrame:
    rows = [{"onset": 0.0, "duration": onset0, "role": "rest", "image_index": -1}]
    for b in range(n_blocks):
        rows.append({"onset": onset0 + b * block, "duration": block, "role": "sample", "image_index": b + 1})
    frame = pd.DataFrame(rows)
    frame["stimulus_name"] = ""
    frame["stimulus_id"] = ""
    return frame


def test_read_masked_matches_nibabel_with_scaling(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(-300, 3000, size=(5, 4, 3, 7)).astype(np.int16)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(0.5, 10.0)
    path = tmp_path / "bold.nii.gz"
    nib.save(img, path)
    expected = np.asarray(nib.load(path).dataobj, dtype=np.float64)  # nibabel applies slope and inter
    ijk = np.array([[0, 0, 0], [4, 3, 2], [2, 1, 0]])
    flat = np.ravel_multi_index(ijk.T, (5, 4, 3), order="F")
    got = read_masked(path, flat)
    assert got.dtype == np.float32 and got.shape == (7, 3)
    assert np.allclose(got, expected[ijk[:, 0], ijk[:, 1], ijk[:, 2]].T)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "bold.nii")  # uncompressed path
    assert np.allclose(read_masked(tmp_path / "bold.nii", flat), data[ijk[:, 0], ijk[:, 1], ijk[:, 2]].T)


def test_block_average_is_the_mean_of_the_delayed_volumes() -> None:
    params = dict(load_recipe("ds001506").version("v1"), detrend=False, standardize=False)
    events = _events(3)
    n_vol = 40
    data = np.arange(n_vol, dtype=np.float32)[:, None] * np.array([[1.0, -2.0]], dtype=np.float32)
    out = block_average(data, events, TR, params)
    # block 1: 32-40 s shifted by 4 s -> volumes at 36, 38, 40, 42 s = 18..21
    assert np.allclose(out.fmri[0], [np.mean([18, 19, 20, 21]), -2 * np.mean([18, 19, 20, 21])])
    assert np.allclose(out.fmri[2], [np.mean([26, 27, 28, 29]), -2 * np.mean([26, 27, 28, 29])])
    assert out.labels.tolist() == [1, 2, 3]
    # a run that stops at volume 28 cannot hold block 3 (needs 26..29): dropped and counted
    short = block_average(data[:29], events, TR, params)
    assert short.labels.tolist() == [1, 2] and short.dropped["short_run"] == 1


def test_single_trial_glm_recovers_block_amplitudes() -> None:
    from nilearn.glm.first_level import make_first_level_design_matrix

    params = dict(load_recipe("ds001506").version("v2"), zscore_betas=False, trial_model="lsa", drift_model="cosine")
    events = _events(10)
    n_vol = 90
    stim = events[events["role"] == "sample"]
    design = make_first_level_design_matrix(
        np.arange(n_vol) * TR,
        pd.DataFrame(
            {
                "onset": stim["onset"],
                "duration": stim["duration"],
                "trial_type": [f"block{k:03d}" for k in range(len(stim))],
            }
        ),
        hrf_model="spm",
        drift_model="cosine",
        high_pass=params["high_pass_hz"],
    )
    rng = np.random.default_rng(1)
    amplitudes = rng.normal(0, 1, size=(10, 4))
    regressors = design[[f"block{k:03d}" for k in range(10)]].to_numpy()
    baseline = 1000.0
    data = (baseline * (1 + regressors @ amplitudes / 100)).astype(np.float32)
    out = single_trial_glm(data, events, TR, params)
    assert out.labels.tolist() == list(range(1, 11))
    # percent signal change of a noise-free signal: the betas are the amplitudes
    assert np.allclose(out.fmri, amplitudes, atol=1e-2)
    zscored = single_trial_glm(data, events, TR, dict(params, zscore_betas=True))
    assert np.allclose(zscored.fmri.mean(axis=0), 0, atol=1e-5) and np.allclose(zscored.fmri.std(axis=0, ddof=1), 1)
    ar1 = single_trial_glm(data, events, TR, dict(params, noise_model="ar1"))
    assert np.allclose(ar1.fmri, amplitudes, atol=5e-2)


def test_least_squares_separate_is_one_fit_per_block() -> None:
    """LSS by the Frisch-Waugh-Lovell product equals, for every block, the first coefficient of an
    explicit least-squares fit on [the block, the sum of every other block, the drift]."""
    from fmri_bench.prepare.extract import _design, least_squares_separate

    events = _events(12)
    timing = tuple(zip(events["onset"][1:], events["duration"][1:]))
    regressors, others = _design(timing, 70, TR, "spm", ("polynomial", 1, 0.01))
    assert regressors.shape == (70, 12) and others.shape == (70, 2)  # linear drift + constant
    data = np.random.default_rng(3).normal(size=(70, 5))
    targets = [0, 4, 11]
    got = least_squares_separate(regressors, others, data, targets)
    for row, col in enumerate(targets):
        design = np.column_stack([regressors[:, col], regressors.sum(axis=1) - regressors[:, col], others])
        expected = np.linalg.lstsq(design, data, rcond=None)[0][0]
        assert np.allclose(got[row], expected, atol=1e-10)
    # a cut block with nothing left in the run has no signal: beta 0, not a division by zero
    flat = np.zeros_like(regressors)
    assert np.all(least_squares_separate(flat, others, data, [0]) == 0)


def test_kept_blocks_counts_repeats() -> None:
    events = _events(4)
    events.loc[2, "role"] = "repeat"
    kept, dropped = kept_blocks(events, 100, TR, 4.0)
    assert kept["image_index"].tolist() == [1, 3, 4] and dropped == {"one_back_repeat": 1, "short_run": 0}


def test_gzip_members_and_truncation(tmp_path: Path) -> None:
    import gzip

    import pytest

    from fmri_bench.errors import DataError

    data = np.random.default_rng(2).integers(0, 1000, size=(6, 5, 4, 9)).astype(">i2")  # big-endian on disk
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "plain.nii")
    raw = (tmp_path / "plain.nii").read_bytes()
    flat = np.arange(6 * 5 * 4)
    expected = data.reshape(-1, 9, order="F").T.astype(np.float32)
    two = tmp_path / "two_members_bold.nii.gz"  # e.g. written by a parallel compressor
    two.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    assert np.array_equal(read_masked(two, flat), expected)
    cut = tmp_path / "cut_bold.nii.gz"
    cut.write_bytes(gzip.compress(raw)[:-600])
    with pytest.raises(DataError, match="cut_bold.nii.gz: .*(truncated|corrupt)"):
        read_masked(cut, flat)


def test_drop_out_of_view_keeps_columns_rois_and_mask_in_step() -> None:
    """Dropping columns renumbers each ROI onto the kept columns, which still point at the same voxels."""
    from fmri_bench.prepare.core import drop_out_of_view
    from fmri_bench.prepare.tasks import Mask

    grid = np.zeros((3, 3, 1), dtype=bool)
    grid[[0, 0, 1, 2, 2], [0, 2, 1, 0, 2], 0] = True
    ijk = np.argwhere(grid)
    rois = {"A": np.array([0, 1, 2]), "B": np.array([2, 3, 4])}
    mask = Mask(grid, np.eye(4), ijk, [], rois)
    fmri = np.arange(10, dtype=np.float32).reshape(2, 5)
    keep = np.array([True, False, True, True, False])
    arrays, reduced, n = drop_out_of_view({"train_fmri": fmri, "train_labels": np.arange(2)}, mask, keep)
    assert n == 2 and arrays["train_fmri"].tolist() == fmri[:, keep].tolist()
    assert (np.argwhere(reduced.mask) == reduced.ijk).all() and reduced.ijk.tolist() == ijk[keep].tolist()
    for roi, cols in rois.items():  # the same voxels, by their new column numbers
        assert reduced.ijk[reduced.roi_columns[roi]].tolist() == ijk[cols[keep[cols]]].tolist()
    assert drop_out_of_view({"train_fmri": fmri}, mask, np.ones(5, bool))[2] == 0
