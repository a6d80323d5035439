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


def test_discover_runs_uses_the_perception_sessions_of_each_split(reference_dir: Path) -> None:
    root = reference_dir / "openneuro" / "ds001506"
    runs = discover_runs(root, load_recipe("ds001506"), "sub-01")
    by_split = {s: [r for r in runs if r.split == s] for s in ("train", "test", "artificial", "letter")}
    assert {s: len(v) for s, v in by_split.items()} == {"train": 120, "test": 24, "artificial": 20, "letter": 12}
    assert len(runs) == 176 and not any("imagery" in r.session for r in runs)
    assert all("NaturalImage" in r.session for r in by_split["train"] + by_split["test"])
    assert all("ArtificialImage" in r.session for r in by_split["artificial"])
    assert all("LetterImage" in r.session for r in by_split["letter"])
    train = by_split["train"]
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


EVENTS_HEADER = "onset\tduration\tevent_type\tstimulus_id\tstimulus_name\tcategory_index\timage_index\tresponse_time\n"
GOOD_ROWS = [
    "0\t32\t-1\tn/a\tn/a\tn/a\tn/a\tn/a",
    "32\t8\t1\t1.0\tn01_1\t1\t7\tn/a",
    "40\t8\t1\t2.0\tn01_2\t1\t8\tn/a",
]


@pytest.mark.parametrize(
    ("row", "field", "value", "message"),
    [
        (2, 0, "-8", r"row 2 has onset '-8'; expected a number >= 0"),
        (2, 0, "n/a", r"row 2 has onset 'n/a'; expected a number >= 0"),
        (2, 0, "NaN", r"row 2 has onset 'NaN'; expected a number >= 0"),
        (3, 1, "0", r"row 3 has duration '0'; expected a positive number"),
        (3, 1, "-8", r"row 3 has duration '-8'; expected a positive number"),
        (3, 0, "32", r"row 3 repeats the onset 32 of row 2; expected one row per event"),
        (2, 6, "7.5", r"row 2 has image_index '7.5'; expected an integer from 1 to 50"),
        (2, 6, "0", r"row 2 has image_index '0'; expected an integer from 1 to 50"),
        (2, 6, "51", r"row 2 has image_index '51'; expected an integer from 1 to 50"),
        (2, 6, "x", r"row 2 has image_index 'x'; expected an integer from 1 to 50"),
        (2, 6, "n/a", r"stimulus row 2 has no image_index"),
    ],
)
def test_bad_events_rows_fail_in_one_line_naming_the_file_and_row(
    tmp_path: Path, row: int, field: int, value: str, message: str
) -> None:
    spec = load_recipe("ds001506").events
    rows = [r.split("\t") for r in GOOD_ROWS]
    path = tmp_path / "sub-01_ses-a_task-perception_run-01_events.tsv"
    path.write_text(EVENTS_HEADER + "\n".join("\t".join(r) for r in rows) + "\n")
    assert read_events(path, spec, n_images=50)["image_index"].tolist() == [-1, 7, 8]
    rows[row - 1][field] = value
    path.write_text(EVENTS_HEADER + "\n".join("\t".join(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=message) as info:
        read_events(path, spec, n_images=50)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["0", "-2", '"two"', "true", "[2]"])
def test_a_non_positive_or_non_numeric_repetition_time_names_its_sidecar(tmp_path: Path, value: str) -> None:
    func = tmp_path / "sub-01/ses-a/func"
    func.mkdir(parents=True)
    (tmp_path / "task-perception_bold.json").write_text('{"RepetitionTime": 2.0}')
    sidecar = func / "sub-01_ses-a_task-perception_run-01_bold.json"
    sidecar.write_text(f'{{"RepetitionTime": {value}}}')
    bold = func / "sub-01_ses-a_task-perception_run-01_bold.nii.gz"
    with pytest.raises(DataError, match=rf"{sidecar}: RepetitionTime is .*; expected a positive number of seconds"):
        repetition_time(bold, tmp_path)


def test_a_symlinked_session_that_doubles_runs_is_refused(reference_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    src = reference_dir / "openneuro" / "ds001246" / "sub-01"
    for session in ("ses-perceptionTraining01", "ses-perceptionTest01"):
        shutil.copytree(src / session, root / "sub-01" / session)
    assert len(discover_runs(root, load_recipe("ds001246"), "sub-01")) > 0
    (root / "sub-01" / "ses-perceptionTest99").symlink_to(root / "sub-01" / "ses-perceptionTest01")
    with pytest.raises(
        DataError, match=r"ses-perceptionTest99/func/.*_events.tsv: the same file as .*ses-perceptionTest01"
    ):
        discover_runs(root, load_recipe("ds001246"), "sub-01")
