"""The data API: fetch/load give a Bunch whose labels are rows of its images; one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fmri_bench
from fmri_bench.data import average_by_label, load, load_images, prepared_subjects, stimulus_table
from fmri_bench.errors import DataError, FmriBenchError


def test_load_is_a_bunch_of_memory_mapped_plain_numpy(tiny_home: Path) -> None:
    data = load("synthetic", "v1", "sub-01", data_home=tiny_home, average_test=False)
    assert isinstance(data.X_train, np.memmap) and data.X_train.dtype == np.float32
    folder = tiny_home / "synthetic" / "v1" / "sub-01"
    plain = np.load(folder / "train_fmri.npy", allow_pickle=False)  # no package needed
    assert np.array_equal(plain, data.X_train)
    # y are 0-based rows of the images; on disk the labels stay the dataset's image_index
    stored = np.load(folder / "train_labels.npy")
    table = data.stimuli[data.stimuli["split"] == "train"]
    assert np.array_equal(table["image_index"].to_numpy()[data.y_train], stored)
    assert data.y_train.min() == 0 and data.y_train.max() == len(data.images_train) - 1
    assert data.mask.shape[:3] and len(data.voxel_ijk) == data.X_train.shape[1]
    assert data.manifest["version"] == "v1" and "v1" in data.DESCR


def test_repr_shows_shapes_only(tiny_home: Path) -> None:
    text = repr(load("synthetic", "v1", "sub-01", data_home=tiny_home))
    assert "X_train=float32[" in text and "images_test=uint8[" in text
    assert len(text) < 600 and "[[" not in text and "0." not in text


def test_images_indexed_by_labels_are_each_samples_stimulus(tiny_home: Path) -> None:
    """A decoder trained on images_train[y_train] identifies test images far above chance:
    it would fail if rows and images were misaligned (an off-by-one gives chance)."""
    from sklearn.linear_model import RidgeCV

    from fmri_bench.stats import correlation_matrix

    b = load("synthetic", "v1", "sub-01", data_home=tiny_home)
    small = lambda imgs: np.asarray(imgs, float).reshape(len(imgs), 8, -1, 8, imgs.shape[2] // 8, 3).mean((2, 4))  # noqa: E731
    target = small(b.images_train[b.y_train]).reshape(len(b.y_train), -1)
    model = RidgeCV(alphas=np.logspace(0, 5, 11)).fit(b.X_train, target)
    r = correlation_matrix(model.predict(b.X_test), small(b.images_test[b.y_test]).reshape(len(b.y_test), -1))
    accuracy = np.mean([(r[i, i] > np.delete(r[i], i)).mean() for i in range(len(r))])
    shifted = np.roll(np.arange(len(r)), 1)  # the same decoder scored against misaligned images
    misaligned = np.mean([(r[i, shifted[i]] > np.delete(r[i], shifted[i])).mean() for i in range(len(r))])
    assert accuracy > 0.75 and misaligned < 0.65, (accuracy, misaligned)


def test_average_test_is_the_mean_per_image(tiny_home: Path) -> None:
    raw = load("synthetic", "v2", "sub-02", data_home=tiny_home, average_test=False)
    avg = load("synthetic", "v2", "sub-02", data_home=tiny_home)
    assert avg.y_test.tolist() == list(range(len(avg.images_test)))
    assert np.allclose(avg.X_test[0], np.asarray(raw.X_test)[raw.y_test == 0].mean(axis=0), atol=1e-5)
    means, labels = average_by_label(np.array([[1.0], [3.0], [5.0]], np.float32), np.array([2, 2, 1]))
    assert labels.tolist() == [1, 2] and means[:, 0].tolist() == [5.0, 2.0]


def test_missing_preparation_says_what_to_run(tmp_path: Path, tiny_home: Path) -> None:
    with pytest.raises(DataError, match=r"run `fmri-bench prepare ds001506 --version v2` first"):
        load("ds001506", "v2", "sub-01", data_home=tmp_path)
    with pytest.raises(DataError, match="sub-07 is not prepared.*sub-01, sub-02"):
        load("synthetic", "v1", "sub-07", data_home=tiny_home)
    with pytest.raises(DataError, match="synthetic v1 has no split .val.; its splits: artificial, letter, test, train"):
        load_images("synthetic", "v1", "val", data_home=tiny_home)
    for bad in ("../synthetic", "", "a/b"):
        with pytest.raises(FmriBenchError, match="not allowed"):
            load(bad, "v1", data_home=tiny_home)
    assert prepared_subjects("synthetic", "v2", data_home=tiny_home) == ["sub-01", "sub-02"]


def test_stimuli_table_matches_images(tiny_home: Path) -> None:
    table = stimulus_table("synthetic", "v1", data_home=tiny_home)
    assert list(table.columns) == ["split", "image_index", "stimulus_id", "stimulus_name", "sha256"]
    for split in ("train", "test"):
        assert (table["split"] == split).sum() == load_images("synthetic", "v1", split, data_home=tiny_home).shape[0]
    assert table["sha256"].str.len().eq(64).all()


def test_top_level_names_are_listed_and_fetch_prepares_on_first_use(tmp_path: Path) -> None:
    for name in ("fetch", "load", "evaluate", "run_baseline", "score_submission", "verify"):
        assert name in dir(fmri_bench) and callable(getattr(fmri_bench, name))
    # A fresh data home, a fresh process: fetch simulates, prepares and prints shapes only.
    code = (
        "import dataclasses, fmri_bench.raw.simulate.config as c; "
        "c.SIZES['default'] = dataclasses.replace(c.SIZES['tiny'], name='default'); "  # keep the test fast
        "import fmri_bench as fb; b = fb.fetch('synthetic', 'v1', subject='sub-01'); print(b)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={"FMRI_BENCH_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "FMRI_BENCH_NO_PROGRESS": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PreparedData(") and "X_train=float32[" in result.stdout
    assert result.stderr == ""  # verbose=0 prints nothing
    assert (tmp_path / "home" / "synthetic" / "v1" / "manifest.json").is_file()
