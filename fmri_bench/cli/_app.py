"""The typer application and options shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="fmri-bench",
    help=(
        "Datasets, baselines and standardized scoring for reconstructing seen images "
        "from fMRI. Add --verbose anywhere to see tracebacks."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Reused option types, so every command spells them the same way.
DataHomeOption = Annotated[
    Optional[Path],
    typer.Option(
        "--data-home",
        help="Data folder (default: $FMRI_BENCH_HOME, else ~/fmri_bench_data).",
        show_default=False,
    ),
]
LeaderboardOption = Annotated[
    Optional[Path],
    typer.Option(
        "--leaderboard",
        help="Leaderboard folder (default: <data home>/leaderboard; ./dev demo passes the repository's leaderboard/).",
        show_default=False,
    ),
]


def _print_version(value: bool) -> None:
    if value:
        from fmri_bench import __version__

        typer.echo(f"fmri-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Datasets, baselines and standardized scoring for reconstructing seen images from fMRI.

    Add --verbose anywhere on the command line to see tracebacks.
    """
