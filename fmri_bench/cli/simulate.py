"""``fmri-bench simulate``: write the embedded synthetic BIDS dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from fmri_bench.cli._app import app
from fmri_bench.errors import FmriBenchError


@app.command("simulate")
def simulate_command(
    out_dir: Annotated[Path, typer.Argument(help="New (or empty) folder for the BIDS dataset.")],
    size: Annotated[str, typer.Option("--size", help="Size preset: tiny or default.")] = "default",
    seed: Annotated[int, typer.Option("--seed", help="Seed; the same seed gives identical files.")] = 0,
    motion: Annotated[
        Optional[bool],
        typer.Option("--motion/--no-motion", help="Head motion in the BOLD (default: the size preset's)."),
    ] = None,
) -> None:
    """Write a synthetic dataset laid out like OpenNeuro ds001506, with known ground truth."""
    from fmri_bench.raw.simulate import SIZES, simulate_dataset

    if size not in SIZES:
        raise FmriBenchError(f"unknown --size {size!r}; expected one of: {', '.join(SIZES)}")
    start = time.perf_counter()
    root = simulate_dataset(out_dir, size=size, seed=seed, motion=motion)
    typer.echo(f"simulated {size} dataset (seed {seed}) in {root} ({time.perf_counter() - start:.1f} s)")
