"""Stage 6, leaderboard: rows in, a record and its renderings out.

- :class:`Leaderboard`: ``results.jsonl`` in a folder (locked, atomic upserts), re-rendered
  to ``README.md`` and ``index.html`` after each change.
- :mod:`~fmri_bench.leaderboard.rows`: the row schema (reconstruction and classification rows).
- :mod:`~fmri_bench.leaderboard.table`: the table model the renderings share.
- Renderings: :func:`render_markdown`, :func:`render_html`, :func:`render_csv`,
  :func:`render_terminal`; gallery pictures: :func:`grid_png`.

The leaderboard stores and renders rows; it knows no baseline by name.
"""

from __future__ import annotations

from fmri_bench.leaderboard.csv_export import render_csv
from fmri_bench.leaderboard.gallery import GALLERY_ITEMS, gallery_thumbnail, grid_png
from fmri_bench.leaderboard.html import render_html
from fmri_bench.leaderboard.markdown import render_markdown, render_results_markdown
from fmri_bench.leaderboard.rows import KINDS, classification_row, reconstruction_row, row_key, validate_row
from fmri_bench.leaderboard.store import RECORD_FILE, Leaderboard
from fmri_bench.leaderboard.table import Cell, Line, Table, build_tables, format_cell
from fmri_bench.leaderboard.terminal import render_terminal

__all__ = [
    "GALLERY_ITEMS",
    "KINDS",
    "RECORD_FILE",
    "Cell",
    "Leaderboard",
    "Line",
    "Table",
    "build_tables",
    "classification_row",
    "format_cell",
    "gallery_thumbnail",
    "grid_png",
    "reconstruction_row",
    "render_csv",
    "render_html",
    "render_markdown",
    "render_results_markdown",
    "render_terminal",
    "row_key",
    "validate_row",
]
