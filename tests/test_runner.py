"""run-baseline / list: the library runner and the CLI around it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fmri_bench.cli import main
from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import coerce_params
from fmri_bench.io import sha256_file
from fmri_bench.pipeline import run_baseline

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_run_baseline_writes_submission_and_sidecar(tiny_home: Path, tmp_path: Path) -> None:
    results = run_baseline("pca-ridge", subject="all", data_home=tiny_home, out=tmp_path / "out", score=False)
    assert results[0].timings["fit"] > 0 and results[0].timings["predict"] > 0
    assert [r.subject for r in results] == ["sub-01", "sub-02"]
    images_test = np.load(tiny_home / "synthetic" / "v1" / "images_test.npy")
    for result in results:
        sub = np.load(result.submission_path, allow_pickle=False)
        assert sub.dtype == np.uint8 and sub.shape == images_test.shape
        side = json.loads(result.sidecar_path.read_text())
        assert side["baseline"] == "pca-ridge" and side["subject"] == result.subject and side["seed"] == 0
        assert side["manifest_sha256"] == sha256_file(tiny_home / "synthetic" / "v1" / "manifest.json")
        assert side["parameters"]["n_components"] == 300
        assert side["submission_sha256"] == sha256_file(result.submission_path)
        assert "torch" in side["package_versions"] and side["timings"]["fit"] > 0
        assert side["parameters"]["random_state"] == 0
    # no temporary files are left behind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "sub-01.json",
        "sub-01.npy",
        "sub-02.json",
        "sub-02.npy",
    ]


def test_default_output_folder_is_under_the_data_home(tiny_home: Path) -> None:
    (result,) = run_baseline("pca-ridge", data_home=tiny_home, score=False, params={"n_components": "5"})
    assert result.submission_path == tiny_home / "submissions" / "synthetic" / "v1" / "pca-ridge" / "sub-01.npy"
    assert json.loads(result.sidecar_path.read_text())["parameters"]["n_components"] == 5


def test_params_are_checked_and_converted() -> None:
    from fmri_bench.baselines.pca_gan import PCAGAN

    assert coerce_params(PCAGAN, {"gan_steps": "10", "prior": "0.5", "gan_images": "/x"}) == {
        "gan_steps": 10, "prior": 0.5, "gan_images": "/x"}  # fmt: skip
    with pytest.raises(FmriBenchError, match="unknown parameter 'nope'.*gan_steps"):
        coerce_params(PCAGAN, {"nope": "1"})
    with pytest.raises(FmriBenchError, match="not a valid int"):
        coerce_params(PCAGAN, {"gan_steps": "many"})


def test_cli_json_last_line_has_the_score_metrics(tiny_home: Path, tmp_path: Path, capsys) -> None:
    board = tmp_path / "board"
    code = main(["run-baseline", "pca-ridge", "--data-home", str(tiny_home), "--leaderboard", str(board),
                 "--out", str(tmp_path / "out"), "--json", "--param", "n_components=20"])  # fmt: skip
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    obj = json.loads(last)
    for key in ("pixel_mse", "pixcorr", "ssim", "pixel_identification", "alexnet2", "feature_mse"):
        assert key in obj["metrics"]
    assert 0.0 < obj["metrics"]["pixel_mse"] < 1.0
    rows = [json.loads(line) for line in (board / "results.jsonl").read_text().splitlines()]
    assert any(r["name"] == "pca-ridge" and r["subject"] == "sub-01" for r in rows)


def test_cli_svm_sanity_json_reports_accuracy(tiny_home: Path, tmp_path: Path, capsys) -> None:
    board = tmp_path / "board"
    code = main(["run-baseline", "svm-sanity", "--version", "v2", "--data-home", str(tiny_home), "--leaderboard",
                 str(board), "--out", str(tmp_path / "out"), "--json", "--param", "n_pairs=20"])  # fmt: skip
    assert code == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert obj["kind"] == "classification"
    m = obj["metrics"]
    assert m["accuracy_ci95_low"] <= m["accuracy"] <= m["accuracy_ci95_high"] and m["details"]["split"] == "test"
    (row,) = [json.loads(line) for line in (board / "results.jsonl").read_text().splitlines()]
    assert row["kind"] == "classification" and row["version"] == "v2" and row["details"]["split"] == "test"
    assert row["intervals"]["accuracy"] == [m["accuracy_ci95_low"], m["accuracy_ci95_high"]]
    assert set(row["metrics"]) == {"accuracy", "chance", "p_value"}


def test_cli_unknown_baseline_is_one_line(tiny_home: Path, capsys) -> None:
    code = main(["run-baseline", "nope", "--data-home", str(tiny_home), "--no-score"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1
    assert "unknown baseline 'nope'" in err[0] and "pca-ridge" in err[0]


def test_cli_missing_preparation_points_to_prepare(tmp_path: Path, capsys) -> None:
    code = main(["run-baseline", "pca-ridge", "--data-home", str(tmp_path / "empty"), "--no-score"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "fmri-bench prepare synthetic --version v1" in err[0]


def test_cli_unknown_subject_lists_prepared(tiny_home: Path, capsys) -> None:
    code = main(["run-baseline", "pca-ridge", "--subject", "sub-09", "--data-home", str(tiny_home), "--no-score"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "sub-09" in err and "sub-01, sub-02" in err


def test_cli_bad_param_syntax(tiny_home: Path, capsys) -> None:
    code = main(["run-baseline", "pca-ridge", "--param", "oops", "--data-home", str(tiny_home), "--no-score"])
    assert code != 0 and "expected key=value" in capsys.readouterr().err


def test_list_commands(capsys) -> None:
    assert main(["list", "baselines"]) == 0
    out = capsys.readouterr().out
    for name in ("svm-sanity", "pca-ridge", "srm-ridge", "pca-gan", "srm-gan"):
        assert name in out
    assert main(["list", "datasets"]) == 0
    assert "synthetic" in capsys.readouterr().out
    assert main(["list", "metrics"]) == 0
    assert "pixcorr" in capsys.readouterr().out
