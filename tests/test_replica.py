"""Replicas of one real subject per dataset: real events, sidecars and run lengths, tiny synthetic BOLD.

The expected counts are computed here independently of the package, from the raw events
files and short_runs.tsv; the BOLD encodes each block's image_index in the signs of 11
voxels, so every prepared row can be decoded and checked against its label.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import replica_support as rs

from fmri_bench.data import load
from fmri_bench.pipeline import prepare_dataset as prepare
from fmri_bench.prepare import read_manifest

EXPECTED = {"ds001506": {"train": 6000, "test": 1200}, "ds001246": {"train": 1200, "test": 1750}}
DELAY = {"ds001506": 4.0, "ds001246": 3.0}


def expected_losses(reference: Path, dataset: str, subject: str) -> dict[str, dict[str, int]]:
    """Blocks whose delayed window ends after the last volume, per split, from the raw files."""
    losses: dict[str, dict[str, int]] = {"train": {}, "test": {}}
    tr = rs.TR[dataset]
    for stem, volumes in rs.short_runs(reference, dataset).items():
        if not stem.startswith(subject + "_"):
            continue
        session = stem.split("_")[1]
        split = next((s for s, p in zip(("train", "test"), rs.SPLIT_SESSIONS[dataset]) if session.startswith(p)), None)
        if split is None:
            continue
        events = pd.read_csv(
            reference / "openneuro" / dataset / subject / session / "func" / f"{stem}_events.tsv",
            sep="\t",
            dtype=str,
            keep_default_na=False,
        )
        lost, previous = 0, None
        for code, onset, duration, image in zip(
            events["event_type"], events["onset"], events["duration"], events["image_index"]
        ):
            is_stimulus = code in ("1", "stimulus")
            repeat = code == "2" or (dataset == "ds001246" and is_stimulus and image == previous)
            previous = image if is_stimulus else None
            if is_stimulus and not repeat and float(onset) + float(duration) + DELAY[dataset] > volumes * tr:
                lost += 1
        if lost:
            losses[split][stem] = lost
    return losses


def _code_columns(folder: Path) -> list[int]:
    ijk = np.load(folder / "voxel_ijk.npy")
    return [int(np.flatnonzero((ijk == np.array(c)).all(axis=1))[0]) for c in rs.CODE_VOXELS]


# ds001246 sub-01 loses no block to its short runs (3 s delay): sub-03 does, in both splits.
@pytest.mark.parametrize(
    ("dataset", "subject"), [("ds001506", "sub-01"), ("ds001246", "sub-01"), ("ds001246", "sub-03")]
)
def test_full_replica_v1_counts_and_labels(dataset: str, subject: str, reference_dir: Path, tmp_path: Path) -> None:
    bids = tmp_path / "bids"
    written = rs.write_replica(reference_dir, dataset, subject, bids, delay_s=DELAY[dataset])
    home = tmp_path / "home"
    prepare(dataset, versions=("v1",), subjects=[subject], source=bids, data_home=home, n_jobs=2)
    losses = expected_losses(reference_dir, dataset, subject)
    # the subject really has short runs that cost blocks (all but ds001246 sub-01)
    assert (sum(map(len, losses.values())) > 0) == ((dataset, subject) != ("ds001246", "sub-01"))
    data = load(dataset, "v1", subject, data_home=home, average_test=False)
    manifest = read_manifest(home / dataset / "v1")
    meta = manifest["subjects"][subject]
    columns = _code_columns(home / dataset / "v1" / subject)

    def image_index(split: str) -> np.ndarray:  # rows of the split's stimuli -> the dataset's image_index
        return data.stimuli.loc[data.stimuli["split"] == split, "image_index"].to_numpy()[data[f"y_{split}"]]

    for split in ("train", "test"):
        fmri, labels = data[f"X_{split}"], image_index(split)
        lost = sum(losses[split].values())
        assert fmri.shape[0] == labels.size == EXPECTED[dataset][split] - lost
        assert meta[split]["kept"] == labels.size and meta[split]["runs"] == len(written[split])
        assert meta[split]["dropped"]["short_run"] == lost
        assert {r["run"]: r["blocks_dropped"] for r in meta[split]["short_runs"]} == losses[split]
        # Rows and labels line up: each row's code voxels match its own label's bits (a linear
        # detrend can flip a weak bit in a run whose rare "on" blocks sit at one end)...
        decoded = rs.decode(np.asarray(fmri), columns)
        assert np.mean(decoded == labels) > 0.95, np.mean(decoded == labels)
        # ...and not the bits of the row before or after it.
        assert np.mean(decoded[1:] == labels[:-1]) < 0.01 and np.mean(decoded[:-1] == labels[1:]) < 0.01
    for split, n_images in (("train", 1200), ("test", 50)):
        labels = image_index(split)
        assert n_images - sum(losses[split].values()) <= np.unique(labels).size <= n_images
        assert labels.min() == 1 and labels.max() <= n_images
    table = pd.read_csv(home / dataset / "v1" / "stimuli.tsv", sep="\t")
    assert (table["split"] == "train").sum() == 1200 and (table["split"] == "test").sum() == 50
    assert table.loc[table["split"] == "test", "image_index"].is_monotonic_increasing
    json.dumps(manifest)  # the manifest is plain JSON


def test_replica_v2_labels_line_up(reference_dir: Path, tmp_path: Path) -> None:
    bids = tmp_path / "bids"
    rs.write_replica(reference_dir, "ds001506", "sub-01", bids, delay_s=4.0, max_runs_per_split=8)
    home = tmp_path / "home"
    prepare("ds001506", versions=("v2",), subjects=["sub-01"], source=bids, data_home=home)
    data = load("ds001506", "v2", "sub-01", data_home=home, average_test=False)
    columns = _code_columns(home / "ds001506" / "v2" / "sub-01")
    fmri = np.asarray(data.X_train)
    labels = data.stimuli.loc[data.stimuli["split"] == "train", "image_index"].to_numpy()[data.y_train]
    # 8 training runs, one of them short (Training01 run-08 loses 2 blocks)
    assert fmri.shape[0] == 8 * 50 - 2
    bits = np.array([rs.code_signal(int(i)) for i in labels])

    def mean_corr(b: np.ndarray) -> float:
        return float(np.mean([np.corrcoef(fmri[:, c], b[:, k])[0, 1] for k, c in enumerate(columns)]))

    assert mean_corr(bits) > 0.2  # the betas follow the image code of their own label...
    shuffled = bits[np.random.default_rng(0).permutation(len(bits))]
    assert abs(mean_corr(shuffled)) < 0.1  # ...and not another row's
