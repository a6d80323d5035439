"""The leaderboard record: ``results.jsonl`` in a folder, with its renderings beside it.

The record is one JSON object per line and per scored submission (key-sorted, rows in a
stable order), so that a pull request shows a readable diff. :meth:`Leaderboard.upsert`
replaces the row with the same (name, dataset, version, subject, kind) or adds one; it
holds a file lock (several ``score`` runs at once all land; a wait longer than a second is
logged, and it gives up with one line after :data:`LOCK_TIMEOUT_S`) and writes every file
to a temporary name first and renames it (a crash leaves the previous record intact). After
each change, ``README.md`` and ``index.html`` are re-rendered.

A line of ``results.jsonl`` that is not a valid row (bad JSON, a missing field) is skipped
with a warning naming its line number, and kept verbatim at the end of the file when the
record is rewritten: one bad line never blocks ``score`` or ``leaderboard``, and is not lost.

Per-image scores of a reconstruction row (what ``fmri-bench compare`` tests) go to
``per_image/<entry>.json`` beside the record (six significant digits), referenced from the
row with the file's sha256, so that ``results.jsonl`` stays one short line per row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from fmri_bench.errors import FmriBenchError
from fmri_bench.io import atomic_path, write_text_atomic
from fmri_bench.leaderboard.html import render_html
from fmri_bench.leaderboard.markdown import render_markdown
from fmri_bench.leaderboard.rows import plain, row_key, sort_key, validate_row
from fmri_bench.progress import get_logger

RECORD_FILE = "results.jsonl"
GALLERY_DIR = "gallery"
PER_IMAGE_DIR = "per_image"
LOCK_TIMEOUT_S = 120.0
LOCK_NOTICE_S = 1.0
log = get_logger(__name__)


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
        self._lock = FileLock(str(self.folder / f".{RECORD_FILE}.lock"))
        self.skipped: list[tuple[int, str, str]] = []

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the record's lock; say so after a second of waiting, give up with one line."""
        try:
            self._lock.acquire(timeout=LOCK_NOTICE_S)
        except Timeout:
            log.warning(f"waiting for the leaderboard lock {self._lock.lock_file} (another fmri-bench is writing)")
            try:
                self._lock.acquire(timeout=max(LOCK_TIMEOUT_S - LOCK_NOTICE_S, 0.0))
            except Timeout:
                raise FmriBenchError(
                    f"the leaderboard {self.folder} stayed locked for {LOCK_TIMEOUT_S:.0f} s; "
                    f"expected another fmri-bench to finish (if none is running, delete {self._lock.lock_file})"
                ) from None
        try:
            yield
        finally:
            self._lock.release()

    def rows(self) -> list[dict[str, Any]]:
        """Return every valid recorded row, in the record's order.

        Invalid lines are skipped (a warning names each line number) and listed in
        :attr:`skipped` as (line number, reason, text).

        Returns
        -------
        list of dict
        """
        self.skipped = []
        if not self.record.is_file():
            return []
        rows = []
        for number, line in enumerate(self.record.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                validate_row(row)
            except (json.JSONDecodeError, RecursionError, ValueError, FmriBenchError) as exc:
                reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                self.skipped.append((number, reason, line))
                log.warning(
                    f"{self.record}:{number}: skipped, not a valid leaderboard row ({reason}); fix or remove it"
                )
                continue
            rows.append(row)
        return rows

    def _write_rows(self, rows: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in sorted(rows, key=sort_key))
        text += "".join(line + "\n" for _, _, line in self.skipped)  # kept verbatim, never lost
        write_text_atomic(self.record, text)

    def _stem(self, row: dict[str, Any]) -> str:
        fields = [row["dataset"], row["version"], row["subject"], row["kind"], row["name"]]
        if row.get("protocol"):
            fields.insert(4, str(row["protocol"]))
        if (row.get("split") or "test") != "test":
            fields.insert(2, str(row["split"]))
        key_text = "_".join(fields)
        digest = hashlib.sha1(key_text.encode()).hexdigest()[:8]
        return f"{_slug(key_text)[:64]}-{digest}"

    def gallery_path(self, row: dict[str, Any]) -> str:
        """The gallery file (relative to the folder) of a row: a slug plus a short hash of its key.

        Parameters
        ----------
        row : dict

        Returns
        -------
        str
        """
        return f"{GALLERY_DIR}/{self._stem(row)}.png"

    def upsert(
        self,
        row: dict[str, Any],
        *,
        gallery_png: bytes | None = None,
        per_image: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add ``row``, replacing the row with the same (name, dataset, version, subject, kind, protocol).

        Parameters
        ----------
        row : dict
            A valid row (see :mod:`fmri_bench.leaderboard.rows`).
        gallery_png : bytes, optional
            PNG bytes (targets above reconstructions) stored under ``gallery/`` and
            referenced from the row.
        per_image : dict, optional
            Metric key -> per-image scores, stored under ``per_image/`` and referenced from
            the row (``per_image`` and ``per_image_sha256``).

        Returns
        -------
        dict
            The stored row.
        """
        validate_row(row)
        row = plain(row)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            rows = self.rows()
            key = row_key(row)
            clash = next(
                (r for r in rows if row_key(r) == key and bool(r.get("reference")) != bool(row.get("reference"))), None
            )
            if clash is not None:
                raise FmriBenchError(
                    f"the name {row['name']!r} belongs to a {'reference' if clash.get('reference') else 'submission'} row "
                    "of this dataset, version, subject and protocol; expected another name"
                )
            if gallery_png is not None:
                rel = self.gallery_path(row)
                with atomic_path(self.folder / rel, suffix=".png") as tmp:
                    tmp.write_bytes(gallery_png)
                row["gallery"] = rel
            if per_image:
                row["per_image"], row["per_image_sha256"] = self._write_per_image(row, per_image)
            rows = [r for r in rows if row_key(r) != key] + [row]
            self._write_rows(rows)
            self._render_locked(rows)
        return row

    def _write_per_image(self, row: dict[str, Any], per_image: dict[str, Any]) -> tuple[str, str]:
        values = {
            k: [None if not math.isfinite(v) else float(f"{v:.6g}") for v in map(float, vals)]
            for k, vals in per_image.items()
        }
        text = json.dumps({"n_images": row.get("n_images"), "per_image": values}, sort_keys=True)
        rel = f"{PER_IMAGE_DIR}/{self._stem(row)}.json"
        write_text_atomic(self.folder / rel, text + "\n")
        return rel, hashlib.sha256((text + "\n").encode()).hexdigest()

    def per_image(self, row: dict[str, Any]) -> dict[str, list[float | None]]:
        """The per-image scores recorded for ``row`` (checked against the sha256 in the row).

        Parameters
        ----------
        row : dict
            A stored reconstruction row.

        Returns
        -------
        dict
            Metric key -> per-image scores (None where undefined).

        Raises
        ------
        FmriBenchError
            The row has none, or the file is missing or does not match its sha256.
        """
        rel = row.get("per_image")
        if not isinstance(rel, str) or not rel.startswith(f"{PER_IMAGE_DIR}/") or ".." in rel:
            raise FmriBenchError(
                f"leaderboard entry {row.get('name')!r} has no per-image scores recorded; expected a row "
                "recorded by this fmri-bench (score it again), or compare the submission files"
            )
        path = self.folder / rel
        data = path.read_bytes() if path.is_file() else b""
        if hashlib.sha256(data).hexdigest() != row.get("per_image_sha256"):
            raise FmriBenchError(f"{path}: missing or modified (sha256 differs from the row's); score the entry again")
        return json.loads(data)["per_image"]

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
        with self._locked():
            rows = self.rows()
            kept = [r for r in rows if not all(r.get(k) == v for k, v in match.items())]
            if len(kept) != len(rows):
                self._write_rows(kept)
                self._render_locked(kept)
            return len(rows) - len(kept)

    def render(self) -> None:
        """Re-render README.md and index.html from the record."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._render_locked(self.rows())

    def _render_locked(self, rows: list[dict[str, Any]]) -> None:
        write_text_atomic(self.folder / "README.md", render_markdown(rows))
        write_text_atomic(self.folder / "index.html", render_html(rows))
