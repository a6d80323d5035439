"""score_submission / score_subjects / the score CLI on a hand-laid prepared data home."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fmri_bench.cli import main
from fmri_bench.leaderboard import Leaderboard
from fmri_bench.metrics import METRICS
from fmri_bench.metrics.references import CHANCE_NAME
from fmri_bench.metrics.references import RESOLUTION_NAME as CEILING_NAME
from fmri_bench.pipeline import score_subjects, score_submission

N, SIZE = 5, 40


def make_home(root: Path, subjects: tuple[str, ...] = ("sub-01", "sub-02")) -> Path:
    """A data home in the documented prepared layout, with smooth distinct test images."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    images = np.empty((N + 6, SIZE, SIZE, 3))
    for i in range(len(images)):
        for c in range(3):
            f, a = rng.uniform(1, 4), rng.uniform(0, np.pi)
            images[i, :, :, c] = 0.5 + 0.45 * np.sin(
                2 * np.pi * f * (xx * np.cos(a) + yy * np.sin(a)) + rng.uniform(0, 6)
            )
    images = (images * 255).astype(np.uint8)
    folder = root / "synthetic" / "v1"
    folder.mkdir(parents=True)
    np.save(folder / "images_test.npy", images[:N])
    np.save(folder / "images_train.npy", images[N:])
    write_manifest(folder)
    for s in subjects:
        (folder / s).mkdir()
        for split in ("train", "test"):
            np.save(folder / s / f"{split}_fmri.npy", np.zeros((N, 3), np.float32))
            np.save(folder / s / f"{split}_labels.npy", np.arange(N))
    return root


def write_manifest(folder: Path) -> None:
    """The manifest fields scoring reads: the images' sha256 (checked before scoring)."""
    from fmri_bench.io import sha256_file

    outputs = {f: {"sha256": sha256_file(folder / f)} for f in ("images_test.npy", "images_train.npy")}
    (folder / "manifest.json").write_text(json.dumps({"dataset": "synthetic", "version": "v1", "outputs": outputs}))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path / "home")


def _targets(home: Path) -> np.ndarray:
    return np.load(home / "synthetic" / "v1" / "images_test.npy")


def _noisy(home: Path, scale: float = 0.15, seed: int = 0) -> np.ndarray:
    t = _targets(home) / 255
    return np.clip(t + np.random.default_rng(seed).normal(0, scale, t.shape), 0, 1).astype(np.float32)


PIXEL = ["pixel_mse", "pixcorr", "ssim", "pixel_identification"]


def test_score_records_the_row_references_and_grid(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "method.npy"
    np.save(path, _noisy(home))
    path.with_suffix(".json").write_text(json.dumps({"method": "noisy copy", "authors": "tests"}))
    report = score_submission(path, data_home=home, leaderboard=tmp_path / "board")
    assert report.name == "noisy copy" and report.recorded
    assert set(report.metrics) == set(METRICS.names())
    assert report.metrics["pixcorr"] > 0.8 and report.metrics["pixel_identification"] == 1.0
    # Deep metrics are n/a here (empty torch cache), each with its reason.
    assert report.metrics["alexnet2"] is None and "alexnet-owt-7be5be79.pth" in report.unavailable["alexnet2"]
    grid = Image.open(report.gallery)  # the picture goes to the leaderboard's gallery, not beside the input
    assert grid.format == "PNG" and grid.size[0] > 96 and Path(report.gallery).parent == tmp_path / "board" / "gallery"
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*grid*"))
    rows = Leaderboard(tmp_path / "board").rows()
    names = sorted(r["name"] for r in rows)
    assert names == sorted([CHANCE_NAME, CEILING_NAME, "noisy copy"])
    mine = next(r for r in rows if r["name"] == "noisy copy")
    assert mine["submission_sha256"] == report.sha256 and mine["metrics_version"] >= 1
    assert mine["sidecar"]["authors"] == "tests" and mine["fmri_bench_version"] and mine["date"]
    assert (tmp_path / "board" / mine["gallery"]).is_file()
    refs = {r["name"]: r for r in rows if r.get("reference")}
    # Every score reads against both references: the resolution reference above chance.
    assert refs[CEILING_NAME]["metrics"]["pixcorr"] > refs[CHANCE_NAME]["metrics"]["pixcorr"]
    assert refs[CHANCE_NAME]["metrics"]["pixcorr"] < 0.5


def test_rescoring_replaces_the_row_and_no_record_writes_nothing(home: Path, tmp_path: Path) -> None:
    board = tmp_path / "board"
    path = tmp_path / "m.npy"
    np.save(path, _noisy(home, seed=1))
    score_submission(path, data_home=home, leaderboard=board, name="m", metrics=PIXEL)
    first = Leaderboard(board).rows()
    np.save(path, _targets(home))
    score_submission(path, data_home=home, leaderboard=board, name="m", metrics=PIXEL)
    rows = Leaderboard(board).rows()
    assert len(rows) == len(first) == 3
    assert next(r for r in rows if r["name"] == "m")["metrics"]["pixcorr"] == pytest.approx(1.0)
    score_submission(path, data_home=home, leaderboard=board, name="m", subject="sub-02", metrics=PIXEL)
    assert len(Leaderboard(board).rows()) == 6  # a second subject: its row and its two references
    other = tmp_path / "other_board"
    report = score_submission(path, data_home=home, leaderboard=other, record=False, metrics=PIXEL)
    assert not report.recorded and not other.exists()


def test_subject_all_accepts_a_folder_a_template_or_one_file(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ridge"
    folder.mkdir()
    for i, s in enumerate(("sub-01", "sub-02")):
        np.save(folder / f"{s}.npy", _noisy(home, seed=i))
    board = tmp_path / "board"
    reports = score_subjects(folder, data_home=home, leaderboard=board, metrics=PIXEL)
    assert [r.subject for r in reports] == ["sub-01", "sub-02"] and {r.name for r in reports} == {"ridge"}
    reports = score_subjects(
        str(folder / "{subject}.npy"), data_home=home, leaderboard=board, name="tpl", metrics=PIXEL, record=False
    )
    assert reports[0].metrics["pixcorr"] != reports[1].metrics["pixcorr"]
    readme = (board / "README.md").read_text()
    assert "mean ± sd (2 subjects)" in readme
    (folder / "sub-02.npy").unlink()
    from fmri_bench.errors import SubmissionError

    before = (board / "results.jsonl").read_bytes()
    with pytest.raises(SubmissionError, match="expected one .npy per prepared subject"):
        score_subjects(folder, data_home=home, leaderboard=board, metrics=PIXEL)
    assert (board / "results.jsonl").read_bytes() == before


def test_cli_json_table_and_markdown_show_na_with_reasons(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.npy"
    np.save(path, _noisy(home))
    board = tmp_path / "board"
    capsys.readouterr()
    assert main(["score", str(path), "--data-home", str(home), "--leaderboard", str(board), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload["metrics"]) == set(METRICS.names())
    assert payload["metrics"]["effnet"] is None and "efficientnet_b1" in payload["unavailable"]["effnet"]
    assert 0 < payload["metrics"]["ssim"] < 1
    assert (
        main(
            [
                "score",
                str(path),
                "--data-home",
                str(home),
                "--leaderboard",
                str(board),
                "--subject",
                "sub-02",
                "--name",
                "table",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "PixCorr" in out and "n/a" in out and "swav_800ep_pretrain.pth.tar" in out
    assert main(["leaderboard", "--leaderboard", str(board), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "| n/a |" in md and "n/a in SwAV: weights for resnet50_swav not found" in md
    assert main(["leaderboard", "--leaderboard", str(board)]) == 0
    assert "n/a in AlexNet(2)" in capsys.readouterr().out
    assert main(["score", str(path), "--data-home", str(home), "--subject", "sub-09", "--no-record"]) == 1
    assert "sub-09 is not prepared" in capsys.readouterr().err


def test_reference_rows_are_refreshed_when_weights_arrive(
    home: Path, tmp_path: Path, shared_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fmri_bench.weights import import_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    board = tmp_path / "board"
    path = tmp_path / "m.npy"
    np.save(path, _targets(home))
    metrics = ["pixcorr", "squeezenet"]
    score_submission(path, data_home=home, leaderboard=board, metrics=metrics)
    chance = next(r for r in Leaderboard(board).rows() if r["name"] == CHANCE_NAME)
    assert chance["metrics"]["squeezenet"] is None
    import_weights("squeezenet1_0", shared_weights / "squeezenet1_0-imagenet-deepcompression.pth")
    report = score_submission(path, data_home=home, leaderboard=board, metrics=metrics)
    assert report.metrics["squeezenet"] == 1.0
    rows = Leaderboard(board).rows()
    chance = next(r for r in rows if r["name"] == CHANCE_NAME)
    assert chance["metrics"]["squeezenet"] is not None and "squeezenet" in chance["weights"]
    assert len(rows) == 3


def test_scoring_a_dataset_prepared_by_fmri_bench_prepare(tiny_home: Path, tmp_path: Path) -> None:
    from fmri_bench.data import load_images, prepared_subjects

    targets = np.asarray(load_images("synthetic", "v1", "test", data_home=tiny_home))
    subjects = prepared_subjects("synthetic", "v1", data_home=tiny_home)
    path = tmp_path / "copy.npy"
    np.save(path, targets[::-1].copy())  # reversed order: the wrong image for (almost) every target
    reports = score_subjects(path, data_home=tiny_home, leaderboard=tmp_path / "board", metrics=PIXEL)
    assert [r.subject for r in reports] == subjects
    assert all(r.metrics["pixel_identification"] < 0.9 for r in reports)
    np.save(path, targets)
    report = score_submission(
        path, data_home=tiny_home, leaderboard=tmp_path / "board", subject=subjects[0], metrics=PIXEL
    )
    assert report.metrics["pixcorr"] == pytest.approx(1.0) and report.metrics["pixel_identification"] == 1.0


def _score_in_process(path: str, home: str, board: str, name: str) -> None:
    score_submission(path, data_home=home, leaderboard=board, name=name, metrics=["pixel_mse", "pixcorr"])


def test_concurrent_score_runs_all_land(home: Path, tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / "m.npy"
    np.save(path, _noisy(home))
    board = tmp_path / "board"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_score_in_process, args=(str(path), str(home), str(board), f"run{i}")) for i in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    rows = Leaderboard(board).rows()
    assert sorted(r["name"] for r in rows) == sorted([CEILING_NAME, CHANCE_NAME, "run0", "run1", "run2"])
