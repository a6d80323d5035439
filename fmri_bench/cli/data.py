"""``fmri-bench prepare`` and ``fmri-bench verify``: build and check the prepared arrays."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from fmri_bench.cli._app import DataHomeOption, app
from fmri_bench.errors import FmriBenchError

DatasetArgument = Annotated[
    str, typer.Argument(help="synthetic (the embedded dataset), ds001506 or ds001246, or a recipe .toml.")
]


def _versions(version: str) -> list[str] | str:
    return "all" if version == "all" else [v.strip() for v in version.split(",") if v.strip()]


@app.command("prepare")
def prepare_command(
    dataset: DatasetArgument = "synthetic",
    version: Annotated[str, typer.Option("--version", help="v1, v2 or all (every version of the recipe).")] = "all",
    subject: Annotated[
        Optional[list[str]],
        typer.Option("--subject", help="Subject to prepare (repeatable or comma-separated; default: all)."),
    ] = None,
    source: Annotated[
        Optional[Path], typer.Option("--source", help="A local BIDS copy (read only) instead of downloading.")
    ] = None,
    stimuli: Annotated[
        Optional[Path], typer.Option("--stimuli", help="Folder of stimulus images named by stimulus_name.")
    ] = None,
    fmriprep: Annotated[
        Optional[Path],
        typer.Option("--fmriprep", help="fMRIPrep derivatives of --source (default: SOURCE/derivatives/fmriprep)."),
    ] = None,
    data_home: DataHomeOption = None,
    n_jobs: Annotated[int, typer.Option("--n-jobs", help="Runs processed in parallel (at most the CPU count).")] = 1,
    backend: Annotated[
        Optional[str], typer.Option("--backend", help="loky or threading (joblib), or dask (a Dask cluster).")
    ] = None,
    scheduler: Annotated[
        Optional[str],
        typer.Option("--scheduler", help="With --backend dask: the scheduler's address (default: a local cluster)."),
    ] = None,
) -> None:
    """Build the versioned arrays of a dataset (v1 block average, v2 single-trial GLM) and their reliability figures."""
    from fmri_bench.pipeline import prepare_dataset

    if n_jobs == 0:
        raise FmriBenchError("--n-jobs must be a positive number, or negative to count back from all cores")
    subjects = [s.strip() for item in subject for s in item.split(",") if s.strip()] if subject else None
    start = time.perf_counter()
    folders = prepare_dataset(
        dataset,
        versions=_versions(version),
        subjects=subjects,
        source=source,
        stimuli=stimuli,
        fmriprep=fmriprep,
        data_home=data_home,
        n_jobs=n_jobs,
        backend=backend,
        scheduler=scheduler,
    )
    for folder in folders:
        typer.echo(str(folder))
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")


@app.command("verify")
def verify_command(
    dataset: DatasetArgument = "synthetic",
    version: Annotated[str, typer.Option("--version", help="v1, v2 or all (every prepared version).")] = "all",
    data_home: DataHomeOption = None,
) -> None:
    """Re-hash the prepared files against their manifest; exit 1 naming the first that differs."""
    from fmri_bench.prepare import verify

    for folder in verify(dataset, versions=_versions(version), data_home=data_home):
        typer.echo(f"ok {folder}")
