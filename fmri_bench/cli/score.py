"""``fmri-bench score``, ``fmri-bench leaderboard`` and ``fmri-bench weights``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from fmri_bench.cli._app import DataHomeOption, LeaderboardOption, app
from fmri_bench.errors import FmriBenchError

ProtocolOption = Annotated[
    str,
    typer.Option(
        "--protocol",
        help="Scoring protocol: mindeye (as published), brain-diffuser or kamitani (`fmri-bench list protocols`).",
    ),
]


def _report_table(reports: list, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from fmri_bench.leaderboard import Cell, format_cell
    from fmri_bench.leaderboard.terminal import escape as term_escape
    from fmri_bench.metrics import get_protocol

    first = reports[0]
    proto = get_protocol(first.protocol)
    table = Table(
        title=term_escape(
            f"{first.name} · {first.dataset} {first.version} · {first.n_images} {first.split} images · "
            f"protocol {first.protocol} v{first.protocol_version}"
        )
    )
    table.add_column("metric")
    table.add_column("better")
    for r in reports:
        table.add_column(term_escape(r.subject), justify="right")
    table.add_column("seconds", justify="right")
    for key in first.metrics:
        metric = proto.metric(key)
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
        console.print(f"n/a {key}: {escape(term_escape(reason))}")
    for r in reports:
        if r.gallery:
            console.print(f"gallery: {term_escape(r.gallery)}")
    if first.recorded:
        console.print(f"recorded in {term_escape(first.leaderboard)}")


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
    protocol: ProtocolOption = "mindeye",
) -> None:
    """Validate a submission, compute every available metric, record a row with its gallery picture."""
    from rich.console import Console

    from fmri_bench.metrics import get_protocol
    from fmri_bench.paths import leaderboard_dir
    from fmri_bench.pipeline import score_subjects, score_submission

    get_protocol(protocol)  # an unknown protocol: one line, before any work
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
        "protocol": protocol,
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
                "protocol": reports[0].protocol,
                "protocol_version": reports[0].protocol_version,
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
    help="Network weights: which are present, fetch them (official URL or a mirror), or import a file.",
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(weights_app, name="weights")


def _weights_list() -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from fmri_bench.metrics import get_protocol, protocol_names
    from fmri_bench.weights import checkpoints_dir, file_states, resolve

    users: dict[str, dict[str, list[str]]] = {}
    for name in protocol_names():
        proto = get_protocol(name)
        for key in proto.names():
            backbone = proto.metric(key).backbone
            if backbone:
                users.setdefault(backbone, {}).setdefault(name, []).append(key)
    colours = {"verified": "green", "pinned": "green", "partial": "yellow", "absent": "dim"}
    table = Table(title=f"weights in {checkpoints_dir()}")
    for col in ("backbone", "used by", "file", "state", "detail"):
        table.add_column(col, overflow="fold")
    for state in file_states():
        colour = colours.get(state.state, "red")
        table.add_row(
            state.backbone,
            "; ".join(f"{p}: {' '.join(keys)}" for p, keys in users.get(state.backbone, {}).items()) or "-",
            escape(state.filename),
            f"[{colour}]{state.state}[/]", escape(state.detail),
        )  # fmt: skip
    console = Console()
    console.print(table)
    for backbone in users:
        resolved = resolve(backbone)
        if not resolved.available and resolved.reason and "not installed" in resolved.reason:
            console.print(f"{backbone}: {escape(resolved.reason)}")


@weights_app.callback()
def weights_root(ctx: typer.Context) -> None:
    """Network weights: which are present, fetch them (official URL or a mirror), or import a file."""
    if ctx.invoked_subcommand is None:
        _weights_list()


@weights_app.command("list")
def weights_list() -> None:
    """Every accepted weight file of every backbone: the metrics that use it and its state."""
    _weights_list()


@weights_app.command("import")
def weights_import(
    name: Annotated[str, typer.Argument(help="Backbone name (see `fmri-bench weights list`).")],
    file: Annotated[Path, typer.Argument(help="The weight file you downloaded.")],
    sha256: Annotated[
        Optional[str], typer.Option("--sha256", help="For a file with no published checksum (SwAV): its sha256.")
    ] = None,
) -> None:
    """Check a downloaded weight file's checksum and copy it into the torch cache."""
    from fmri_bench.weights import import_weights

    destination = import_weights(name, file, sha256=sha256)
    typer.echo(f"imported {file} as {destination}")


@weights_app.command("fetch")
def weights_fetch(
    names: Annotated[Optional[list[str]], typer.Argument(help="Backbones (or clip, swav); see `weights list`.")] = None,
    fetch_all: Annotated[bool, typer.Option("--all", help="Every backbone with a public URL (over 1 GB).")] = False,
    mirror: Annotated[
        Optional[str], typer.Option("--from", help="A mirror: base URL holding the files under their names.")
    ] = None,
) -> None:
    """Download weight files (official URL or --from a mirror): size and progress shown, resumable, checksum checked."""
    from fmri_bench.progress import enable_progress
    from fmri_bench.weights import BACKBONES, fetch_weights, get_backbone

    if fetch_all == bool(names):
        raise FmriBenchError("name the backbones to fetch (see `fmri-bench weights list`), or pass --all")
    if mirror is not None and not mirror.startswith(("http://", "https://")):
        raise FmriBenchError(f"--from {mirror}: expected an http:// or https:// base URL")
    if fetch_all:
        chosen = [b.name for b in BACKBONES.values() if mirror or any(wf.url for wf in b.files)]
    else:
        chosen = list(dict.fromkeys(get_backbone(n).name for n in names))  # unknown names: one line, first
    enable_progress()
    for name in chosen:
        path = fetch_weights(name, mirror=mirror)
        typer.echo(f"{name}: {path}")
