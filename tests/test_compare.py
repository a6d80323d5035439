"""``fmri-bench compare``: paired per-image comparison, on cases with a known answer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from fmri_bench.cli import main
from fmri_bench.errors import FmriBenchError
from fmri_bench.metrics.compare import compare_per_image, paired_permutation_p
from fmri_bench.pipeline import score_submission
from fmri_bench.pipeline.compare import compare_entries, compare_files

sys.path.insert(0, str(Path(__file__).parent))
from _score_home import make_home

PIXEL = ["pixel_mse", "pixcorr", "ssim", "pixel_identification"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """20 test images; exact copies and a blurred copy (down to 2 px and back) as submissions."""
    from fmri_bench.images import resize_images, to_float_nchw

    root = tmp_path_factory.mktemp("compare")
    home = make_home(root / "home", n_test=20)
    targets = np.load(home / "synthetic" / "v1" / "images_test.npy")
    blurred = resize_images(resize_images(to_float_nchw(targets), 2, method="area"), 40).transpose(0, 2, 3, 1)
    files = {"exact": root / "exact.npy", "blurred": root / "blurred.npy"}
    np.save(files["exact"], targets)
    np.save(files["blurred"], np.clip(blurred, 0, 1).astype(np.float32))
    board = root / "board"
    for name, path in files.items():
        score_submission(path, data_home=home, leaderboard=board, name=name, metrics=PIXEL)
    return {"home": home, "board": board, "files": files}


def test_permutation_p_value_against_an_exact_enumeration() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=8), rng.normal(size=8) + 0.8
    d = a - b
    signs = np.array(np.meshgrid(*[[-1, 1]] * 8)).reshape(8, -1).T
    exact = np.mean(np.abs((signs * d).mean(axis=1)) >= abs(d.mean()) - 1e-12)
    assert paired_permutation_p(a, b) == pytest.approx(exact, abs=1e-9)
    assert paired_permutation_p(a, a) == 1.0


def test_a_submission_against_itself_shows_no_difference(setup: dict) -> None:
    report = compare_entries("blurred", "blurred", leaderboard=setup["board"])
    assert [c.key for c in report.comparisons] == PIXEL
    assert set(report.skipped) == {
        "alexnet2",
        "alexnet5",
        "inception",
        "clip",
        "effnet",
        "swav",
        "feature_mse",
        "squeezenet",
    }
    for c in report.comparisons:
        assert c.mean_diff == 0 and c.p_value == 1.0 and c.verdict.startswith("no significant difference")


def test_exact_targets_beat_a_blurred_copy_on_every_metric(setup: dict) -> None:
    report = compare_entries("exact", "blurred", leaderboard=setup["board"])
    assert [c.key for c in report.comparisons] == PIXEL and report.source == "leaderboard"
    for c in report.comparisons:
        assert c.p_holm < 0.05 and c.verdict.startswith("A is better"), c
    # lower-is-better metrics: the difference is negative, still A's win
    mse = next(c for c in report.comparisons if c.key == "pixel_mse")
    assert mse.mean_diff < 0
    # the same answer from the submission files, scored again (kamitani: profile correlation
    # has no per-image scores and is said so)
    files = compare_files(
        setup["files"]["exact"], setup["files"]["blurred"], data_home=setup["home"], protocol="kamitani"
    )
    assert files.skipped == {} or "profile_corr" not in [c.key for c in files.comparisons]
    assert all(c.verdict.startswith("A is better") for c in files.comparisons if c.key != "ssim" or c.mean_diff > 0)
    assert {c.key for c in files.comparisons} == {"pattern_corr", "ident_corr", "ident_euclidean", "pixel_rmse", "ssim"}


def test_compare_cli_table_json_and_bad_input(setup: dict, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--leaderboard", str(setup["board"])]
    capsys.readouterr()
    assert main(["compare", "exact", "blurred", *args]) == 0
    out = capsys.readouterr().out
    assert "A is better" in out and "PixCorr" in out and "Holm" in out
    assert main(["compare", "exact", "blurred", *args, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["protocol"] == "mindeye" and len(payload["comparisons"]) == 4
    assert main(["compare", "exact", "nobody", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no leaderboard entry 'nobody'") and "\n" not in err
    assert main(["compare", "exact", str(setup["files"]["blurred"]), *args]) == 1
    assert "not one of each" in capsys.readouterr().err
    a_file = setup["board"] / "results.jsonl"
    assert main(["compare", "exact", "blurred", "--leaderboard", str(a_file)]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_missing_or_tampered_per_image_scores_are_refused(setup: dict, tmp_path: Path) -> None:
    import shutil

    from fmri_bench.errors import FmriBenchError

    board = tmp_path / "board"
    shutil.copytree(setup["board"], board)
    per_image = next((board / "per_image").glob("*exact*"))
    per_image.write_text(per_image.read_text().replace("1.0", "0.5"))
    with pytest.raises(FmriBenchError, match="modified"):
        compare_entries("exact", "blurred", leaderboard=board)
    scores, skipped = compare_per_image({"x": [1.0, 2.0, 3.0]}, {"x": [1.0, 2.0]}, {"x": True})
    assert scores == [] and "not the same test set" in skipped["x"]


def test_subject_all_pools_the_subjects_images(tmp_path: Path) -> None:
    from fmri_bench.images import resize_images, to_float_nchw

    home = make_home(tmp_path / "home", n_test=10, subjects=("sub-01", "sub-02"))
    targets = np.load(home / "synthetic" / "v1" / "images_test.npy")
    rng = np.random.default_rng(0)
    board = tmp_path / "board"
    for subject, amount in (("sub-01", 0.05), ("sub-02", 0.3)):  # sub-02's noisy copy is much worse
        noisy = np.clip(to_float_nchw(targets).transpose(0, 2, 3, 1) + rng.normal(0, amount, targets.shape), 0, 1)
        blurred = resize_images(resize_images(to_float_nchw(targets), 4, method="area"), 40).transpose(0, 2, 3, 1)
        for name, images in (("noisy", noisy), ("blurred", blurred)):
            path = tmp_path / f"{name}-{subject}.npy"
            np.save(path, np.clip(images, 0, 1).astype(np.float32))
            score_submission(path, data_home=home, leaderboard=board, name=name, subject=subject, metrics=PIXEL)
    single = [compare_entries("noisy", "blurred", leaderboard=board, subject=s) for s in ("sub-01", "sub-02")]
    pooled = compare_entries("noisy", "blurred", leaderboard=board, subject="all")
    assert pooled.n_images == 20 and pooled.subject == "all (sub-01, sub-02)"
    for c in pooled.comparisons:
        per_subject = [next(x for x in r.comparisons if x.key == c.key) for r in single]
        assert c.n == 20 and c.mean_diff == pytest.approx(np.mean([x.mean_diff for x in per_subject]))
    score_submission(tmp_path / "noisy-sub-01.npy", data_home=home, leaderboard=board, name="only one", metrics=PIXEL)
    assert compare_entries("only one", "blurred", leaderboard=board, subject="all").n_images == 10  # shared subjects
    with pytest.raises(FmriBenchError, match="share no subject"):
        compare_entries("only one", "nobody", leaderboard=board, subject="all")
