"""``fmri-bench score``, ``fmri-bench leaderboard`` and ``fmri-bench weights``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from fmri_bench.cli._app import DataHomeOption, LeaderboardOption, app
from fmri_bench.errors import FmriBenchError


def _report_table(reports: list, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from fmri_bench.leaderboard import Cell, format_cell
    from fmri_bench.leaderboard.terminal import escape as term_escape
    from fmri_bench.metrics import METRICS

    first = reports[0]
    table = Table(
        title=term_escape(f"{first.name} · {first.dataset} {first.version} · {first.n_images} {first.split} images")
    )
    table.add_column("metric")
    table.add_column("better")
    for r in reports:
        table.add_column(term_escape(r.subject), justify="right")
    table.add_column("seconds", justify="right")
    for key in first.metrics:
        metric = METRICS.get(key)
        cells = []
        for r in reports:
            value = r.metrics[key]
            cells.append(
                escape(format_cell(Cell(value=value, ci=r.intervals.get(key)))) if value is not None else "[dim]n/a[/]"
            )
        seconds = sum(r.seconds.get(key, 0.0) for r in reports)
        table.add_row(metric.label, "higher" if metric.higher_is_better else "lower", *cells, f"{seconds:.2f}")
    console.print(table)
    reasons = {k: v for r in reports for k, v in r.unavailable.items()}
    for key, reason in reasons.items():
        console.print(f"n/a {key}: {escape(reason)}")
    for r in reports:
        if r.gallery:
            console.print(f"gallery: {escape(r.gallery)}")
    if first.recorded:
        console.print(f"recorded in {first.leaderboard}")


@app.command("score")
def score_command(
    submission: Annotated[
        str, typer.Argument(help="Submission .npy; with --subject all: a folder, a {subject} template, or one file.")
    ],
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name.")] = "synthetic",
    version: Annotated[str, typer.Option("--version", help="Dataset version.")] = "v1",
    subject: Annotated[str, typer.Option("--subject", help="Subject (sub-01), or 'all'.")] = "sub-01",
    split: Annotated[
        str, typer.Option("--split", help="Reconstructed split: test, or artificial / letter where prepared.")
    ] = "test",
    name: Annotated[
        Optional[str], typer.Option("--name", help="Leaderboard name (default: sidecar name/method, else file stem).")
    ] = None,
    leaderboard: LeaderboardOption = None,
    no_record: Annotated[bool, typer.Option("--no-record", help="Do not record a leaderboard row.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    data_home: DataHomeOption = None,
) -> None:
    """Validate a submission, compute every available metric, record a row with its gallery picture."""
    from rich.console import Console

    from fmri_bench.paths import leaderboard_dir
    from fmri_bench.pipeline import score_subjects, score_submission

    board = leaderboard_dir(leaderboard, data_home)
    if not no_record and board.exists() and not board.is_dir():
        raise FmriBenchError(f"--leaderboard {board}: not a folder; expected a folder for the leaderboard record")
    kwargs = {
        "dataset": dataset,
        "version": version,
        "name": name,
        "leaderboard": None if no_record else board,
        "record": not no_record,
        "data_home": data_home,
        "split": split,
    }
    if subject == "all":
        reports = score_subjects(submission, **kwargs)
    else:
        reports = [score_submission(submission, subject=subject, **kwargs)]
    if as_json:
        if len(reports) == 1:
            payload = reports[0].to_dict()
        else:
            from fmri_bench.stats import mean_over_subjects

            means = {k: mean_over_subjects([r.metrics[k] for r in reports])[0] for k in reports[0].metrics}
            payload = {
                "name": reports[0].name,
                "dataset": dataset,
                "version": version,
                "split": split,
                "subject": "all",
                "metrics": means,
                "unavailable": {k: v for r in reports for k, v in r.unavailable.items()},
                "subjects": {r.subject: r.to_dict() for r in reports},
            }
        typer.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        _report_table(reports, Console())


class BoardFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    html = "html"
    csv = "csv"


@app.command("leaderboard")
def leaderboard_command(
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only this dataset.")] = None,
    version: Annotated[Optional[str], typer.Option("--version", help="Only this version.")] = None,
    leaderboard: LeaderboardOption = None,
    fmt: Annotated[
        BoardFormat, typer.Option("--format", help="table (terminal), markdown, html or csv.")
    ] = BoardFormat.table,
    data_home: DataHomeOption = None,
) -> None:
    """Show the leaderboard in the terminal, or export it as markdown, html or csv (to stdout)."""
    from fmri_bench import leaderboard as lb
    from fmri_bench.paths import leaderboard_dir

    folder = leaderboard_dir(leaderboard, data_home)
    if folder.exists() and not folder.is_dir():
        raise FmriBenchError(f"--leaderboard {folder}: not a folder; expected the leaderboard folder")
    rows = lb.Leaderboard(folder).rows()
    if fmt is BoardFormat.table:
        lb.render_terminal(rows, dataset=dataset, version=version)
    elif fmt is BoardFormat.markdown:
        typer.echo(lb.render_results_markdown(rows, dataset=dataset, version=version), nl=False)
    elif fmt is BoardFormat.html:
        typer.echo(lb.render_html(rows, dataset=dataset, version=version), nl=False)
    else:
        typer.echo(lb.render_csv(rows, dataset=dataset, version=version), nl=False)


weights_app = typer.Typer(
    help="Which networks' weights are present; import a downloaded weight file.",
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(weights_app, name="weights")


def _weights_list() -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from fmri_bench.metrics import METRICS, ordered_names
    from fmri_bench.weights import BACKBONES, checkpoints_dir, status

    users: dict[str, list[str]] = {}
    for key in ordered_names():
        metric = METRICS.get(key)
        if metric.backbone:
            users.setdefault(metric.backbone, []).append(key)
    table = Table(title=f"weights in {checkpoints_dir()}")
    for col in ("backbone", "metrics", "status", "file / reason"):
        table.add_column(col)
    for resolved in status():
        bb = BACKBONES[resolved.backbone]
        if resolved.available:
            detail = f"{resolved.path.name} (sha256 {resolved.sha256[:12]}...)"
            state = "[green]present[/]"
        else:
            detail = resolved.reason or ""
            state = "[red]absent[/]"
        table.add_row(bb.name, ", ".join(users.get(bb.name, [])) or "-", state, escape(detail))
    Console().print(table)


@weights_app.callback()
def weights_root(ctx: typer.Context) -> None:
    """Which networks' weights are present; import a downloaded weight file."""
    if ctx.invoked_subcommand is None:
        _weights_list()


@weights_app.command("list")
def weights_list() -> None:
    """List every declared backbone, the metrics that use it, and whether its weights are present."""
    _weights_list()


@weights_app.command("import")
def weights_import(
    name: Annotated[str, typer.Argument(help="Backbone name (see `fmri-bench weights list`).")],
    file: Annotated[Path, typer.Argument(help="The weight file you downloaded.")],
) -> None:
    """Check a downloaded weight file's checksum and copy it into the torch cache."""
    from fmri_bench.weights import import_weights

    destination = import_weights(name, file)
    typer.echo(f"imported {file} as {destination}")
