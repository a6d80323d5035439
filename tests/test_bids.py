"""BIDS reading on the real metadata: event codes and quirks, run discovery, sidecar inheritance."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fmri_bench.errors import DataError
from fmri_bench.raw.bids import block_volumes, discover_runs, read_events, read_sidecar, repetition_time, sidecar_chain
from fmri_bench.recipe import load_recipe

DS1506 = "openneuro/ds001506/sub-01"
DS1246 = "openneuro/ds001246/sub-01"


def test_ds001506_events(reference_dir: Path) -> None:
    spec = load_recipe("ds001506").events
    path = (
        reference_dir
        / DS1506
        / "ses-perceptionNaturalImageTraining01/func/sub-01_ses-perceptionNaturalImageTraining01_task-perception_run-01_events.tsv"
    )
    events = read_events(path, spec)
    raw = path.read_text().splitlines()[1:]
    codes = [line.split("\t")[2] for line in raw]
    assert (events["role"] == "sample").sum() == codes.count("1") == 50
    assert (events["role"] == "repeat").sum() == codes.count("2") == 5
    assert (events["role"] == "rest").sum() == sum(c.startswith("-") for c in codes)
    first = events[events["role"] == "sample"].iloc[0]
    assert (first["onset"], first["duration"], first["image_index"], first["stimulus_name"]) == (
        32,
        8,
        14,
        "n01639765_47681",
    )


def test_on_a_is_read_as_missing(reference_dir: Path) -> None:
    path = (
        reference_dir
        / DS1506
        / "ses-perceptionLetterImage01/func/sub-01_ses-perceptionLetterImage01_task-perception_run-01_events.tsv"
    )
    assert "on/a" in path.read_text()
    spec = dict(load_recipe("ds001506").events)
    events = read_events(path, spec)
    assert (events["role"] == "rest").any()
    spec["na_values"] = ["n/a"]
    spec["rest"] = []  # without the rest codes the rows are unknown: the one-line error names the file
    with pytest.raises(DataError, match="unknown event_type '-1' in row 1") as info:
        read_events(path, spec)
    assert str(path) in str(info.value)


def test_ds001246_unflagged_repeats_are_dropped(reference_dir: Path) -> None:
    spec = load_recipe("ds001246").events
    path = (
        reference_dir
        / DS1246
        / "ses-perceptionTraining01/func/sub-01_ses-perceptionTraining01_task-perception_run-01_events.tsv"
    )
    events = read_events(path, spec)
    stim = events[events["role"] != "rest"]
    same_as_previous = np.r_[False, stim["image_index"].to_numpy()[1:] == stim["image_index"].to_numpy()[:-1]]
    assert same_as_previous.sum() > 0
    assert list(stim["role"] == "repeat") == list(same_as_previous)
    assert events.loc[events["onset"] == 78, "role"].item() == "repeat"  # image 456 twice: 69 s and 78 s
    assert events.loc[events["onset"] == 69, "role"].item() == "sample"


def test_unknown_code_and_missing_column(tmp_path: Path) -> None:
    spec = load_recipe("ds001506").events
    bad = tmp_path / "sub-01_task-perception_run-01_events.tsv"
    bad.write_text("onset\tduration\tevent_type\tstimulus_name\timage_index\n0\t8\t7\tx\t1\n")
    with pytest.raises(DataError, match=r"unknown event_type '7' in row 1; expected one of: 1, 2, -1"):
        read_events(bad, spec)
    bad.write_text("onset\tduration\tevent_type\n0\t8\t1\n")
    with pytest.raises(DataError, match="missing column"):
        read_events(bad, spec)


def test_discover_runs_uses_only_natural_image_perception(reference_dir: Path) -> None:
    root = reference_dir / "openneuro" / "ds001506"
    runs = discover_runs(root, load_recipe("ds001506"), "sub-01")
    train = [r for r in runs if r.split == "train"]
    test = [r for r in runs if r.split == "test"]
    assert len(train) == 120 and len(test) == 24  # 144 natural-image runs
    assert all("NaturalImage" in r.session for r in runs)
    assert train[0].session.endswith("Training01") and train[0].run == 1
    runs46 = discover_runs(reference_dir / "openneuro" / "ds001246", load_recipe("ds001246"), "sub-05")
    assert {r.session for r in runs46 if r.split == "test"} >= {"ses-perceptionTest05", "ses-perceptionTest06"}
    assert not any("imagery" in r.session for r in runs46)


def test_sidecar_inheritance(reference_dir: Path, tmp_path: Path) -> None:
    root = reference_dir / "openneuro" / "ds001246"
    bold = (
        root
        / DS1246.split("/", 2)[2]
        / "ses-perceptionTest01/func/sub-01_ses-perceptionTest01_task-perception_run-01_bold.nii.gz"
    )
    assert [p.name for p in sidecar_chain(bold, root)] == ["task-perception_bold.json"]
    assert repetition_time(bold, root) == 3.0
    root6 = reference_dir / "openneuro" / "ds001506"
    bold6 = (
        root6
        / "sub-01/ses-perceptionNaturalImageTest01/func/sub-01_ses-perceptionNaturalImageTest01_task-perception_run-01_bold.nii.gz"
    )
    assert repetition_time(bold6, root6) == 2.0
    # An inner sidecar overrides the inherited one.
    copy = tmp_path / "ds"
    (copy / "sub-01/ses-a/func").mkdir(parents=True)
    shutil.copy(root / "task-perception_bold.json", copy)
    (copy / "sub-01/ses-a/func/sub-01_ses-a_task-perception_run-01_bold.json").write_text('{"RepetitionTime": 1.5}')
    inner = copy / "sub-01/ses-a/func/sub-01_ses-a_task-perception_run-01_bold.nii.gz"
    assert read_sidecar(inner, copy)["RepetitionTime"] == 1.5
    assert read_sidecar(inner, copy)["EchoTime"] == 0.03


def test_block_volumes() -> None:
    assert list(block_volumes(32, 8, 4.0, 2.0)) == [18, 19, 20, 21]  # 36..42 s
    assert list(block_volumes(33, 9, 3.0, 3.0)) == [12, 13, 14]  # 36..42 s at TR 3
