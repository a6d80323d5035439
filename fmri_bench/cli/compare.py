"""``fmri-bench compare``: two methods, image by image, with a paired permutation test per metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fmri_bench.cli._app import DataHomeOption, LeaderboardOption, app
from fmri_bench.cli.score import ProtocolOption
from fmri_bench.errors import FmriBenchError


def _is_file(arg: str) -> bool:
    return arg.endswith(".npy") or Path(arg).is_file()


@app.command("compare")
def compare_command(
    a: Annotated[str, typer.Argument(help="Leaderboard entry name, or a submission .npy.")],
    b: Annotated[str, typer.Argument(help="Leaderboard entry name, or a submission .npy.")],
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name.")] = "synthetic",
    version: Annotated[str, typer.Option("--version", help="Dataset version.")] = "v1",
    subject: Annotated[
        str,
        typer.Option(
            "--subject", help="Subject (sub-01), or all: every subject both entries have, their test images pooled."
        ),
    ] = "sub-01",
    protocol: ProtocolOption = "mindeye",
    leaderboard: LeaderboardOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    data_home: DataHomeOption = None,
) -> None:
    """Compare A and B per metric: mean difference, paired permutation p-value (Holm-adjusted), verdict."""
    from rich.console import Console
    from rich.table import Table

    from fmri_bench.leaderboard.terminal import escape
    from fmri_bench.metrics import get_protocol
    from fmri_bench.paths import leaderboard_dir
    from fmri_bench.pipeline.compare import compare_entries, compare_files

    proto = get_protocol(protocol)
    if _is_file(a) != _is_file(b):
        raise FmriBenchError("compare takes two leaderboard entries or two submission .npy files, not one of each")
    if _is_file(a):
        if subject == "all":
            raise FmriBenchError("--subject all compares leaderboard entries; for files give one subject")
        report = compare_files(a, b, dataset=dataset, version=version, subject=subject, protocol=proto.name,
                               data_home=data_home)  # fmt: skip
    else:
        board = leaderboard_dir(leaderboard, data_home)
        if board.exists() and not board.is_dir():
            raise FmriBenchError(f"--leaderboard {board}: not a folder; expected the leaderboard folder")
        report = compare_entries(a, b, leaderboard=board, dataset=dataset, version=version, subject=subject,
                                 protocol=proto.name)  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        return
    title = (
        f"A = {report.a} vs B = {report.b} · {report.dataset} {report.version} {report.subject} · "
        f"protocol {report.protocol} v{report.protocol_version} · {report.n_images} test images"
    )
    table = Table(title=escape(title), caption="paired permutation test over test images (sign flips), Holm-adjusted")
    for col in ("metric", "A", "B", "A - B", "p", "p_holm", "verdict"):
        table.add_column(col, justify="left" if col in ("metric", "verdict") else "right", overflow="fold")
    for c in report.comparisons:
        label = proto.metric(c.key).label + (" ↑" if proto.metric(c.key).higher_is_better else " ↓")
        table.add_row(escape(label), f"{c.mean_a:.4g}", f"{c.mean_b:.4g}", f"{c.mean_diff:+.4g}", f"{c.p_value:.3g}",
                      f"{c.p_holm:.3g}", escape(c.verdict))  # fmt: skip
    console = Console()
    console.print(table)
    by_reason: dict[str, list[str]] = {}
    for key, reason in report.skipped.items():
        by_reason.setdefault(reason, []).append(key)
    for reason, keys in by_reason.items():
        console.print(f"not compared ({escape(reason)}): {escape(', '.join(keys))}")
