"""The csv rendering of the leaderboard: every number, one line per table line."""

from __future__ import annotations

import csv
import io
from typing import Any

from fmri_bench.leaderboard.table import DETAILS, build_tables


def render_csv(rows: list[dict[str, Any]], *, dataset: str | None = None, version: str | None = None) -> str:
    """CSV with a header: one line per table line (subjects and mean-over-subject lines).

    Columns: kind, dataset, version, protocol, protocol_version, name, subject, reference,
    aggregate, n_subjects, generator_seeds (space-separated: the row is the mean over those
    generator seeds), then per metric ``<key>``, ``<key>_sd`` (mean lines: sd over subjects;
    a row with generator_seeds: sd over those seeds), ``<key>_ci_low`` and ``<key>_ci_high``
    (identification), then ``unavailable`` ("key: reason; ..."), ``submission_sha256``,
    ``metrics_version``, ``date``, ``details`` (classification). n/a values are empty.

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
    keys: dict[str, None] = {}
    for t in tables:
        for k, _, _ in t.columns:
            keys[k] = None
    header = ["kind", "dataset", "version", "protocol", "protocol_version", "name", "subject"]
    header += ["reference", "aggregate", "n_subjects", "generator_seeds"]
    for k in keys:
        header += [k, f"{k}_sd", f"{k}_ci_low", f"{k}_ci_high"]
    header += ["unavailable", "submission_sha256", "metrics_version", "date", "details"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for t in tables:
        for line in t.lines:
            out = [
                t.kind,
                t.dataset,
                t.version,
                t.protocol,
                "" if t.protocol_version is None else t.protocol_version,
                line.name,
                line.subject,
                int(line.reference),
                int(line.aggregate),
                line.n_subjects,
                " ".join(map(str, line.seeds)),
            ]
            reasons = []
            for k in keys:
                cell = line.cells.get(k)
                if cell is None:
                    out += ["", "", "", ""]
                    continue
                if cell.value is None and cell.reason:
                    reasons.append(f"{k}: {cell.reason}")
                out += [
                    "" if cell.value is None else f"{cell.value:.6g}",
                    "" if cell.sd is None else f"{cell.sd:.6g}",
                    "" if cell.ci is None else f"{cell.ci[0]:.6g}",
                    "" if cell.ci is None else f"{cell.ci[1]:.6g}",
                ]
            details = line.cells.get(DETAILS)
            out += [
                "; ".join(reasons),
                line.row.get("submission_sha256") or "",
                line.row.get("metrics_version", ""),
                line.row.get("date", ""),
                details.text if details is not None else "",
            ]
            writer.writerow(out)
    return buffer.getvalue()
