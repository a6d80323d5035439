"""DIR's other test sets: the ``artificial`` (colour shapes) and ``letter`` splits, prepared from a
ds001506 replica with their real events, and scored or reconstructed with ``--split``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import replica_support as rs
from PIL import Image

from fmri_bench.cli import main
from fmri_bench.data import load, load_images
from fmri_bench.errors import DataError
from fmri_bench.leaderboard import Leaderboard
from fmri_bench.pipeline import prepare_dataset as prepare
from fmri_bench.pipeline import run_baseline
from fmri_bench.prepare import read_manifest
from fmri_bench.recipe import load_recipe, validate

RUNS = {"train": 1, "test": 1, "artificial": 1, "letter": 2}


def _recipe():
    data = copy.deepcopy(load_recipe("ds001506").data)
    data["stimuli"]["resolution"] = 32  # small images: the scoring stays fast
    return validate(data, "ds001506 at 32 px")


def _write_stimuli(bids: Path, folder: Path, skip: tuple[str, ...] = ()) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for split, prefix in rs.SPLIT_SESSIONS["ds001506"].items():
        for events in bids.glob(f"sub-01/{prefix}*/func/*_events.tsv"):
            frame = pd.read_csv(events, sep="\t", dtype=str, keep_default_na=False)
            names.setdefault(split, set()).update(frame.loc[frame["event_type"] == "1", "stimulus_name"])
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, found in names.items():
        if split in skip:
            continue
        for name in sorted(found):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    return names


@pytest.fixture(scope="module")
def split_home(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("splits")
    rs.write_replica(reference_dir, "ds001506", "sub-01", root / "bids", runs_per_session=RUNS, max_runs_per_split=2)
    names = _write_stimuli(root / "bids", root / "stimuli")
    prepare(
        _recipe(),
        versions=("v1",),
        subjects=["sub-01"],
        source=root / "bids",
        stimuli=root / "stimuli",
        data_home=root / "home",
    )
    return root, names


def test_artificial_and_letter_are_prepared_like_test(split_home: tuple[Path, dict]) -> None:
    root, names = split_home
    home = root / "home"
    folder = home / "ds001506" / "v1"
    manifest = read_manifest(folder)
    assert manifest["image_splits"] == ["artificial", "letter", "test", "train"]
    for split, n_images in (("artificial", 40), ("letter", 10)):
        assert (folder / "sub-01" / f"{split}_fmri.npy").is_file() and (
            folder / "sub-01" / f"{split}_labels.npy"
        ).is_file()
        images = load_images("ds001506", "v1", split, data_home=home)
        assert images.shape == (n_images, 32, 32, 3)  # every shape / letter is shown in each run
        raw = load("ds001506", "v1", "sub-01", data_home=home, average_test=False)
        averaged = load("ds001506", "v1", "sub-01", data_home=home)
        assert raw[f"X_{split}"].shape[0] == manifest["subjects"]["sub-01"][split]["kept"]
        assert averaged[f"X_{split}"].shape[0] == n_images and averaged[f"y_{split}"].tolist() == list(range(n_images))
        table = averaged.stimuli[averaged.stimuli["split"] == split]
        assert set(table["stimulus_name"]) == names[split] and table["image_index"].is_monotonic_increasing
        assert manifest["subjects"]["sub-01"]["reliability"][split]["images"] == n_images
    assert set(averaged.stimuli.loc[averaged.stimuli["split"] == "letter", "stimulus_name"]) >= {
        "letter_black_img028_R"
    }


def test_run_baseline_and_score_take_a_split(split_home: tuple[Path, dict], capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = split_home
    home, board = root / "home", root / "board"
    common = ["--dataset", "ds001506", "--data-home", str(home), "--leaderboard", str(board)]
    capsys.readouterr()
    assert main(["run-baseline", "pca-ridge", *common, "--split", "artificial", "--no-score"]) == 0
    submission = home / "submissions" / "ds001506" / "v1" / "pca-ridge-artificial" / "sub-01.npy"
    assert np.load(submission).shape == (40, 32, 32, 3)
    assert json.loads(submission.with_suffix(".json").read_text())["split"] == "artificial"
    capsys.readouterr()
    assert main(["run-baseline", "pca-ridge", *common, "--split", "letter", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["split"] == "letter" and out["metrics"]["pixcorr"] is not None
    letters = Path(out["subjects"]["sub-01"]["submission"])
    assert letters.parent.name == "pca-ridge-letter" and np.load(letters).shape == (10, 32, 32, 3)
    # the same file scored under another name with --split letter; against the test split it is refused
    assert main(["score", str(letters), *common, "--split", "letter", "--name", "ten"]) == 0
    assert main(["score", str(letters), *common, "--name", "ten"]) == 2  # 10 images, the test split has 50
    assert "expected 50" in capsys.readouterr().err
    rows = Leaderboard(board).rows()
    splits = {(r["name"], r.get("split")) for r in rows}
    assert {("pca-ridge", "letter"), ("ten", "letter")} <= splits
    assert {r["split"] for r in rows if r.get("reference")} == {"letter"}  # chance and ceiling rows of the split
    from fmri_bench.leaderboard.table import build_tables

    titles = {t.title for t in build_tables(rows)}
    assert titles == {"ds001506 v1 letter (reconstruction) · protocol mindeye v1"}  # its own table, not mixed with test


def test_a_split_without_images_is_left_out_and_then_refused(reference_dir: Path, tmp_path: Path) -> None:
    rs.write_replica(
        reference_dir, "ds001506", "sub-01", tmp_path / "bids", runs_per_session=RUNS, max_runs_per_split=1
    )
    _write_stimuli(tmp_path / "bids", tmp_path / "stimuli", skip=("artificial", "letter"))  # ImageNet only
    home = tmp_path / "home"
    prepare(
        _recipe(),
        versions=("v1",),
        subjects=["sub-01"],
        source=tmp_path / "bids",
        stimuli=tmp_path / "stimuli",
        data_home=home,
    )
    assert read_manifest(home / "ds001506" / "v1")["image_splits"] == ["test", "train"]
    assert load("ds001506", "v1", "sub-01", data_home=home).X_artificial.shape[0] == 40
    with pytest.raises(
        DataError, match=r"sub-01 of ds001506 v1 has no artificial images \(prepare again with --stimuli"
    ):
        run_baseline("pca-ridge", dataset="ds001506", data_home=home, score=False, split="artificial")
    with pytest.raises(DataError, match=r"images_artificial.npy does not exist"):
        load_images("ds001506", "v1", "artificial", data_home=home)
