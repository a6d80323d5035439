"""Every real subject, every version: replicas with real events, sidecars and run lengths (short runs
included), a known per-image pattern, head motion and session offsets with fMRIPrep-layout
transforms (see replica_support).

The expected counts and label sequences are computed here from the raw events files and the
real run lengths, independently of the package. Each subject's replica keeps every session of
every split but only its first run(s) per session, plus every short run of the subject: the
counts stay exact while the suite stays fast (runs per session: train 1, test 1, artificial 2,
letter 3). The papers' totals are checked on every run of every subject, at their real
lengths, without writing BOLD.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import replica_support as rs

from fmri_bench.data import load
from fmri_bench.pipeline import prepare_dataset as prepare
from fmri_bench.prepare import read_manifest
from fmri_bench.recipe import load_recipe, validate

DELAY = {"ds001506": 4.0, "ds001246": 3.0}
RUNS = {"train": 1, "test": 1, "artificial": 2, "letter": 3}
# Split-half identification (the bar: 0.97 on train, 0.9 on the test splits). Single trials
# against the true patterns: 0.9 (ds001246's training images are shown once, so this is its only
# check there; v1 reaches 0.95-0.97 on ds001246, whose back-to-back 9 s blocks leak into the
# 3 s-shifted window, v2 0.999).
MIN_SPLIT_HALF = {"train": 0.97, "test": 0.9, "artificial": 0.9, "letter": 0.9}
MIN_SINGLE_TRIAL = 0.9
NOISE = 0.008  # thermal noise sd, a fraction of the baseline (the pattern: 2%); single-trial r with the truth ~0.8
CASES = [(d, s) for d in ("ds001506", "ds001246") for s in rs.SUBJECTS[d]]
_CACHE: dict[tuple[str, str], tuple[rs.Replica, Path]] = {}


def expected_samples(reference: Path, replica: rs.Replica, split: str) -> tuple[list[int], int]:
    """The image_index of every sample the split should hold, in run order, and the blocks lost to short runs."""
    labels, lost = [], 0
    tr = rs.TR[replica.dataset]
    for stem in replica.runs[split]:
        subject, session = stem.split("_")[:2]
        events = pd.read_csv(
            reference / "openneuro" / replica.dataset / subject / session / "func" / f"{stem}_events.tsv",
            sep="\t",
            dtype=str,
            keep_default_na=False,
        )
        previous = None
        for code, onset, duration, image in zip(
            events["event_type"], events["onset"], events["duration"], events["image_index"]
        ):
            shown = code in ("1", "stimulus")
            repeat = code == "2" or (replica.dataset == "ds001246" and shown and image == previous)
            previous = image if shown else None
            if not shown or repeat:
                continue
            if float(onset) + float(duration) + DELAY[replica.dataset] > replica.run_volumes[stem] * tr:
                lost += 1
            else:
                labels.append(int(image))
    return labels, lost


def pairwise_identification(samples: np.ndarray, labels: np.ndarray, truth: dict[int, np.ndarray]) -> float:
    """Each sample against the true patterns: the share of other images whose pattern it correlates with less."""
    images = sorted(truth)
    patterns = np.stack([truth[i] for i in images])
    r = np.corrcoef(np.asarray(samples, dtype=np.float64), patterns)[: len(samples), len(samples) :]
    own = r[np.arange(len(samples)), np.searchsorted(images, labels)]
    return float(((own[:, None] > r).sum(axis=1) / (len(images) - 1)).mean())


def split_half(samples: np.ndarray, labels: np.ndarray) -> float:
    """Alternate repetitions of each image averaged into two halves; pairwise identification across halves."""
    images = [i for i in np.unique(labels) if (labels == i).sum() >= 2]
    halves = [
        np.stack([samples[labels == i][part].mean(axis=0) for i in images])
        for part in (slice(0, None, 2), slice(1, None, 2))
    ]
    r = np.corrcoef(*halves)[: len(images), len(images) :]
    own = np.diag(r)
    return float(((own[:, None] > r).sum() + (own[None, :] > r).sum()) / (2 * len(images) * (len(images) - 1)))


def _prepared(
    reference: Path, tmp_factory: pytest.TempPathFactory, dataset: str, subject: str
) -> tuple[rs.Replica, Path]:
    if (dataset, subject) not in _CACHE:
        root = tmp_factory.mktemp(f"{dataset}-{subject}")
        replica = rs.write_replica(reference, dataset, subject, root / "bids", runs_per_session=RUNS, noise=NOISE)
        prepare(dataset, versions="all", subjects=[subject], source=root / "bids", data_home=root / "home")
        _CACHE[(dataset, subject)] = (replica, root / "home")
    return _CACHE[(dataset, subject)]


@pytest.mark.parametrize(("dataset", "subject"), CASES)
def test_every_version_keeps_counts_labels_and_signal(
    dataset: str, subject: str, reference_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    replica, home = _prepared(reference_dir, tmp_path_factory, dataset, subject)
    assert set(replica.runs) == set(load_recipe(dataset).split_names)
    for version in load_recipe(dataset).versions:
        manifest = read_manifest(home / dataset / version)
        meta = manifest["subjects"][subject]
        assert manifest["space"] == "T1w" and manifest["interpolation"] == "linear" and not manifest["warnings"]
        assert meta["alignment"]["flagged"] == [] and meta["alignment"]["min_r"] > 0.95
        data = load(dataset, version, subject, data_home=home, average_test=False)
        ijk = np.load(home / dataset / version / subject / "voxel_ijk.npy")
        for split in replica.runs:
            expected, lost = expected_samples(reference_dir, replica, split)
            table = data.stimuli[data.stimuli["split"] == split]
            labels = table["image_index"].to_numpy()[data[f"y_{split}"]]
            samples = np.asarray(data[f"X_{split}"])
            # counts, the short-run losses and the label of every row, in run order
            assert labels.tolist() == expected, (split, len(labels), len(expected))
            assert meta[split]["kept"] == len(expected) and meta[split]["dropped"]["short_run"] == lost
            assert meta[split]["runs"] == len(replica.runs[split])
            # the rows carry their own image's pattern
            shown = np.unique(labels)
            truth = dict(zip(shown, replica.patterns(split, shown, ijk)))
            assert pairwise_identification(samples, labels, truth) >= MIN_SINGLE_TRIAL, (version, split)
            if any((labels == i).sum() >= 2 for i in shown):  # every split but ds001246's train
                score = split_half(samples, labels)
                assert score >= MIN_SPLIT_HALF[split], (version, split, score)
                recorded = meta["reliability"][split]["all"]["split_half_identification"]
                assert recorded == pytest.approx(score, abs=1e-3)  # the manifest says the same


def test_without_the_transforms_the_same_replica_loses_the_signal(
    reference_dir: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The same motion replica read voxel for voxel (space native): the training patterns are at chance,
    the alignment QC flags the runs, and the manifest warns."""
    replica, home = _prepared(reference_dir, tmp_path_factory, "ds001506", "sub-01")
    data = copy.deepcopy(load_recipe("ds001506").data)
    for params in data["versions"].values():
        params["space"] = "native"
    prepare(validate(data, "native"), versions="all", subjects=["sub-01"], source=replica.root, data_home=tmp_path)
    for version in ("v1", "v2"):
        aligned = read_manifest(home / "ds001506" / version)["subjects"]["sub-01"]
        native = read_manifest(tmp_path / "ds001506" / version)
        meta = native["subjects"]["sub-01"]
        assert native["warnings"] and "without head-motion correction" in native["warnings"][0]
        assert aligned["reliability"]["train"]["all"]["split_half_identification"] >= 0.97
        assert meta["reliability"]["train"]["all"]["split_half_identification"] < 0.6
        assert (
            meta["reliability"]["train"]["all"]["ncsnr_median"]
            < 0.2 * aligned["reliability"]["train"]["all"]["ncsnr_median"]
        )
        assert meta["alignment"]["median_r"] < 0.8 and len(meta["alignment"]["flagged"]) > meta["train"]["runs"] // 2
        data = load("ds001506", version, "sub-01", data_home=tmp_path, average_test=False)
        labels = data.stimuli.loc[data.stimuli["split"] == "train", "image_index"].to_numpy()[data.y_train]
        assert split_half(np.asarray(data.X_train), labels) < 0.6
    json.dumps(native)


@pytest.mark.parametrize(("dataset", "subject"), CASES)
def test_every_run_of_every_subject_counts_the_papers_blocks(dataset: str, subject: str, reference_dir: Path) -> None:
    """All perception runs at their real lengths (no BOLD needed): the package's block selection keeps
    exactly the samples counted here from the raw files, and kept + lost to short runs gives the
    papers' totals (ds001506: 1200 x 5, 50 x 24, 40 x 20, 10 x 12; ds001246: 1200 x 1, and 50 x 35
    test blocks for sub-01)."""
    from fmri_bench.prepare.extract import kept_blocks
    from fmri_bench.raw.bids import discover_runs, read_events

    recipe = load_recipe(dataset)
    root = reference_dir / "openneuro" / dataset
    runs = discover_runs(root, recipe, subject)
    lengths = rs.run_lengths(reference_dir, dataset)
    replica = rs.Replica(
        root, dataset, subject, np.eye(4), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)), np.zeros(0), 0
    )
    replica.runs = {s: [r.name for r in runs if r.split == s] for s in recipe.split_names}
    replica.run_volumes = {r.name: lengths[r.name] for r in runs}
    totals = {"ds001506": {"train": 6000, "test": 1200, "artificial": 800, "letter": 120}, "ds001246": {"train": 1200}}
    if (dataset, subject) == ("ds001246", "sub-01"):
        totals["ds001246"]["test"] = 1750
    for split in recipe.split_names:
        expected, lost = expected_samples(reference_dir, replica, split)
        kept = [
            kept_blocks(
                read_events(r.events, recipe.events, recipe.splits[split].get("n_images")),
                lengths[r.name],
                rs.TR[dataset],
                DELAY[dataset],
            )[0]
            for r in runs
            if r.split == split
        ]
        assert np.concatenate([k["image_index"].to_numpy() for k in kept]).tolist() == expected
        if split in totals[dataset]:
            assert len(expected) + lost == totals[dataset][split], split
