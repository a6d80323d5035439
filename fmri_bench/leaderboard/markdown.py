"""Markdown renderings of the leaderboard: the README with definitions and result tables.

Every text that comes from a row (names, subjects, reasons, details) is escaped: HTML
special characters become entities, ``|``, backticks and brackets are escaped and line
breaks become spaces, so a crafted name can neither inject markup or links nor break a table.
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Any

from fmri_bench.leaderboard.table import Table, build_tables, format_cell


def escape(text: str) -> str:
    """Escape ``text`` for a markdown table cell.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    text = html.escape(str(text), quote=False)
    text = "".join(" " if ch in "\r\n\t\v\f" or ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    for ch in "\\|`[]":  # table cells, code spans, links and images; emphasis is harmless
        text = text.replace(ch, "\\" + ch)
    return text


def metric_definitions_markdown(protocol: str | None = None) -> str:
    """The metric definitions table of a protocol (from its registry, so it never drifts from the code).

    Parameters
    ----------
    protocol : str, optional
        The protocol (default: ``mindeye``).

    Returns
    -------
    str
    """
    from fmri_bench.metrics import get_protocol

    proto = get_protocol(protocol)
    out = [
        "| key | column | better | resolution chain | network / weights (node) | definition | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in proto.names():
        m = proto.metric(key)
        net = f"`{m.backbone}` `{m.node}`" if m.backbone else "none"
        better = "higher" if m.higher_is_better else "lower"
        cells = [f"`{key}`", m.label, better, m.preprocessing, net, m.description, m.source]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def protocols_markdown() -> str:
    """One section per protocol: version, what it reproduces, sources, departures, definitions.

    Returns
    -------
    str
    """
    from fmri_bench.metrics import get_protocol, protocol_names

    parts = []
    for name in protocol_names():
        proto = get_protocol(name)
        lines = [f"### Protocol `{proto.name}` (version {proto.version})", "", proto.title + ".", ""]
        lines += [f"- source: {src}" for src in proto.sources]
        lines += [f"- note: {note}" for note in proto.notes]
        lines += ["", metric_definitions_markdown(name), ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


def weights_markdown() -> str:
    """The accepted weight files per backbone, with checksums and the preprocessing they declare.

    Returns
    -------
    str
    """
    from fmri_bench.weights import BACKBONES

    out = [
        "| backbone | file (in `<torch hub dir>/checkpoints/`) | sha256 | input | normalization (mean / std) | source |",
        "|---|---|---|---|---|---|",
    ]
    for bb in BACKBONES.values():
        for wf in bb.files:
            sha = f"`{wf.sha256}`" if wf.sha256 else "none published or found: pinned on first download"
            norm = f"{list(wf.mean)} / {list(wf.std)}"
            extra = f" (needs `{bb.requires}`)" if bb.requires else ""
            out.append(f"| `{bb.name}`{extra} | `{wf.filename}` | {sha} | {wf.input_size} px | {norm} | {wf.source} |")
    return "\n".join(out)


def _markdown_table(table: Table) -> str:
    header = ["entry", "subject"] + [label for _, label, _ in table.shown_columns]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for line in table.lines:
        cells = []
        for key, _, _ in table.shown_columns:
            cell = line.shown(key)
            text = escape(cell.text) if cell.text is not None else format_cell(cell)
            cells.append(f"**{text}**" if cell.best else text)
        subject = f"*{escape(line.subject)}*" if line.aggregate else escape(line.subject)
        name = escape(line.label) + (" *(reference)*" if line.reference else "")
        out.append("| " + " | ".join([name, subject, *cells]) + " |")
    notes = table.notes()
    if notes:
        out.append("")
        out.extend(f"- n/a in {escape(label)}: {escape(reason)}" for label, reason in notes)
    networks = table.seed_notes() + table.network_notes()
    if networks:
        out.append("")
        out.extend(f"- {escape(note)}" for note in networks)
    return "\n".join(out)


def render_results_markdown(
    rows: list[dict[str, Any]], *, dataset: str | None = None, version: str | None = None
) -> str:
    """Markdown tables, one per dataset/version/kind (best per column in bold).

    Parameters
    ----------
    rows : list of dict
        Leaderboard rows.
    dataset, version : str, optional
        Only these.

    Returns
    -------
    str
    """
    tables = build_tables(rows, dataset=dataset, version=version)
    if not tables:
        return "_No results recorded yet._\n"
    parts = []
    for table in tables:
        parts.append(f"### {escape(table.title)}\n\n{_markdown_table(table)}\n")
    return "\n".join(parts)


def template(name: str) -> str:
    """The text of a template in ``fmri_bench/templates``.

    Parameters
    ----------
    name : str
        The file name.

    Returns
    -------
    str
    """
    return resources.files("fmri_bench").joinpath("templates", name).read_text(encoding="utf-8")


def render_markdown(rows: list[dict[str, Any]]) -> str:
    """The full leaderboard README: the contract (template), metric definitions, results.

    Parameters
    ----------
    rows : list of dict
        Leaderboard rows.

    Returns
    -------
    str
    """
    from fmri_bench.metrics import METRICS_VERSION

    text = template("leaderboard_README.md")
    text = text.replace("<!-- METRICS_VERSION -->", str(METRICS_VERSION))
    text = text.replace("<!-- METRIC_DEFINITIONS -->", protocols_markdown())
    text = text.replace("<!-- WEIGHTS -->", weights_markdown())
    return text.replace("<!-- RESULTS -->", render_results_markdown(rows).rstrip() + "\n")
