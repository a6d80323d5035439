"""``fmri-bench version``: the versions that results are recorded with."""

from __future__ import annotations

import typer

from fmri_bench.cli._app import app
from fmri_bench.provenance import package_versions


@app.command("version")
def version_command() -> None:
    """Print the versions of fmri-bench and of the libraries that shape its results."""
    for name, value in package_versions().items():
        typer.echo(f"{name} {value}")
