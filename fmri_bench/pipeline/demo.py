"""The demo: the whole chain on the embedded synthetic dataset, every built-in baseline."""

from __future__ import annotations

import time
from pathlib import Path

from fmri_bench.estimators import BASELINES
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.paths import leaderboard_dir
from fmri_bench.pipeline.data import prepare_dataset, raw_dir
from fmri_bench.pipeline.run import run_baseline
from fmri_bench.pipeline.workers import map_in_workers
from fmri_bench.progress import get_logger
from fmri_bench.recipe import load_recipe

log = get_logger(__name__)
#: The versions the demo prepares: sanity checks run on each, decoders on the first.
DEMO_VERSIONS = ("v1", "v2")


def demo_baselines() -> list[str]:
    """Built-in baselines in demo order: sanity checks (classification) first, then by name.

    Returns
    -------
    list of str
    """
    builtin = [n for n in BASELINES.names() if BASELINES.origin(n).startswith("fmri_bench.baselines.")]
    return sorted(builtin, key=lambda n: (BASELINES.get(n).kind != "classification", n))


def _run_demo_baseline(name: str, seed: int, device: str, board: Path, home: Path) -> tuple[str, float, dict]:
    """One baseline on every subject (its versions), recorded; seconds; sd over generator seeds per subject."""
    start = time.perf_counter()
    versions = DEMO_VERSIONS if BASELINES.get(name).kind == "classification" else DEMO_VERSIONS[:1]
    seed_sd: dict[str, dict] = {}
    for version in versions:
        results = run_baseline(name, dataset="synthetic", version=version, subject="all", seed=seed, device=device,
                               leaderboard=board, data_home=home)  # fmt: skip
        if results[0].generator_seeds:
            seed_sd = {r.subject: r.seed_sd for r in results}
    return name, time.perf_counter() - start, seed_sd


def run_demo(
    *,
    data_home: str | Path | None = None,
    leaderboard: str | Path | None = None,
    seed: int = 0,
    baselines: list[str] | None = None,
    device: str = "auto",
    n_jobs: int = -1,
) -> dict[str, object]:
    """Simulate and prepare the synthetic dataset, run every baseline on every subject, score, record.

    Classification baselines (sanity checks) run on every demo version; reconstruction
    baselines on the first.

    Parameters
    ----------
    data_home : path-like, optional
        The data home.
    leaderboard : path-like, optional
        The leaderboard folder (default: ``<data home>/leaderboard``).
    seed : int
        Every baseline's seed.
    baselines : list of str, optional
        Run only these.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    n_jobs : int
        Baselines run at once (worker processes, the longest first; default -1: every CPU),
        and prepare's runs.

    Returns
    -------
    dict
        ``timings`` (seconds per stage), ``generator_seed_sd`` (generator-based baselines:
        baseline -> subject -> metric key -> sd over generator seeds), and where everything
        went: ``prepared``, ``raw``, ``submissions``, ``leaderboard``.
    """
    home = resolve_data_home(data_home)
    board = leaderboard_dir(leaderboard, home)
    names = baselines or demo_baselines()
    for name in names:
        BASELINES.get(name)  # an unknown name fails before any work
    timings: dict[str, float] = {}
    seed_sd: dict[str, dict[str, dict]] = {}
    start = time.perf_counter()
    log.info("1/3 simulate + prepare the synthetic dataset (%s)", ", ".join(DEMO_VERSIONS))
    prepared = prepare_dataset("synthetic", versions=DEMO_VERSIONS, data_home=home, n_jobs=n_jobs)
    timings["simulate+prepare"] = time.perf_counter() - start
    log.info("2/3 baselines: %s", ", ".join(names))
    # The generator-based baselines (three generator seeds each) are the longest: first, so
    # that the short ones fill the other worker at the end.
    ordered = sorted(names, key=lambda n: (not BASELINES.get(n).generator_seeds, n))
    jobs = [(name, seed, device, board, home) for name in ordered]
    for name, seconds, sd in map_in_workers(_run_demo_baseline, jobs, n_jobs):
        timings[name] = seconds
        seed_sd.update({name: sd} if sd else {})
    timings["total"] = time.perf_counter() - start
    return {
        "timings": timings,
        "generator_seed_sd": seed_sd,
        "prepared": prepared,
        "raw": raw_dir(load_recipe("synthetic"), home),
        "submissions": home / "submissions" / "synthetic",
        "leaderboard": board,
    }
