"""The table model every rendering shares: rows grouped per (dataset, version, kind, protocol).

A table never mixes scoring protocols (nor two versions of one protocol): reconstruction
rows are grouped by ``protocol`` and ``protocol_version`` too, and the columns are the
protocol's metrics.

A table has a line per recorded row and, for an entry with several subjects, a mean ± sd
line. A row recorded over several generator seeds (``generator_seeds``, ``generator_seed_sd``)
shows mean ± sd over those seeds in its cells, is marked :data:`SEED_MARK`, and its table
says so in a note; its entry's mean line stays mean ± sd over subjects (of the seed means). The columns of a reconstruction table are the metric registry's; a classification
table has the columns of the classification row schema (accuracy with its 95% interval,
chance, p-value, and the row's details), whatever produced the rows.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fmri_bench.leaderboard.rows import KINDS, row_protocol, sort_key
from fmri_bench.stats import mean_over_subjects

Column = tuple[str, str, "bool | None"]  # key, label, higher_is_better (None: not ranked)

#: The classification row schema's columns (see :func:`fmri_bench.leaderboard.rows.classification_row`).
CLASSIFICATION_COLUMNS: list[Column] = [
    ("accuracy", "Accuracy [95% CI]", True),
    ("chance", "chance", None),
    ("p_value", "p-value", None),
]
DETAILS = "details"
#: The mark of a line whose cells are mean ± sd over generator seeds.
SEED_MARK = "†"


@dataclass
class Cell:
    """One table cell: a value, its spread or interval, or the reason it is n/a.

    ``text`` (views only, never the csv) replaces the formatted number, e.g. a row's
    details or ``≤ 3.6e-49`` for the largest p-value over subjects.
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
    seeds: tuple[int, ...] = ()  # the generator seeds its cells are mean ± sd over (none: one run)

    @property
    def label(self) -> str:
        """The entry name, with :data:`SEED_MARK` on a line that is mean ± sd over generator seeds."""
        return f"{self.name} {SEED_MARK}" if self.seeds else self.name

    def shown(self, key: str) -> Cell:
        """The cell for ``key`` (an n/a cell when the line has none).

        Parameters
        ----------
        key : str
            A column key.

        Returns
        -------
        Cell
        """
        return self.cells.get(key) or Cell(value=None, reason="not computed for this entry")


@dataclass
class Table:
    """The lines of one (dataset, version, kind, protocol, protocol version)."""

    dataset: str
    version: str
    kind: str
    columns: list[Column]
    lines: list[Line]
    protocol: str = ""
    protocol_version: int | None = None

    @property
    def shown_columns(self) -> list[Column]:
        """The columns of the markdown, HTML and terminal tables (classification: plus details)."""
        if self.kind == "classification":
            return [*self.columns, (DETAILS, "details", None)]
        return self.columns

    @property
    def protocol_label(self) -> str:
        """``mindeye v1`` (empty for classification tables)."""
        if not self.protocol:
            return ""
        return self.protocol + (f" v{self.protocol_version}" if self.protocol_version is not None else "")

    @property
    def title(self) -> str:
        """``dataset version (kind)``, with ``· protocol NAME vN`` for reconstruction tables."""
        base = f"{self.dataset} {self.version} ({self.kind})"
        return f"{base} · protocol {self.protocol_label}" if self.protocol else base

    def notes(self) -> list[tuple[str, str]]:
        """The distinct (column label, reason) of every n/a cell shown.

        Returns
        -------
        list of (str, str)
        """
        labels = {k: label for k, label, _ in self.columns}
        seen: dict[tuple[str, str], None] = {}
        for line in self.lines:
            for key, cell in line.cells.items():
                if cell.value is None and cell.text is None and cell.reason and key in labels:
                    seen[(labels[key], cell.reason)] = None
        return list(seen)

    def seed_notes(self) -> list[str]:
        """One line per distinct set of generator seeds that marked lines are mean ± sd over.

        Returns
        -------
        list of str
        """
        seen = dict.fromkeys(line.seeds for line in self.lines if line.seeds)
        return [
            f"rows marked {SEED_MARK} are mean ± sd over generator seeds {', '.join(map(str, seeds))} "
            "(their mean lines: mean ± sd over subjects of those means)"
            for seeds in seen
        ]

    def network_notes(self) -> list[str]:
        """One line per entry whose submissions declare the networks they ran (sidecar ``networks``).

        A method that optimises its images with a network the table's metrics also read
        (icnn with SqueezeNet, say) is flagged, with those metrics named.

        Returns
        -------
        list of str
        """
        from fmri_bench.metrics import PROTOCOLS, get_protocol

        declared: dict[str, dict[str, None]] = {}
        for line in self.lines:
            sidecar = line.row.get("sidecar") if isinstance(line.row.get("sidecar"), dict) else {}
            networks = sidecar.get("networks") if isinstance(sidecar.get("networks"), list) else []
            for network in networks:
                declared.setdefault(line.name, {})[str(network)] = None
        proto = get_protocol(self.protocol if self.protocol in PROTOCOLS else None) if declared else None
        notes = []
        for name, networks in declared.items():
            shared = [
                label
                for key, label, _ in self.columns
                if key in proto.names() and proto.metric(key).backbone in networks
            ]
            note = f"{name} runs the network {', '.join(networks)}"
            notes.append(note + (f", which this table's {', '.join(shared)} also reads" if shared else ""))
        return notes


def metric_columns(rows: list[dict[str, Any]], protocol: str | None = None) -> list[Column]:
    """Columns of a reconstruction table: the protocol's metrics in their order, then unknown keys.

    Parameters
    ----------
    rows : list of dict
        The rows of the table.
    protocol : str, optional
        Their protocol (default and rows recorded before protocols: ``mindeye``'s names).

    Returns
    -------
    list of (key, label, higher_is_better)
    """
    from fmri_bench.metrics import PROTOCOLS, get_protocol

    proto = get_protocol(protocol if protocol in PROTOCOLS else None)
    keys = {k: None for r in rows for k in r.get("metrics", {})}
    known = [k for k in proto.names() if k in keys]
    columns: list[Column] = [(k, proto.metric(k).label, proto.metric(k).higher_is_better) for k in known]
    return columns + [(k, k, None) for k in sorted(keys) if k not in known]


def details_text(details: dict[str, Any]) -> str:
    """A row's details as ``key=value, ...`` (keys sorted).

    Parameters
    ----------
    details : dict
        The row's ``details``.

    Returns
    -------
    str
    """
    return ", ".join(f"{k}={_fmt_detail(v)}" for k, v in sorted(details.items()))


def _fmt_detail(value: Any) -> str:
    if isinstance(value, float):
        return _fmt(value)
    return str(value)


def _row_cells(row: dict[str, Any], columns: list[Column]) -> dict[str, Cell]:
    cells = {}
    metrics, reasons, intervals = row.get("metrics", {}), row.get("unavailable", {}), row.get("intervals", {})
    for key, _, _ in columns:
        value = metrics.get(key)
        ci = intervals.get(key)
        reason = reasons.get(key) if value is None else None
        if value is None and key not in metrics:
            reason = "not computed for this entry"
        cells[key] = Cell(value=value, ci=tuple(ci) if ci else None, reason=reason)
        seed_sd = seed_spread(row).get(key)
        if value is not None and seed_sd is not None:
            cells[key].sd = seed_sd  # shown instead of the interval; the csv keeps both
    if row.get("kind") == "classification":
        p = cells.get("p_value")
        if p is not None and p.value is not None:  # 3 significant digits, e.g. 0.00201
            p.text = f"{p.value:.3g}"
        details = row.get("details") if isinstance(row.get("details"), dict) else {}
        cells[DETAILS] = Cell(value=None, text=details_text(details) or "none")
    return cells


def row_seeds(row: dict[str, Any]) -> tuple[int, ...]:
    """The generator seeds a row is the mean over (empty: one run, or a malformed field).

    Parameters
    ----------
    row : dict

    Returns
    -------
    tuple of int
    """
    seeds = row.get("generator_seeds")
    if not isinstance(seeds, list) or len(seeds) < 2 or not all(isinstance(s, int) for s in seeds):
        return ()
    return tuple(seeds)


def seed_spread(row: dict[str, Any]) -> dict[str, float]:
    """Metric key -> sd over generator seeds of a row recorded over seeds (numbers only).

    Parameters
    ----------
    row : dict

    Returns
    -------
    dict
    """
    spread = row.get("generator_seed_sd")
    if not row_seeds(row) or not isinstance(spread, dict):
        return {}
    return {str(k): float(v) for k, v in spread.items() if is_number(v)}


def _mean_cells(rows: list[dict[str, Any]], columns: list[Column], kind: str) -> dict[str, Cell]:
    cells = {}
    for key, _, higher in columns:
        values = [r.get("metrics", {}).get(key) for r in rows]
        mean, sd = mean_over_subjects(values)
        if mean is None:
            reason = next((r.get("unavailable", {}).get(key) for r in rows if r.get("unavailable", {}).get(key)), None)
            if reason is None and any(v is not None for v in values):
                reason = "n/a for some subjects (a mean needs every subject)"
            cells[key] = Cell(value=None, reason=reason or "not computed for this entry")
        elif kind == "classification" and key == "p_value":  # a mean of p-values means nothing
            cells[key] = Cell(value=float(max(values)), text=f"≤ {float(max(values)):.3g}")
        elif higher is None and min(values) == max(values):  # a setting (chance): shown once
            cells[key] = Cell(value=float(values[0]))
        else:
            cells[key] = Cell(value=mean, sd=sd)
    if kind == "classification":
        merged: dict[str, list[str]] = {}
        for r in rows:
            for k, v in (r.get("details") or {}).items():
                text = _fmt_detail(v)
                if text not in merged.setdefault(k, []):
                    merged[k].append(text)
        text = ", ".join(f"{k}={'/'.join(v)}" for k, v in sorted(merged.items()))
        cells[DETAILS] = Cell(value=None, text=text or "none")
    return cells


#: The column every reconstruction row gets where its table holds a ceiling row (the synthetic oracle).
CEILING_METRIC = "pixcorr"
CEILING_SHARE: Column = ("pixcorr_share_of_ceiling", "PixCorr / ceiling", True)


def _add_ceiling_share(lines: list[Line], columns: list[Column]) -> list[Column]:
    """Each line's PixCorr divided by its subject's ceiling row's (mean ± sd over subjects for an entry).

    A row reads as the share of what the data allow (the oracle decodes with the true encoding
    model). Lines without a ceiling for every one of their subjects get an n/a cell.
    """
    ceiling = {
        ln.subject: ln.cells[CEILING_METRIC].value
        for ln in lines
        if ln.row.get("ceiling") and not ln.aggregate and CEILING_METRIC in ln.cells
    }
    ceiling = {k: v for k, v in ceiling.items() if v}
    if not ceiling or CEILING_METRIC not in {key for key, _, _ in columns}:
        return columns
    by_name: dict[str, list[float | None]] = {}
    for ln in lines:
        if ln.aggregate:
            continue
        value, top = ln.cells[CEILING_METRIC].value, ceiling.get(ln.subject)
        share = value / top if value is not None and top else None
        by_name.setdefault(ln.name, []).append(share)
        ln.cells[CEILING_SHARE[0]] = Cell(value=share, reason=None if share is not None else "no ceiling row")
    for ln in lines:
        if ln.aggregate:
            mean, sd = mean_over_subjects(by_name.get(ln.name, []))
            ln.cells[CEILING_SHARE[0]] = Cell(value=mean, sd=sd, reason=None if mean is not None else "no ceiling row")
    return [*columns, CEILING_SHARE]


def _mark_best(lines: list[Line], columns: list[Column]) -> None:
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


def build_tables(rows: list[dict[str, Any]], *, dataset: str | None = None, version: str | None = None) -> list[Table]:
    """Group rows into tables per (dataset, version, kind, protocol), with mean ± sd lines and best marks.

    An entry (same name) with several subjects gets a mean ± sd line after its subjects.
    The best value of each ranked column among non-reference lines is marked.

    Parameters
    ----------
    rows : list of dict
        Leaderboard rows.
    dataset, version : str, optional
        Only these.

    Returns
    -------
    list of Table
    """
    selected = [
        r
        for r in rows
        if (dataset is None or r["dataset"] == dataset)
        and (version is None or r["version"] == version)
        and r.get("kind") in KINDS
    ]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in sorted(selected, key=sort_key):
        # a split other than test gets its own table ("ds001506 v1 artificial")
        label = r["version"] if (r.get("split") or "test") == "test" else f"{r['version']} {r['split']}"
        groups.setdefault((r["dataset"], label, r["kind"], *row_protocol(r)), []).append(r)
    tables = []
    for (ds, ver, kind, proto, proto_version), group in groups.items():
        columns = CLASSIFICATION_COLUMNS if kind == "classification" else metric_columns(group, proto)
        lines: list[Line] = []
        by_name: dict[str, list[dict[str, Any]]] = {}
        for r in group:
            by_name.setdefault(r["name"], []).append(r)
        for name, entry_rows in by_name.items():
            ref = bool(entry_rows[0].get("reference", False))
            for r in entry_rows:
                lines.append(
                    Line(
                        name=name,
                        subject=r["subject"],
                        reference=ref,
                        aggregate=False,
                        cells=_row_cells(r, columns),
                        gallery=r.get("gallery"),
                        row=r,
                        seeds=row_seeds(r),
                    )
                )
            if len(entry_rows) > 1:
                lines.append(
                    Line(
                        name=name,
                        subject=f"mean ± sd ({len(entry_rows)} subjects)",
                        reference=ref,
                        aggregate=True,
                        cells=_mean_cells(entry_rows, columns, kind),
                        n_subjects=len(entry_rows),
                    )
                )
        if kind == "reconstruction":
            columns = _add_ceiling_share(lines, columns)
        _mark_best(lines, columns)
        tables.append(Table(ds, ver, kind, columns, lines, proto, proto_version))
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
    """Plain text of a cell: ``0.812 [0.74, 0.88]``, ``0.812 ± 0.031``, its ``text`` or ``n/a``.

    Parameters
    ----------
    cell : Cell

    Returns
    -------
    str
    """
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


def is_number(value: Any) -> bool:
    """True for a finite real number that is not a bool.

    Parameters
    ----------
    value : object

    Returns
    -------
    bool
    """
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(float(value))
