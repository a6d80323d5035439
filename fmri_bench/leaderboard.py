"""The leaderboard: a plain-text record and its renderings.

The record is ``<folder>/results.jsonl``: one JSON object per line and per scored
submission (key-sorted, rows in a stable order), so that a pull request shows a readable
diff. :meth:`Leaderboard.upsert` replaces the row with the same (name, dataset, version,
subject, kind) or adds one; it holds a file lock (several ``score`` runs at once all land)
and writes every file to a temporary name first and renames it (a crash leaves the
previous record intact). After each upsert, ``README.md`` (markdown tables) and
``index.html`` (sortable tables and a gallery, no external resources) are re-rendered.

Row fields: ``kind`` ("reconstruction" or "classification"), ``name``, ``dataset``,
``version``, ``subject``, ``metrics`` (key -> number or null), plus optional
``reference``, ``unavailable`` (key -> reason), ``intervals`` (key -> [low, high]),
``gallery`` (a PNG under ``gallery/``, relative) and provenance (``submission_sha256``,
``metrics_version``, ``fmri_bench_version``, ``versions``, ``date``, ``weights``, ...).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from fmri_bench.errors import FmriBenchError
from fmri_bench.io import atomic_path, write_text_atomic

RECORD_FILE = "results.jsonl"
KINDS = ("reconstruction", "classification")
KEY_FIELDS = ("name", "dataset", "version", "subject", "kind")
GALLERY_DIR = "gallery"
LOCK_TIMEOUT_S = 300


def _metric_info() -> dict[str, Any]:
    from fmri_bench.metrics import METRICS, ordered_names

    return {k: METRICS.get(k) for k in ordered_names()}


def validate_row(row: dict[str, Any]) -> None:
    """Raise FmriBenchError unless ``row`` has the fields every leaderboard row needs."""
    if not isinstance(row, dict):
        raise FmriBenchError(f"a leaderboard row must be a dict, got {type(row).__name__}")
    if row.get("kind") not in KINDS:
        raise FmriBenchError(f"leaderboard row kind {row.get('kind')!r}; expected one of: {', '.join(KINDS)}")
    for key in ("name", "dataset", "version", "subject"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise FmriBenchError(f"leaderboard row field {key!r} is {row.get(key)!r}; expected a non-empty string")
    metrics = row.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise FmriBenchError("leaderboard row has no 'metrics' mapping; expected {metric key: number or null}")
    for key, value in metrics.items():
        ok = value is None or (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
                               and math.isfinite(value))
        if not ok:
            raise FmriBenchError(f"leaderboard row metric {key!r} is {value!r}; expected a finite number or null")


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays become Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """The identity of a row: (name, dataset, version, subject, kind)."""
    return tuple(str(row[k]) for k in KEY_FIELDS)


def _sort_key(row: dict[str, Any]) -> tuple:
    return (row["dataset"], row["version"], KINDS.index(row["kind"]), not row.get("reference", False),
            row["name"], row["subject"])




def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "entry"


class Leaderboard:
    """A leaderboard folder: ``results.jsonl`` plus its renderings.

    Parameters
    ----------
    folder : path-like
        The folder (created on first write).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.record = self.folder / RECORD_FILE
        self._lock = FileLock(str(self.folder / f".{RECORD_FILE}.lock"), timeout=LOCK_TIMEOUT_S)

    def rows(self) -> list[dict[str, Any]]:
        """Return every recorded row, in the record's order."""
        if not self.record.is_file():
            return []
        rows = []
        for number, line in enumerate(self.record.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise FmriBenchError(f"{self.record}:{number}: not valid JSON ({exc}); fix or remove that line") from exc
        return rows

    def _write_rows(self, rows: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in sorted(rows, key=_sort_key))
        write_text_atomic(self.record, text)

    def upsert(self, row: dict[str, Any], *, gallery_png: bytes | None = None) -> dict[str, Any]:
        """Add ``row``, replacing the row with the same (name, dataset, version, subject, kind).

        ``gallery_png`` (PNG bytes: targets above reconstructions) is stored under
        ``gallery/`` and referenced from the row. Returns the stored row.
        """
        validate_row(row)
        row = _plain(row)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            rows = self.rows()
            if gallery_png is not None:
                key_text = "_".join((row["dataset"], row["version"], row["subject"], row["kind"], row["name"]))
                # Readable and unique: a slug plus a short hash of the full key.
                digest = hashlib.sha1(key_text.encode()).hexdigest()[:8]
                rel = f"{GALLERY_DIR}/{_slug(key_text)[:64]}-{digest}.png"
                with atomic_path(self.folder / rel, suffix=".png") as tmp:
                    tmp.write_bytes(gallery_png)
                row["gallery"] = rel
            key = row_key(row)
            rows = [r for r in rows if row_key(r) != key] + [row]
            self._write_rows(rows)
            self._render_locked(rows)
        return row

    def remove(self, **match: str) -> int:
        """Remove rows whose fields equal every ``match`` item; return how many were removed."""
        with self._lock:
            rows = self.rows()
            kept = [r for r in rows if not all(r.get(k) == v for k, v in match.items())]
            if len(kept) != len(rows):
                self._write_rows(kept)
                self._render_locked(kept)
            return len(rows) - len(kept)

    def render(self) -> None:
        """Re-render README.md and index.html from the record."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._render_locked(self.rows())

    def _render_locked(self, rows: list[dict[str, Any]]) -> None:
        write_text_atomic(self.folder / "README.md", render_markdown(rows))
        write_text_atomic(self.folder / "index.html", render_html(rows))


# --------------------------------------------------------------------------- tables


@dataclass
class Cell:
    """One table cell: a value, its spread or interval, or the reason it is n/a.

    ``text`` (views only, never the csv) replaces the formatted number, e.g. a split name
    or ``<= 3.6e-49`` for the largest p-value over subjects.
    """

    value: float | None
    sd: float | None = None
    ci: tuple[float, float] | None = None
    reason: str | None = None
    best: bool = False
    text: str | None = None


@dataclass
class Line:
    """One table line: a recorded row, or the mean over subjects of an entry."""

    name: str
    subject: str
    reference: bool
    aggregate: bool
    cells: dict[str, Cell]
    gallery: str | None = None
    n_subjects: int = 1
    row: dict[str, Any] = field(default_factory=dict)
    #: Cells of the person-facing views that differ from ``cells`` (see :attr:`Table.view`).
    view: dict[str, Cell] = field(default_factory=dict)

    def shown(self, key: str) -> Cell:
        """The cell the markdown, HTML and terminal tables show for ``key``."""
        return self.view.get(key) or self.cells[key]


@dataclass
class Table:
    """The lines of one (dataset, version, kind)."""

    dataset: str
    version: str
    kind: str
    columns: list[tuple[str, str, bool | None]]  # key, label, higher_is_better (None: not ranked)
    lines: list[Line]
    #: The columns a person reads (markdown, HTML, terminal); None: every column. The csv
    #: always has every column, with the full numbers.
    view: list[tuple[str, str, bool | None]] | None = None

    @property
    def shown_columns(self) -> list[tuple[str, str, bool | None]]:
        """The columns of the markdown, HTML and terminal tables."""
        return self.columns if self.view is None else self.view

    @property
    def title(self) -> str:
        """``dataset version (kind)``."""
        return f"{self.dataset} {self.version} ({self.kind})"

    def notes(self) -> list[tuple[str, str]]:
        """The distinct (metric label, reason) of every n/a cell."""
        labels = {k: label for k, label, _ in self.columns}
        seen: dict[tuple[str, str], None] = {}
        for line in self.lines:
            for key, cell in line.cells.items():
                if cell.value is None and cell.reason and key in {k for k, _, _ in self.shown_columns}:
                    seen[(labels.get(key, key), cell.reason)] = None
        return list(seen)


_CLASSIFICATION_LABELS = {"accuracy": ("Accuracy", True), "accuracy_ci95_low": ("CI low", None),
                          "accuracy_ci95_high": ("CI high", None), "n_pairs": ("pairs", None),
                          "chance": ("chance", None), "p_value": ("p-value", None)}

#: The classification view: accuracy with its 95% interval in one cell, then what a reader
#: needs to judge it. ``split`` comes from the row's ``details``. Other metrics of a row are
#: shown after these unless they are interval bounds or bookkeeping (``n_*``, ``*_sd``);
#: everything stays in the record and the csv.
_CLASSIFICATION_VIEW = (("accuracy", "Accuracy [95% CI]", True), ("chance", "chance", None),
                        ("split", "split", None), ("n_pairs", "pairs", None), ("p_value", "p-value", None))
_BOUND_SUFFIXES = ("_ci95_low", "_ci95_high", "_ci_low", "_ci_high")


def _metric_interval(metrics: dict[str, Any], key: str) -> tuple[float, float] | None:
    """``<key>_ci95_low/high`` or ``<key>_ci_low/high`` of a row's metrics, when both are numbers."""
    for low, high in (("_ci95_low", "_ci95_high"), ("_ci_low", "_ci_high")):
        lo, hi = metrics.get(key + low), metrics.get(key + high)
        if isinstance(lo, numbers.Real) and isinstance(hi, numbers.Real):
            return (float(lo), float(hi))
    return None


def _classification_view(group: list[dict[str, Any]],
                         columns: list[tuple[str, str, bool | None]]) -> list[tuple[str, str, bool | None]]:
    present = {k for k, _, _ in columns}
    if any(isinstance(r.get("details"), dict) and "split" in r["details"] for r in group):
        present.add("split")
    view = [c for c in _CLASSIFICATION_VIEW if c[0] in present]
    named = {k for k, _, _ in _CLASSIFICATION_VIEW}
    for key, label, higher in columns:
        bookkeeping = key.endswith(_BOUND_SUFFIXES) or key.startswith("n_") or key.endswith("_sd")
        if key not in named and not bookkeeping:
            view.append((key, label, higher))
    return view


def _view_cells(line: Line, rows: list[dict[str, Any]], view: list[tuple[str, str, bool | None]]) -> dict[str, Cell]:
    """Cells of a classification line that the view shows differently from the record."""
    out: dict[str, Cell] = {}
    keys = {k for k, _, _ in view}
    if "split" in keys:
        splits = sorted({str(r["details"]["split"]) for r in rows
                         if isinstance(r.get("details"), dict) and r["details"].get("split") is not None})
        out["split"] = Cell(value=None, text=", ".join(splits) if splits else "n/a")
    if not line.aggregate:
        p = line.cells.get("p_value")
        if "p_value" in keys and p is not None and p.value is not None:  # 3 significant digits, e.g. 0.00201
            out["p_value"] = Cell(value=p.value, text=f"{p.value:.3g}")
        return out
    for key, _, higher in view:
        values = [r["metrics"][key] for r in rows if r.get("metrics", {}).get(key) is not None]
        if key == "split" or higher is not None or not values:
            continue
        if key == "p_value":  # a mean of p-values means nothing; the largest bounds them all
            out[key] = Cell(value=float(max(values)), text=f"≤ {float(max(values)):.3g}")
        elif min(values) == max(values):  # a setting (chance, pairs): shown once, without a spread
            out[key] = Cell(value=float(values[0]))
        else:
            out[key] = Cell(value=float(np.mean(values)), text=f"{_fmt(min(values))}–{_fmt(max(values))}")
    return out


def _columns(kind: str, rows: list[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    keys: dict[str, None] = {}
    for r in rows:
        for k in r.get("metrics", {}):
            keys[k] = None
    info = _metric_info() if kind == "reconstruction" else {}
    ordered = [k for k in info if k in keys] + sorted(k for k in keys if k not in info)
    cols = []
    for k in ordered:
        if k in info:
            cols.append((k, info[k].label, info[k].higher_is_better))
        elif k in _CLASSIFICATION_LABELS:
            cols.append((k, *_CLASSIFICATION_LABELS[k]))
        else:
            bookkeeping = k.endswith(_BOUND_SUFFIXES) or k.endswith("_sd") or k.startswith("n_")
            cols.append((k, k, None if bookkeeping else True))
    return cols


def _row_cells(row: dict[str, Any], columns: list[tuple[str, str, bool | None]]) -> dict[str, Cell]:
    cells = {}
    metrics, reasons, intervals = row.get("metrics", {}), row.get("unavailable", {}), row.get("intervals", {})
    for key, _, _ in columns:
        value = metrics.get(key)
        ci = intervals.get(key) or _metric_interval(metrics, key)
        reason = reasons.get(key) if value is None else None
        if value is None and key not in metrics:
            reason = "not computed for this entry"
        cells[key] = Cell(value=value, ci=tuple(ci) if ci else None, reason=reason)
    return cells


def _mean_line(name: str, reference: bool, rows: list[dict[str, Any]],
               columns: list[tuple[str, str, bool | None]]) -> Line:
    import numpy as np

    cells = {}
    for key, _, _ in columns:
        values = [r["metrics"][key] for r in rows if r.get("metrics", {}).get(key) is not None]
        if values:
            sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            cells[key] = Cell(value=float(np.mean(values)), sd=sd)
        else:
            reason = next((r.get("unavailable", {}).get(key) for r in rows if r.get("unavailable", {}).get(key)), None)
            cells[key] = Cell(value=None, reason=reason or "not computed for this entry")
    return Line(name=name, subject=f"mean ± sd ({len(rows)} subjects)", reference=reference, aggregate=True,
                cells=cells, n_subjects=len(rows))


def build_tables(rows: list[dict[str, Any]], *, dataset: str | None = None,
                 version: str | None = None) -> list[Table]:
    """Group rows into tables per (dataset, version, kind), with mean ± sd lines and best marks.

    An entry (same name) with several subjects gets a mean ± sd line after its subjects.
    The best value of each ranked column among non-reference lines is marked.
    """
    selected = [r for r in rows if (dataset is None or r["dataset"] == dataset)
                and (version is None or r["version"] == version)]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in sorted(selected, key=_sort_key):
        groups.setdefault((r["dataset"], r["version"], r["kind"]), []).append(r)
    tables = []
    for (ds, ver, kind), group in groups.items():
        columns = _columns(kind, group)
        lines: list[Line] = []
        by_name: dict[str, list[dict[str, Any]]] = {}
        for r in group:
            by_name.setdefault(r["name"], []).append(r)
        for name, entry_rows in by_name.items():
            ref = bool(entry_rows[0].get("reference", False))
            for r in entry_rows:
                lines.append(Line(name=name, subject=r["subject"], reference=ref, aggregate=False,
                                  cells=_row_cells(r, columns), gallery=r.get("gallery"), row=r))
            if len(entry_rows) > 1:
                lines.append(_mean_line(name, ref, entry_rows, columns))
        view = _classification_view(group, columns) if kind == "classification" else None
        if view is not None:
            for ln in lines:
                ln.view = _view_cells(ln, by_name[ln.name] if ln.aggregate else [ln.row], view)
        for key, _, higher in columns:
            if higher is None:
                continue
            values = [ln.cells[key].value for ln in lines if not ln.reference and ln.cells[key].value is not None]
            if not values:
                continue
            best = max(values) if higher else min(values)
            for ln in lines:
                if not ln.reference and ln.cells[key].value is not None and math.isclose(ln.cells[key].value, best):
                    ln.cells[key].best = True
        tables.append(Table(ds, ver, kind, columns, lines, view))
    return tables


def _fmt_sd(sd: float, mean: float | None) -> str:
    # Identical values across subjects leave a float-rounding spread (1e-16): that is zero.
    if abs(sd) <= 1e-9 * max(1.0, abs(mean or 0.0)):
        return "0"
    return _fmt(sd)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.3g}"
    return f"{value:.3f}" if not float(value).is_integer() or abs(value) < 10 else f"{value:.0f}"


def format_cell(cell: Cell) -> str:
    """Plain text of a cell: ``0.812 [0.74, 0.88]``, ``0.812 ± 0.031``, its ``text`` or ``n/a``."""
    if cell.text is not None:
        return cell.text
    text = _fmt(cell.value)
    if cell.value is None:
        return text
    if cell.sd is not None:
        text += f" ± {_fmt_sd(cell.sd, cell.value)}"
    elif cell.ci is not None:
        text += f" [{_fmt(cell.ci[0])}, {_fmt(cell.ci[1])}]"
    return text


def _entry_label(line: Line) -> str:
    return f"{line.name} *(reference)*" if line.reference else line.name


# --------------------------------------------------------------------------- markdown


def metric_definitions_markdown() -> str:
    """The metric definitions table (from the registry, so it never drifts from the code)."""
    out = ["| key | column | better | resolution | network / weights | definition | source |",
           "|---|---|---|---|---|---|---|"]
    for key, m in _metric_info().items():
        res = f"{m.resolution} px" if m.resolution else ("target's own" if m.backbone is None else "weight file's")
        net = f"`{m.backbone}` `{m.node}`" if m.backbone else "none"
        better = "higher" if m.higher_is_better else "lower"
        out.append(f"| `{key}` | {m.label} | {better} | {res} | {net} | {m.description} | {m.source} |")
    return "\n".join(out)


def weights_markdown() -> str:
    """The accepted weight files per backbone, with checksums and the preprocessing they declare."""
    from fmri_bench.weights import BACKBONES

    out = ["| backbone | file (in `<torch hub dir>/checkpoints/`) | sha256 | input | normalization (mean / std) | source |",
           "|---|---|---|---|---|---|"]
    for bb in BACKBONES.values():
        for wf in bb.files:
            sha = f"`{wf.sha256}`" if wf.sha256 else "none published (checked by structure)"
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
            text = format_cell(cell)
            cells.append(f"**{text}**" if cell.best else text)
        subject = f"*{line.subject}*" if line.aggregate else line.subject
        name = _entry_label(line).replace("|", "\\|")
        out.append("| " + " | ".join([name, subject, *cells]) + " |")
    notes = table.notes()
    if notes:
        out.append("")
        out.extend(f"- n/a in {label}: {reason}" for label, reason in notes)
    return "\n".join(out)


def render_results_markdown(rows: list[dict[str, Any]], *, dataset: str | None = None,
                            version: str | None = None) -> str:
    """Markdown tables, one per dataset/version/kind (best per column in bold)."""
    tables = build_tables(rows, dataset=dataset, version=version)
    if not tables:
        return "_No results recorded yet._\n"
    parts = []
    for table in tables:
        parts.append(f"### {table.title}\n\n{_markdown_table(table)}\n")
    return "\n".join(parts)


def _template(name: str) -> str:
    return resources.files("fmri_bench").joinpath("templates", name).read_text(encoding="utf-8")


def render_markdown(rows: list[dict[str, Any]]) -> str:
    """The full leaderboard README: the contract (template), metric definitions, results."""
    from fmri_bench.metrics import METRICS_VERSION

    text = _template("leaderboard_README.md")
    text = text.replace("<!-- METRICS_VERSION -->", str(METRICS_VERSION))
    text = text.replace("<!-- METRIC_DEFINITIONS -->", metric_definitions_markdown())
    text = text.replace("<!-- WEIGHTS -->", weights_markdown())
    return text.replace("<!-- RESULTS -->", render_results_markdown(rows).rstrip() + "\n")


# --------------------------------------------------------------------------- html


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
        tds = [f'<td data-value="{e(line.name)}">{e(line.name)}'
               f'{" <span class=tag>reference</span>" if line.reference else ""}</td>',
               f'<td data-value="{e(line.subject)}">{e(line.subject)}</td>']
        for key, _, _ in table.shown_columns:
            cell = line.shown(key)
            value = (cell.text or "") if cell.value is None else repr(float(cell.value))
            title = f' title="{e(cell.reason)}"' if cell.reason else ""
            cls = ' class="best"' if cell.best else (' class="na"' if cell.value is None and cell.text is None else "")
            tds.append(f'<td data-value="{value}"{cls}{title}>{e(format_cell(cell))}</td>')
        body.append(f'<tr class="{" ".join(classes)}">' + "".join(tds) + "</tr>")
    notes = "".join(f"<li>n/a in {e(label)}: {e(reason)}</li>" for label, reason in table.notes())
    return (f'<h2>{e(table.title)}</h2>\n<table class="board" id="board-{index}">\n<thead><tr>{"".join(head)}'
            f'</tr></thead>\n<tbody>\n' + "\n".join(body) + "\n</tbody></table>\n"
            + (f'<ul class="notes">{notes}</ul>\n' if notes else ""))


def _html_gallery(tables: list[Table]) -> str:
    e = html.escape
    items = []
    for table in tables:
        for line in table.lines:
            if line.gallery:
                items.append(f'<figure><img src="{e(line.gallery)}" alt="{e(line.name)}">'
                             f'<figcaption>{e(table.dataset)} {e(table.version)} · {e(line.subject)} · '
                             f'{e(line.name)}</figcaption></figure>')
    if not items:
        return "<p>No gallery images yet.</p>"
    return '<div class="gallery">\n' + "\n".join(items) + "\n</div>"


def render_html(rows: list[dict[str, Any]], *, dataset: str | None = None, version: str | None = None) -> str:
    """A static page: sortable tables (click a header) and a gallery; works from file://."""
    from fmri_bench.metrics import METRICS_VERSION

    tables = build_tables(rows, dataset=dataset, version=version)
    content = "\n".join(_html_table(t, i) for i, t in enumerate(tables)) or "<p>No results recorded yet.</p>"
    text = _template("leaderboard.html")
    text = text.replace("<!-- TABLES -->", content)
    text = text.replace("<!-- GALLERY -->", _html_gallery(tables))
    return text.replace("<!-- METRICS_VERSION -->", str(METRICS_VERSION))


# --------------------------------------------------------------------------- csv, terminal


def render_csv(rows: list[dict[str, Any]], *, dataset: str | None = None, version: str | None = None) -> str:
    """CSV with a header: one line per table line (subjects and mean-over-subject lines).

    Columns: kind, dataset, version, name, subject, reference, aggregate, n_subjects, then
    per metric ``<key>``, ``<key>_sd`` (mean lines), ``<key>_ci_low`` and ``<key>_ci_high``
    (identification), then ``unavailable`` ("key: reason; ..."), ``submission_sha256``,
    ``metrics_version``, ``date``. n/a values are empty.
    """
    tables = build_tables(rows, dataset=dataset, version=version)
    keys: dict[str, None] = {}
    for t in tables:
        for k, _, _ in t.columns:
            keys[k] = None
    header = ["kind", "dataset", "version", "name", "subject", "reference", "aggregate", "n_subjects"]
    for k in keys:
        header += [k, f"{k}_sd", f"{k}_ci_low", f"{k}_ci_high"]
    header += ["unavailable", "submission_sha256", "metrics_version", "date"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for t in tables:
        for line in t.lines:
            out = [t.kind, t.dataset, t.version, line.name, line.subject, int(line.reference), int(line.aggregate),
                   line.n_subjects]
            reasons = []
            for k in keys:
                cell = line.cells.get(k)
                if cell is None:
                    out += ["", "", "", ""]
                    continue
                if cell.value is None and cell.reason:
                    reasons.append(f"{k}: {cell.reason}")
                out += ["" if cell.value is None else f"{cell.value:.6g}",
                        "" if cell.sd is None else f"{cell.sd:.6g}",
                        "" if cell.ci is None else f"{cell.ci[0]:.6g}",
                        "" if cell.ci is None else f"{cell.ci[1]:.6g}"]
            out += ["; ".join(reasons), line.row.get("submission_sha256") or "", line.row.get("metrics_version", ""),
                    line.row.get("date", "")]
            writer.writerow(out)
    return buffer.getvalue()


def render_terminal(rows: list[dict[str, Any]], *, dataset: str | None = None, version: str | None = None,
                    console: Any = None) -> None:
    """Print the tables with rich (best per column in bold green, references dimmed).

    To fit a terminal, columns that are n/a on every line are left out of the grid and
    listed under it with their reasons, and intervals are shown compactly. Classification
    tables show their view (:attr:`Table.shown_columns`): accuracy with its 95% interval in
    one cell, chance, split, pairs, p-value; the csv keeps every number.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table as RichTable

    console = console or Console()
    tables = build_tables(rows, dataset=dataset, version=version)
    if not tables:
        console.print("No results recorded yet.")
        return
    for table in tables:
        shown = [c for c in table.shown_columns
                 if any(ln.shown(c[0]).value is not None or ln.shown(c[0]).text for ln in table.lines)]
        notes = table.notes()
        caption = "\n".join(f"n/a in {label}: {reason}" for label, reason in notes) or None
        rt = RichTable(title=table.title, caption=escape(caption) if caption else None, caption_justify="left")
        rt.add_column("entry", overflow="fold")
        rt.add_column("subject", overflow="fold")
        for _, label, higher in shown:
            rt.add_column(label + ("" if higher is None else (" ↑" if higher else " ↓")), justify="right")
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
            name = escape(line.name) + (" (ref)" if line.reference else "")
            subject = f"mean ±sd ({line.n_subjects})" if line.aggregate else line.subject
            rt.add_row(name, subject, *cells, style="dim" if line.reference else None, end_section=line.aggregate)
        console.print(rt)
