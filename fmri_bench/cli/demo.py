"""``fmri-bench demo``: the whole benchmark on the embedded synthetic dataset.

simulate -> prepare v1 and v2 -> every built-in baseline for every subject -> score ->
leaderboard (terminal table, README.md, index.html, galleries).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fmri_bench.cli._app import DataHomeOption, LeaderboardOption, app


@app.command("demo")
def demo_command(
    data_home: DataHomeOption = None,
    leaderboard: LeaderboardOption = None,
    seed: Annotated[int, typer.Option(help="Seed of every baseline.")] = 0,
    baseline: Annotated[
        Optional[list[str]], typer.Option("--baseline", help="Run only these baselines (repeatable).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    n_jobs: Annotated[
        int, typer.Option("--n-jobs", help="Baselines run at once in worker processes (-1: every CPU).")
    ] = -1,
) -> None:
    """Run the whole benchmark on the embedded synthetic dataset and print the leaderboard."""
    from fmri_bench.leaderboard import Leaderboard, render_terminal
    from fmri_bench.pipeline import run_demo

    out = run_demo(
        data_home=data_home, leaderboard=leaderboard, seed=seed, baselines=baseline, device=device, n_jobs=n_jobs
    )
    board: Path = out["leaderboard"]  # type: ignore[assignment]
    rows = [r for r in Leaderboard(board).rows() if r.get("dataset") == "synthetic"]
    render_terminal(rows, dataset="synthetic")
    timings: dict[str, float] = out["timings"]  # type: ignore[assignment]
    typer.echo("")
    typer.echo(f"prepared arrays:  {', '.join(str(p) for p in out['prepared'])}")  # type: ignore[union-attr]
    typer.echo(f"raw BIDS:         {out['raw']}")
    typer.echo(f"submissions:      {out['submissions']}  (each .npy has a .json sidecar)")
    typer.echo(f"leaderboard:      {board / 'results.jsonl'} (record), {board / 'README.md'}, {board / 'index.html'}")
    typer.echo(f"galleries:        {board / 'gallery'}")
    typer.echo("time per stage:   " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
