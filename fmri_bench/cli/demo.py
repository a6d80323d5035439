"""``fmri-bench demo``: the whole benchmark on the embedded synthetic dataset.

simulate -> prepare v1 and v2 -> every built-in baseline for every subject -> score ->
leaderboard (terminal table, leaderboard/README.md, index.html, galleries).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from fmri_bench.cli._app import DataHomeOption, LeaderboardOption, app
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.paths import leaderboard_dir
from fmri_bench.progress import console

#: The order the demo runs them in: the sanity check first, the slow GANs last.
DEMO_ORDER = ("svm-sanity", "pca-ridge", "srm-ridge", "srm-ensemble", "pca-gan", "srm-gan")


def demo_baselines() -> list[str]:
    """Built-in baselines in demo order (registered extras after the named ones)."""
    from fmri_bench.baselines._base import BASELINES

    builtin = [n for n in BASELINES.names() if BASELINES.origin(n).startswith("fmri_bench.baselines.")]
    return [n for n in DEMO_ORDER if n in builtin] + sorted(n for n in builtin if n not in DEMO_ORDER)


def run_demo(
    *,
    data_home: Path | None = None,
    leaderboard: Path | None = None,
    seed: int = 0,
    baselines: list[str] | None = None,
    device: str = "auto",
) -> dict[str, float]:
    """Run the demo; return the seconds spent per stage."""
    from fmri_bench.leaderboard import Leaderboard, render_terminal
    from fmri_bench.prepare import prepare
    from fmri_bench.runner import run_baseline

    home = resolve_data_home(data_home)
    board = leaderboard_dir(leaderboard, home)
    names = baselines or demo_baselines()
    timings: dict[str, float] = {}

    start = time.perf_counter()
    console.rule("[bold]1/3 simulate + prepare the synthetic dataset (v1, v2)")
    prepared = prepare("synthetic", versions=("v1", "v2"), data_home=home)
    timings["simulate+prepare"] = time.perf_counter() - start

    console.rule(f"[bold]2/3 baselines: {', '.join(names)}")
    for name in names:
        # The sanity check runs on both versions, as in the seed notebook; decoders on v1.
        versions = ("v1", "v2") if name == "svm-sanity" else ("v1",)
        t0 = time.perf_counter()
        for version in versions:
            run_baseline(name, dataset="synthetic", version=version, subject="all", seed=seed,
                         device=device, leaderboard=board, data_home=home)
        timings[name] = time.perf_counter() - t0

    console.rule("[bold]3/3 leaderboard")
    rows = Leaderboard(board).rows()
    render_terminal([r for r in rows if r.get("dataset") == "synthetic"], dataset="synthetic")
    timings["total"] = time.perf_counter() - start

    typer.echo("")
    typer.echo(f"prepared arrays:  {', '.join(str(p) for p in prepared)}")
    typer.echo(f"raw BIDS:         {home / 'raw' / 'synthetic'}")
    typer.echo(f"submissions:      {home / 'submissions' / 'synthetic'}  (each .npy has a .json sidecar and a .grid.png)")
    typer.echo(f"leaderboard:      {board / 'results.jsonl'} (record), {board / 'README.md'}, {board / 'index.html'}")
    typer.echo(f"galleries:        {board / 'gallery'}")
    typer.echo("time per stage:   " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    return timings


@app.command("demo")
def demo_command(
    data_home: DataHomeOption = None,
    leaderboard: LeaderboardOption = None,
    seed: Annotated[int, typer.Option(help="Seed of every baseline.")] = 0,
    baseline: Annotated[
        Optional[list[str]], typer.Option("--baseline", help="Run only these baselines (repeatable).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Run the whole benchmark on the embedded synthetic dataset and print the leaderboard."""
    run_demo(data_home=data_home, leaderboard=leaderboard, seed=seed, baselines=baseline, device=device)
