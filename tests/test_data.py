"""The load API: memory-mapped arrays, test averaging, plain np.load, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fmri_bench.data import average_by_label, load, load_images, load_stimuli, prepared_subjects
from fmri_bench.errors import DataError


def test_load_is_memory_mapped_and_plain_numpy(tiny_home: Path) -> None:
    data = load("synthetic", "v1", "sub-01", data_home=tiny_home, average_test=False)
    assert isinstance(data.train_fmri, np.memmap) and data.n_voxels == data.train_fmri.shape[1]
    folder = tiny_home / "synthetic" / "v1" / "sub-01"
    plain = np.load(folder / "train_fmri.npy", allow_pickle=False)  # no package needed
    assert np.array_equal(plain, data.train_fmri)
    assert np.issubdtype(np.load(folder / "train_labels.npy").dtype, np.integer)


def test_average_test_is_the_mean_per_image(tiny_home: Path) -> None:
    raw = load("synthetic", "v2", "sub-02", data_home=tiny_home, average_test=False)
    avg = load("synthetic", "v2", "sub-02", data_home=tiny_home)
    first = avg.test_labels[0]
    assert np.allclose(avg.test_fmri[0], np.asarray(raw.test_fmri)[raw.test_labels == first].mean(axis=0), atol=1e-5)
    assert np.all(np.diff(avg.test_labels) > 0)
    means, labels = average_by_label(np.array([[1.0], [3.0], [5.0]], np.float32), np.array([2, 2, 1]))
    assert labels.tolist() == [1, 2] and means[:, 0].tolist() == [5.0, 2.0]


def test_missing_preparation_says_what_to_run(tmp_path: Path, tiny_home: Path) -> None:
    with pytest.raises(DataError, match=r"run `fmri-bench prepare ds001506 --version v2` first"):
        load("ds001506", "v2", "sub-01", data_home=tmp_path)
    with pytest.raises(DataError, match="sub-07 is not prepared.*sub-01, sub-02"):
        load("synthetic", "v1", "sub-07", data_home=tiny_home)
    with pytest.raises(DataError, match="unknown split"):
        load_images("synthetic", "v1", "val", data_home=tiny_home)
    assert prepared_subjects("synthetic", "v2", data_home=tiny_home) == ["sub-01", "sub-02"]


def test_stimuli_table_matches_images(tiny_home: Path) -> None:
    table = load_stimuli("synthetic", "v1", data_home=tiny_home)
    assert list(table.columns) == ["split", "image_index", "stimulus_id", "stimulus_name", "sha256"]
    for split in ("train", "test"):
        assert (table["split"] == split).sum() == load_images("synthetic", "v1", split, data_home=tiny_home).shape[0]
    assert table["sha256"].str.len().eq(64).all()
