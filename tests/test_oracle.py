"""The oracle decoder: its construction, its way through prepare (a recipe's references) and scoring."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fmri_bench.data import load_images, prepared_subjects, reference_reconstructions
from fmri_bench.errors import DataError, SubmissionError
from fmri_bench.leaderboard import Leaderboard
from fmri_bench.metrics import evaluate
from fmri_bench.pipeline import record_reference_rows
from fmri_bench.pipeline.score import check_entry_name
from fmri_bench.raw.simulate.oracle import measure_run, wiener_coefficients

ORACLE = "oracle (true encoding model)"
PIXEL = ["pixel_mse", "pixcorr", "pixel_identification"]


def test_wiener_decoder_is_the_best_linear_decoder_of_a_known_gaussian_model() -> None:
    """x ~ N(0, I), r = B x, y = r + e, e ~ N(0, S): the oracle (true r on the training set, known S)
    reaches the population optimum, and no ridge penalty on the same training set does better."""
    rng = np.random.default_rng(0)
    p, v, n, m = 12, 40, 300, 4000
    mixing = rng.standard_normal((v, p))
    root = rng.standard_normal((v, v)) * 0.3
    cov = root @ root.T + np.diag(rng.uniform(0.5, 2.0, v))  # correlated noise
    x_train, x_test = rng.standard_normal((n, p)), rng.standard_normal((m, p))
    r_train = x_train @ mixing.T
    y_test = x_test @ mixing.T + rng.multivariate_normal(np.zeros(v), cov, m)
    coef = wiener_coefficients(r_train - r_train.mean(0), cov, y_test - r_train.mean(0))
    oracle = x_train.mean(0) + coef @ (x_train - x_train.mean(0))
    mse = ((oracle - x_test) ** 2).mean()
    # The population Wiener filter: x_hat = B^T (B B^T + S)^-1 y.
    best = np.linalg.solve(mixing @ mixing.T + cov, y_test.T).T @ mixing
    assert mse == pytest.approx(((best - x_test) ** 2).mean(), rel=0.03)
    y_train = r_train + rng.multivariate_normal(np.zeros(v), cov, n)  # what a learner without the truth sees
    for alpha in np.logspace(-2, 4, 13):
        w = np.linalg.solve(y_train.T @ y_train + alpha * np.eye(v), y_train.T @ x_train)
        assert ((y_test @ w - x_test) ** 2).mean() > mse * 0.99


def test_measurement_is_the_v1_block_average() -> None:
    from scipy.signal import detrend

    rng = np.random.default_rng(1)
    series = rng.standard_normal((60, 7)).cumsum(axis=0)
    blocks = [(3, 1), (3, 2), (1, 1), (2, 1)]
    windows = [np.arange(18, 22), np.arange(22, 26), np.arange(26, 30), np.zeros(0, dtype=int)]
    images, samples, scale = measure_run(series, blocks, windows)
    x = detrend(series, axis=0)
    x /= x.std(axis=0)
    assert images.tolist() == [3, 1]  # one-back (2) and a block cut by the run's end are left out
    np.testing.assert_allclose(samples, [x[18:22].mean(0), x[26:30].mean(0)], atol=1e-12)
    np.testing.assert_allclose(scale, detrend(series, axis=0).std(axis=0))


def test_prepare_carries_the_oracle_and_records_it(tiny_home: Path, tiny_bids: Path) -> None:
    import json

    manifest = json.loads((tiny_home / "synthetic" / "v1" / "manifest.json").read_text())
    targets = np.asarray(load_images("synthetic", "v1", "test", data_home=tiny_home))
    for subject in prepared_subjects("synthetic", "v1", data_home=tiny_home):
        entry = manifest["subjects"][subject]["references"][ORACLE]
        assert entry == {
            "file": f"{subject}/reference_oracle.npy",
            "split": "test",
            "source": f"derivatives/simulation/{subject}/oracle_test.npy",
            "ceiling": True,
        }
        assert entry["file"] in manifest["outputs"]  # hashed like every output (fmri-bench verify)
        recon = reference_reconstructions("synthetic", "v1", subject, data_home=tiny_home)[ORACLE]
        source = np.load(tiny_bids / entry["source"])
        np.testing.assert_array_equal(recon, source)
        assert recon.dtype == np.uint8 and recon.shape == (len(targets), 128, 128, 3)
        # Decoded from the data, not copied from the answers: close to the targets, far from identical.
        scores = evaluate(targets, recon, PIXEL)
        assert 0.85 < scores["pixel_identification"] < 1.0 + 1e-9 and 0.2 < scores["pixcorr"] < 0.9
        shuffled = evaluate(targets, recon[::-1].copy(), PIXEL)
        assert shuffled["pixel_identification"] < 0.75


def test_scoring_records_the_oracle_row_beside_chance(tiny_home: Path, tmp_path: Path) -> None:
    board = Leaderboard(tmp_path / "board")
    rows = record_reference_rows("synthetic", "v1", board, data_home=tiny_home, metrics=PIXEL)
    oracle_rows = [r for r in rows if r["name"] == ORACLE]
    subjects = prepared_subjects("synthetic", "v1", data_home=tiny_home)
    assert [r["subject"] for r in oracle_rows] == subjects and all(r["reference"] for r in oracle_rows)
    targets = np.asarray(load_images("synthetic", "v1", "test", data_home=tiny_home))
    for row in oracle_rows:
        recon = reference_reconstructions("synthetic", "v1", row["subject"], data_home=tiny_home)[ORACLE]
        expected = evaluate(targets, recon, PIXEL)
        assert row["metrics"]["pixcorr"] == pytest.approx(expected["pixcorr"], abs=1e-6)  # rows keep 6 decimals
    chance = next(r for r in rows if r["name"].startswith("chance"))
    assert oracle_rows[0]["metrics"]["pixel_identification"] > chance["metrics"]["pixel_identification"] + 0.3
    assert record_reference_rows("synthetic", "v1", board, data_home=tiny_home, metrics=PIXEL) == []  # up to date
    assert all(r.get("ceiling") for r in oracle_rows) and not chance.get("ceiling")  # the recipe marks the oracle
    readme = (tmp_path / "board" / "README.md").read_text()
    assert ORACLE in readme and "PixCorr / ceiling" in readme and oracle_rows[0]["protocol"] == chance["protocol"]
    with pytest.raises(SubmissionError, match="reference row"):
        check_entry_name(ORACLE)


def test_a_reference_file_of_the_wrong_shape_is_refused(tiny_bids: Path, tmp_path: Path) -> None:
    from fmri_bench.pipeline import prepare_dataset
    from fmri_bench.recipe import load_recipe

    source = tmp_path / "bids"
    shutil.copytree(tiny_bids, source, copy_function=os.link)  # hard links: the fixture stays untouched
    bad = source / "derivatives" / "simulation" / "sub-01" / "oracle_test.npy"
    bad.unlink()
    np.save(bad, np.zeros((3, 32, 32, 3), np.uint8))
    recipe_text = load_recipe("synthetic").path.read_text()
    recipe_path = tmp_path / "synthetic.toml"
    recipe_path.write_text(recipe_text)
    with pytest.raises(DataError, match=r"oracle_test.npy: reference reconstructions of shape \(3, 32, 32, 3\)"):
        prepare_dataset(str(recipe_path), versions=["v1"], subjects=["sub-01"], source=source, data_home=tmp_path / "h")
    assert not (tmp_path / "h" / "synthetic" / "v1").exists()  # nothing half-written
