"""The terminal rendering of the leaderboard (rich), sized to fit 80 columns."""

from __future__ import annotations

from typing import Any

from fmri_bench.leaderboard.table import DETAILS, _fmt, _fmt_sd, build_tables


def escape(text: str) -> str:
    """Text safe for a rich table: control characters (ANSI escapes) dropped, markup escaped.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    from rich.markup import escape as markup_escape

    cleaned = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return markup_escape(cleaned)


def render_terminal(
    rows: list[dict[str, Any]], *, dataset: str | None = None, version: str | None = None, console: Any = None
) -> None:
    """Print the tables with rich (best per column in bold green, references dimmed).

    To fit a terminal, columns that are n/a on every line are left out of the grid and
    listed under it with their reasons, and intervals are shown compactly. Classification
    tables show accuracy with its 95% interval in one cell, chance, p-value and details;
    the csv keeps every number. Text from rows is stripped of control characters (no ANSI
    escape sequence reaches the terminal) and rich markup is escaped.

    Parameters
    ----------
    rows : list of dict
        Leaderboard rows.
    dataset, version : str, optional
        Only these.
    console : rich.console.Console, optional
        Where to print (default: a new Console on stdout).
    """
    from rich.console import Console
    from rich.table import Table as RichTable

    console = console or Console()
    tables = build_tables(rows, dataset=dataset, version=version)
    if not tables:
        console.print("No results recorded yet.")
        return
    for table in tables:
        shown = [
            c
            for c in table.shown_columns
            if any(ln.shown(c[0]).value is not None or ln.shown(c[0]).text for ln in table.lines)
        ]
        notes = table.notes()
        caption = [*(f"n/a in {label}: {reason}" for label, reason in notes), *table.seed_notes()]
        caption = "\n".join([*caption, *table.network_notes()]) or None
        rt = RichTable(title=escape(table.title), caption=escape(caption) if caption else None, caption_justify="left")
        rt.add_column("entry", overflow="fold")
        rt.add_column("subject", overflow="fold")
        for key, label, higher in shown:
            arrow = "" if higher is None else (" ↑" if higher else " ↓")
            rt.add_column(escape(label) + arrow, justify="left" if key == DETAILS else "right", overflow="fold")
        for line in table.lines:
            cells = []
            for key, _, _ in shown:
                cell = line.shown(key)
                text = _fmt(cell.value)
                if cell.text is not None:
                    text = cell.text
                elif table.kind == "classification" and cell.value is not None and cell.ci is not None:
                    text = f"{_fmt(cell.value)} [{_fmt(cell.ci[0])}, {_fmt(cell.ci[1])}]"
                elif cell.value is not None and cell.sd is not None:
                    text += f" ±{_fmt_sd(cell.sd, cell.value)}"
                elif cell.value is not None and cell.ci is not None:
                    text += f" ({cell.ci[0]:.2f}-{cell.ci[1]:.2f})"
                text = escape(text)
                cells.append(f"[bold green]{text}[/]" if cell.best else text)
            name = escape(line.label) + (" (ref)" if line.reference else "")
            subject = f"mean ±sd ({line.n_subjects})" if line.aggregate else escape(line.subject)
            rt.add_row(name, subject, *cells, style="dim" if line.reference else None, end_section=line.aggregate)
        console.print(rt)
