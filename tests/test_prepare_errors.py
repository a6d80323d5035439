"""Bad input fails in one line naming the file, exits non-zero, and leaves the data home as it was."""

from __future__ import annotations

import errno
import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import replica_support as rs
from PIL import Image

from fmri_bench.cli import main
from fmri_bench.errors import DataError
from fmri_bench.pipeline import prepare_dataset as prepare
from fmri_bench.prepare import verify

FUNC = "sub-01/ses-perceptionNaturalImageTraining01/func"
RUN1 = f"{FUNC}/sub-01_ses-perceptionNaturalImageTraining01_task-perception_run-01"


@pytest.fixture(scope="module")
def small_bids(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> Path:
    """A ds001506 sub-01 replica with one training and one test run, and stimulus images."""
    root = tmp_path_factory.mktemp("small") / "bids"
    rs.write_replica(reference_dir, "ds001506", "sub-01", root, splits=["train", "test"], max_runs_per_split=1)
    stimuli = root.parent / "stimuli"
    stimuli.mkdir()
    names = set()
    for events in root.rglob("*_events.tsv"):
        names |= set(pd.read_csv(events, sep="\t")["stimulus_name"].dropna()) - {"n/a"}
    for k, name in enumerate(sorted(names)):
        pixels = np.full((30, 40, 3), k, dtype=np.uint8)
        pixels[:, :5] = 255  # outside the centre square: cropped away
        Image.fromarray(pixels).save(stimuli / f"{name}.png")
    return root


@pytest.fixture()
def prepared(small_bids: Path, tmp_path: Path) -> tuple[Path, Path, dict[Path, bytes]]:
    """A writable copy of the BIDS tree and a data home already holding v1 (to be kept intact)."""
    bids = tmp_path / "bids"
    shutil.copytree(small_bids, bids)
    home = tmp_path / "home"
    prepare(
        "ds001506",
        versions=("v1",),
        subjects=["sub-01"],
        source=bids,
        data_home=home,
        stimuli=small_bids.parent / "stimuli",
    )
    snapshot = {p: p.read_bytes() for p in sorted((home / "ds001506").rglob("*")) if p.is_file()}
    return bids, home, snapshot


def _fails(bids: Path, home: Path, snapshot: dict[Path, bytes], match: str, **kwargs) -> None:
    """Both versions are asked for: v2 is new, v1 must be rebuilt for sub-01 only if... nothing changes."""
    with pytest.raises(DataError, match=match) as info:
        prepare("ds001506", versions=("v1", "v2"), subjects=["sub-01"], source=bids, data_home=home, **kwargs)
    assert "\n" not in str(info.value)
    after = {p: p.read_bytes() for p in sorted((home / "ds001506").rglob("*")) if p.is_file()}
    assert after == snapshot  # no v2, no partial folder, v1 byte for byte
    assert [p.name for p in (home / "ds001506").iterdir()] == ["v1"]
    verify("ds001506", data_home=home)


def test_images_are_cropped_and_resized(prepared) -> None:
    bids, home, _ = prepared
    images = np.load(home / "ds001506" / "v1" / "images_train.npy")
    assert images.shape == (50, 256, 256, 3) and images.dtype == np.uint8  # one run: 50 images
    assert images.max() < 255 and len(np.unique(images[:, 128, 128, 0])) == 50


def test_missing_nifti(prepared) -> None:
    bids, home, snapshot = prepared
    (bids / f"{RUN1}_bold.nii.gz").unlink()
    _fails(bids, home, snapshot, rf"{RUN1}_bold.nii.gz: BOLD file missing")


def test_corrupt_nifti(prepared) -> None:
    bids, home, snapshot = prepared
    path = bids / f"{RUN1}_bold.nii.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data)[: len(gzip.compress(data)) // 2])  # truncated download
    _fails(bids, home, snapshot, rf"{RUN1}_bold.nii.gz: cannot read NIfTI")


def test_unknown_event_code(prepared) -> None:
    bids, home, snapshot = prepared
    path = bids / f"{RUN1}_events.tsv"
    lines = path.read_text().splitlines()
    fields = lines[3].split("\t")
    fields[2] = "9"
    lines[3] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    _fails(bids, home, snapshot, rf"{RUN1}_events.tsv: unknown event_type '9' in row 3")


def test_masks_on_two_grids(prepared) -> None:
    bids, home, snapshot = prepared
    path = bids / "sourcedata" / "sub-01" / "anat" / "sub-01_mask_RH_V2d.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((5, 4, 3), np.uint8), np.eye(4)), path)
    _fails(
        bids, home, snapshot, r"sub-01_mask_RH_V2d.nii.gz: mask grid \(5, 4, 3\) differs from sub-01_mask_LH_V1d.nii.gz"
    )


def test_image_missing_from_stimuli(prepared, small_bids: Path, tmp_path: Path) -> None:
    bids, home, snapshot = prepared
    stimuli = tmp_path / "stimuli"
    shutil.copytree(small_bids.parent / "stimuli", stimuli)
    first = sorted(stimuli.iterdir())[0]
    first.unlink()
    _fails(bids, home, snapshot, rf"no image for stimulus {first.stem} ", stimuli=stimuli)


def test_full_disk(prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    bids, home, snapshot = prepared
    import fmri_bench.prepare.core as core

    real = core.save_npy_atomic
    calls = {"n": 0}

    def full(path, array):
        calls["n"] += 1
        if calls["n"] > 2:  # fail in the middle of writing a version
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, array)

    monkeypatch.setattr(core, "save_npy_atomic", full)
    _fails(bids, home, snapshot, r"no space left on device")


def test_cli_error_is_one_line(prepared, capsys: pytest.CaptureFixture[str]) -> None:
    bids, home, _ = prepared
    (bids / f"{RUN1}_bold.nii.gz").write_bytes(b"not a nifti")
    capsys.readouterr()
    code = main(
        [
            "prepare",
            "ds001506",
            "--version",
            "v2",
            "--subject",
            "sub-01",
            "--source",
            str(bids),
            "--data-home",
            str(home),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ") and "_bold.nii.gz" in err
