"""Generator-based rows: the shipped generator seeds, one run per seed, one recorded row of mean ± sd (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fmri_bench.cli import main
from fmri_bench.errors import FmriBenchError
from fmri_bench.estimators import gan, vaegan
from fmri_bench.io import sha256_file
from fmri_bench.leaderboard import Leaderboard, render_csv, render_html, render_markdown, render_terminal
from fmri_bench.pipeline import run_baseline
from fmri_bench.pipeline.score import score_submission

FAST = {"search_steps": "3", "n_components": "20"}  # the seeds' spread, not the quality, is tested here


def test_shipped_seed_checkpoints_load_with_their_records_and_differ() -> None:
    z = torch.randn(2, vaegan.ModelConfig.z_dim, generator=torch.Generator().manual_seed(0))
    outputs = []
    for seed in vaegan.SHIPPED_SEEDS:
        path = vaegan.shipped_checkpoint(seed)
        assert path is not None and path.name == f"vaegan-stimuli64-seed{seed}.pt" and path.stat().st_size < 2_000_000
        record = json.loads(path.with_suffix(".json").read_text())
        assert record["checkpoint"] == {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
        assert record["seed"] == seed and f"--seed {seed} --steps {vaegan.TrainConfig.steps}" in record["command"]
        assert record["heldout_dataset_stimuli"]["test"]["ssim"] > 0.85  # each reconstructs held-out stimuli
        G, _, meta = vaegan.load_checkpoint(path)
        assert meta["seed"] == seed
        prior = gan.get_prior(
            generator=None, gan_images=None, seed=seed, steps=vaegan.TrainConfig.steps, cache_dir=None
        )
        assert prior.origin == f"shipped:{path.name}"
        with torch.no_grad():
            outputs.append(G(z))
    assert vaegan.shipped_checkpoint(3) is None  # no checkpoint: a generator of that seed is trained
    for i in range(len(outputs)):
        for j in range(i):
            assert (outputs[i] - outputs[j]).abs().mean() > 0.01  # three different priors


def test_a_generator_baseline_records_one_row_of_the_mean_and_sd_over_seeds(tiny_home: Path, tmp_path: Path) -> None:
    board = tmp_path / "board"
    (result,) = run_baseline(
        "pca-gan", data_home=tiny_home, out=tmp_path / "o", leaderboard=board, params=FAST, generator_seeds=[0, 2]
    )
    files = {0: tmp_path / "o" / "sub-01.npy", 2: tmp_path / "o" / "sub-01.generator-seed2.npy"}
    assert result.generator_seeds == [0, 2] and result.seed_submissions == files
    for seed, file in files.items():  # each seed's submission, with its own sidecar
        sidecar = json.loads(file.with_suffix(".json").read_text())
        assert sidecar["parameters"]["generator_seed"] == seed and sidecar["generator_seeds"] == [0, 2]
    assert files[0].read_bytes() != files[2].read_bytes()
    reports = {s: score_submission(f, data_home=tiny_home, record=False) for s, f in files.items()}
    (row,) = [r for r in Leaderboard(board).rows() if r["name"] == "pca-gan"]  # ONE row, not one per seed
    assert row["generator_seeds"] == [0, 2] and row["submission"] == "sub-01.npy"
    assert set(row["generator_seed_submissions"]) == {"0", "2"}
    for key in ("pixcorr", "ssim", "pixel_identification"):
        values = [reports[s].metrics[key] for s in (0, 2)]
        assert row["metrics"][key] == pytest.approx(np.mean(values), abs=2e-6), key
        assert row["generator_seed_sd"][key] == pytest.approx(np.std(values, ddof=1), abs=2e-6), key
        assert result.seed_sd[key] == pytest.approx(np.std(values, ddof=1), abs=1e-9)
        assert row["generator_seed_sd"][key] > 0
    per_image = Leaderboard(board).per_image(row)["pixcorr"]  # what `fmri-bench compare` reads
    expected = np.mean([reports[s].evaluation.per_image["pixcorr"] for s in (0, 2)], axis=0)
    np.testing.assert_allclose(per_image, expected, rtol=1e-5, atol=1e-6)
    # An explicit generator_seed: one seed, one ordinary row; and the reused brain-side fit of
    # the run above gave the same bytes as this fresh fit with seed 2.
    (single,) = run_baseline(
        "pca-gan", data_home=tiny_home, out=tmp_path / "s", leaderboard=board, params={**FAST, "generator_seed": "2"}
    )
    assert single.generator_seeds == [] and sorted(p.name for p in (tmp_path / "s").glob("*.npy")) == ["sub-01.npy"]
    assert single.submission_path.read_bytes() == files[2].read_bytes()
    (row,) = [r for r in Leaderboard(board).rows() if r["name"] == "pca-gan"]
    assert "generator_seeds" not in row and row["metrics"]["pixcorr"] == pytest.approx(
        reports[2].metrics["pixcorr"], abs=1e-6
    )


def test_srm_gan_runs_its_seeds_on_a_shared_brain_side_fit(tiny_home: Path, tmp_path: Path) -> None:
    results = run_baseline(
        "srm-gan", data_home=tiny_home, out=tmp_path / "o", subject="all", score=False,
        params={"search_steps": "2", "features": "8", "n_iter": "2"}, generator_seeds=[1, 2],
    )  # fmt: skip
    fresh = run_baseline(
        "srm-gan", data_home=tiny_home, out=tmp_path / "f", subject="all", score=False,
        params={"search_steps": "2", "features": "8", "n_iter": "2", "generator_seed": "2"},
    )  # fmt: skip
    for result, single in zip(results, fresh):
        assert result.generator_seeds == [1, 2] and result.submission_path.name == f"{result.subject}.npy"
        assert result.seed_submissions[2].read_bytes() == single.submission_path.read_bytes()


def _seed_rows() -> list[dict]:
    base = {"kind": "reconstruction", "dataset": "synthetic", "version": "v1", "protocol": "mindeye"}
    rows = []
    for subject, mean in (("sub-01", 0.513), ("sub-02", 0.613)):
        rows.append({**base, "name": "gan <b>|x", "subject": subject, "metrics": {"pixcorr": mean, "ssim": 0.5},
                     "generator_seeds": [0, 1, 2], "generator_seed_sd": {"pixcorr": 0.003, "ssim": 0.01}})  # fmt: skip
        rows.append({**base, "name": "ridge", "subject": subject, "metrics": {"pixcorr": 0.4, "ssim": 0.45}})
    return rows


def test_rendering_shows_the_spread_over_seeds_and_says_so(capsys: pytest.CaptureFixture) -> None:
    rows = _seed_rows()
    note = "rows marked † are mean ± sd over generator seeds 0, 1, 2"
    md = render_markdown(rows)
    assert "| gan &lt;b&gt;\\|x † | sub-01 | 0.513 ± 0.003 |" in md and note in md
    assert "| ridge | sub-01 | 0.400 |" in md  # other rows unmarked
    assert "| gan &lt;b&gt;\\|x | *mean ± sd (2 subjects)* | 0.563 ± 0.071 |" in md  # over subjects, of the means
    page = render_html(rows)
    assert "gan &lt;b&gt;|x †" in page and "0.513 ± 0.003" in page and note in page and "<b>|x" not in page
    render_terminal(rows)
    out = capsys.readouterr().out
    assert "0.513 ±0.003" in out and "†" in out and "generator seeds 0, 1, 2" in out
    lines = render_csv(rows).splitlines()
    header = lines[0].split(",")
    seeded = next(line.split(",") for line in lines if line.startswith("reconstruction") and "sub-01" in line)
    assert seeded[header.index("generator_seeds")] == "0 1 2" and seeded[header.index("pixcorr_sd")] == "0.003"


def test_generator_seed_is_validated_before_any_work(tiny_home: Path, capsys: pytest.CaptureFixture) -> None:
    common = ["--data-home", str(tiny_home), "--no-score"]
    for args, message in (
        (["--param", "generator_seed=-1"], "generator_seed"),
        (["--generator-seeds", "0,x"], "--generator-seeds"),
        (["--generator-seeds", "1,1"], "--generator-seeds"),
        (["--generator-seeds", "0,1", "--param", "generator_seed=1"], "not both"),
    ):
        assert main(["run-baseline", "pca-gan", *common, *args]) != 0, args
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert main(["run-baseline", "pca-ridge", *common, "--generator-seeds", "0,1"]) != 0
    assert "uses no image generator" in capsys.readouterr().err
    with pytest.raises(FmriBenchError, match="generator_seed"):
        run_baseline("srm-gan", data_home=tiny_home, score=False, params={"generator_seed": str(2**32)})


def test_subjects_in_worker_processes_give_the_same_bytes(tiny_home: Path, tmp_path: Path) -> None:
    """n_jobs=2 fits the subjects in loky workers: the same submissions and sidecar parameters as one process."""
    from fmri_bench.data import prepared_subjects

    assert len(prepared_subjects("synthetic", "v1", data_home=tiny_home)) >= 2
    for name, params, seeds in (("pca-ridge", {"n_components": "20"}, None), ("pca-gan", FAST, [0, 1])):
        runs = {
            jobs: run_baseline(
                name,
                subject="all",
                data_home=tiny_home,
                out=tmp_path / f"{name}-{jobs}",
                score=False,
                params=params,
                generator_seeds=seeds,
                n_jobs=jobs,
            )  # fmt: skip
            for jobs in (1, 2)
        }
        files = sorted(p.name for p in (tmp_path / f"{name}-1").glob("*.npy"))
        assert files == sorted(p.name for p in (tmp_path / f"{name}-2").glob("*.npy")) and len(files) >= 2
        for file in files:
            assert (tmp_path / f"{name}-1" / file).read_bytes() == (tmp_path / f"{name}-2" / file).read_bytes(), file
        assert [r.params for r in runs[1]] == [r.params for r in runs[2]]


def test_the_demo_runs_baselines_at_once_in_workers_and_every_row_lands(tiny_home: Path, tmp_path: Path) -> None:
    """The demo's baselines run concurrently (loky workers) into one leaderboard: nothing lost, same bytes."""
    from fmri_bench.pipeline.demo import _run_demo_baseline
    from fmri_bench.pipeline.workers import map_in_workers

    board = tmp_path / "board"
    names = ["pca-ridge", "srm-ridge"]
    done = map_in_workers(_run_demo_baseline, [(n, 0, "cpu", board, tiny_home) for n in names], 2)
    assert [name for name, _, _ in done] == names and all(seconds > 0 for _, seconds, _ in done)
    from fmri_bench.data import prepared_subjects

    rows = Leaderboard(board).rows()
    subjects = set(prepared_subjects("synthetic", "v1", data_home=tiny_home))
    assert len(subjects) >= 2
    for name in names:
        assert {r["subject"] for r in rows if r["name"] == name and r["version"] == "v1"} == subjects, name
    assert {r["subject"] for r in rows if r["name"].startswith("chance")} == subjects  # the reference rows too
    alone = run_baseline("pca-ridge", subject="all", data_home=tiny_home, out=tmp_path / "alone", score=False)
    for result in alone:
        in_worker = tiny_home / "submissions" / "synthetic" / "v1" / "pca-ridge" / f"{result.subject}.npy"
        assert in_worker.read_bytes() == result.submission_path.read_bytes()


def _environment_variable(name: str) -> str | None:
    import os

    return os.environ.get(name)


def test_workers_start_with_the_malloc_settings_and_the_parent_keeps_its_environment() -> None:
    import os

    from fmri_bench.pipeline.workers import map_in_workers
    from fmri_bench.threads import MALLOC_TUNABLES

    if "GLIBC_TUNABLES" in os.environ:
        pytest.skip("GLIBC_TUNABLES is set in this environment: the workers inherit it as it is")
    seen = map_in_workers(_environment_variable, [("GLIBC_TUNABLES",), ("GLIBC_TUNABLES",)], 2)
    assert seen == [MALLOC_TUNABLES, MALLOC_TUNABLES]
    assert "GLIBC_TUNABLES" not in os.environ  # restored once the workers started
