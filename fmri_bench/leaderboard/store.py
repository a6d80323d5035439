"""The leaderboard record: ``results.jsonl`` in a folder, with its renderings beside it.

The record is one JSON object per line and per scored submission (key-sorted, rows in a
stable order), so that a pull request shows a readable diff. :meth:`Leaderboard.upsert`
replaces the row with the same (name, dataset, version, subject, kind) or adds one; it
holds a file lock (several ``score`` runs at once all land) and writes every file to a
temporary name first and renames it (a crash leaves the previous record intact). After
each change, ``README.md`` and ``index.html`` are re-rendered.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from filelock import FileLock

from fmri_bench.errors import FmriBenchError
from fmri_bench.io import atomic_path, write_text_atomic
from fmri_bench.leaderboard.html import render_html
from fmri_bench.leaderboard.markdown import render_markdown
from fmri_bench.leaderboard.rows import plain, row_key, sort_key, validate_row

RECORD_FILE = "results.jsonl"
GALLERY_DIR = "gallery"
LOCK_TIMEOUT_S = 300


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
        """Return every recorded row, in the record's order.

        Returns
        -------
        list of dict
        """
        if not self.record.is_file():
            return []
        rows = []
        for number, line in enumerate(self.record.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise FmriBenchError(
                    f"{self.record}:{number}: not valid JSON ({exc}); fix or remove that line"
                ) from exc
        return rows

    def _write_rows(self, rows: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in sorted(rows, key=sort_key))
        write_text_atomic(self.record, text)

    def gallery_path(self, row: dict[str, Any]) -> str:
        """The gallery file (relative to the folder) of a row: a slug plus a short hash of its key.

        Parameters
        ----------
        row : dict

        Returns
        -------
        str
        """
        split = [] if row.get("split", "test") == "test" else [str(row["split"])]
        key_text = "_".join((row["dataset"], row["version"], *split, row["subject"], row["kind"], row["name"]))
        digest = hashlib.sha1(key_text.encode()).hexdigest()[:8]
        return f"{GALLERY_DIR}/{_slug(key_text)[:64]}-{digest}.png"

    def upsert(self, row: dict[str, Any], *, gallery_png: bytes | None = None) -> dict[str, Any]:
        """Add ``row``, replacing the row with the same (name, dataset, version, subject, kind).

        Parameters
        ----------
        row : dict
            A valid row (see :mod:`fmri_bench.leaderboard.rows`).
        gallery_png : bytes, optional
            PNG bytes (targets above reconstructions) stored under ``gallery/`` and
            referenced from the row.

        Returns
        -------
        dict
            The stored row.
        """
        validate_row(row)
        row = plain(row)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            rows = self.rows()
            if gallery_png is not None:
                rel = self.gallery_path(row)
                with atomic_path(self.folder / rel, suffix=".png") as tmp:
                    tmp.write_bytes(gallery_png)
                row["gallery"] = rel
            key = row_key(row)
            rows = [r for r in rows if row_key(r) != key] + [row]
            self._write_rows(rows)
            self._render_locked(rows)
        return row

    def remove(self, **match: str) -> int:
        """Remove rows whose fields equal every ``match`` item.

        Parameters
        ----------
        **match : str
            Field -> value.

        Returns
        -------
        int
            How many rows were removed.
        """
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
