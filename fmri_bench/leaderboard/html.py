"""The HTML rendering of the leaderboard: sortable tables and a gallery, no external resources."""

from __future__ import annotations

import html
import re
from typing import Any

from fmri_bench.leaderboard.markdown import template
from fmri_bench.leaderboard.table import Table, build_tables, format_cell


def _html_table(table: Table, index: int) -> str:
    e = html.escape
    head = ['<th data-type="text">entry</th>', '<th data-type="text">subject</th>']
    for key, label, higher in table.shown_columns:
        arrow = "" if higher is None else (" ↑" if higher else " ↓")
        kind = "num" if any(ln.shown(key).value is not None for ln in table.lines) else "text"
        head.append(f'<th data-type="{kind}" data-key="{e(key)}" title="{e(key)}">{e(label)}{arrow}</th>')
    body = []
    for line in table.lines:
        classes = [c for c, on in (("reference", line.reference), ("aggregate", line.aggregate)) if on]
        tds = [
            f'<td data-value="{e(line.name)}">{e(line.label)}'
            f"{' <span class=tag>reference</span>' if line.reference else ''}</td>",
            f'<td data-value="{e(line.subject)}">{e(line.subject)}</td>',
        ]
        for key, _, _ in table.shown_columns:
            cell = line.shown(key)
            value = (cell.text or "") if cell.value is None else repr(float(cell.value))
            title = f' title="{e(cell.reason)}"' if cell.reason else ""
            cls = ' class="best"' if cell.best else (' class="na"' if cell.value is None and cell.text is None else "")
            tds.append(f'<td data-value="{e(value)}"{cls}{title}>{e(format_cell(cell))}</td>')
        body.append(f'<tr class="{" ".join(classes)}">' + "".join(tds) + "</tr>")
    notes = "".join(f"<li>n/a in {e(label)}: {e(reason)}</li>" for label, reason in table.notes())
    notes += "".join(f"<li>{e(note)}</li>" for note in table.seed_notes() + table.network_notes())
    return (
        f'<h2>{e(table.title)}</h2>\n<table class="board" id="board-{index}">\n<thead><tr>{"".join(head)}'
        f"</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table>\n"
        + (f'<ul class="notes">{notes}</ul>\n' if notes else "")
    )


#: What a gallery reference may look like: a file in gallery/ (a crafted record cannot point
#: an <img> anywhere else).
_GALLERY = re.compile(r"gallery/[A-Za-z0-9._-]+\.png")


def _html_gallery(tables: list[Table]) -> str:
    e = html.escape
    items = []
    for table in tables:
        for line in table.lines:
            if line.gallery and _GALLERY.fullmatch(str(line.gallery)):
                items.append(
                    f'<figure><img src="{e(line.gallery)}" alt="{e(line.name)}">'
                    f"<figcaption>{e(table.dataset)} {e(table.version)} · {e(table.protocol_label)} · "
                    f"{e(line.subject)} · {e(line.name)}</figcaption></figure>"
                )
    if not items:
        return "<p>No gallery images yet.</p>"
    return '<div class="gallery">\n' + "\n".join(items) + "\n</div>"


def render_html(rows: list[dict[str, Any]], *, dataset: str | None = None, version: str | None = None) -> str:
    """A static page: sortable tables (click a header) and a gallery; works from file://.

    Every text from a row is escaped (``html.escape``, quotes included).

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
    from fmri_bench.metrics import METRICS_VERSION

    tables = build_tables(rows, dataset=dataset, version=version)
    content = "\n".join(_html_table(t, i) for i, t in enumerate(tables)) or "<p>No results recorded yet.</p>"
    text = template("leaderboard.html")
    text = text.replace("<!-- TABLES -->", content)
    text = text.replace("<!-- GALLERY -->", _html_gallery(tables))
    return text.replace("<!-- METRICS_VERSION -->", str(METRICS_VERSION))
