"""The stimulus catalogue (stimuli.tsv) and the prepared image arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fmri_bench.errors import DataError
from fmri_bench.io import sha256_file

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
COLUMNS = ["split", "image_index", "stimulus_id", "stimulus_name", "sha256"]


def catalogue(events_by_split: dict[str, list[tuple[Path, pd.DataFrame]]]) -> pd.DataFrame:
    """Return one row per image (split, image_index, stimulus_id, stimulus_name), ascending.

    Raises DataError when one image_index names two different stimuli within a split.
    """
    rows: dict[tuple[str, int], tuple[str, str, Path]] = {}
    for split, items in events_by_split.items():
        for path, events in items:
            stim = events[events["role"] != "rest"]
            for index, name, sid in zip(stim["image_index"], stim["stimulus_name"], stim["stimulus_id"]):
                key = (split, int(index))
                if key in rows and rows[key][0] != name:
                    raise DataError(
                        f"{path}: image_index {index} ({split}) is {name!r} here but {rows[key][0]!r} "
                        f"in {rows[key][2]}"
                    )
                rows.setdefault(key, (name, sid, path))
    order = {"train": 0, "test": 1}
    keys = sorted(rows, key=lambda k: (order.get(k[0], 9), k[1]))
    return pd.DataFrame(
        [(s, i, rows[(s, i)][1], rows[(s, i)][0], "n/a") for s, i in keys], columns=COLUMNS
    )


def _index_folder(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for entry in os.scandir(folder):
        stem, ext = os.path.splitext(entry.name)
        if ext.lower() in IMAGE_EXTENSIONS and entry.is_file():
            found.setdefault(stem, Path(entry.path))
    return found


def load_image(path: Path, resolution: int) -> np.ndarray:
    """Read an image as RGB, centre-crop it to a square and resize it (Lanczos) to ``resolution``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side))
            if side != resolution:
                img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
            return np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from exc


def build_images(
    table: pd.DataFrame, folder: str | os.PathLike[str], resolution: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray], list[dict]]:
    """Read the images of ``table`` from ``folder``; fill its sha256 column.

    Returns
    -------
    table : DataFrame
        ``table`` with the sha256 of each source image file.
    images : dict
        split -> uint8 (n_images, resolution, resolution, 3) in table order.
    inputs : list of dict
        The source image files with their sizes, for the manifest.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such stimulus folder (expected images named by stimulus_name)")
    index = _index_folder(folder)
    table = table.copy()
    images: dict[str, np.ndarray] = {}
    inputs: list[dict] = []
    for split in ("train", "test"):
        rows = table.index[table["split"] == split]
        stack = np.empty((len(rows), resolution, resolution, 3), dtype=np.uint8)
        for k, row in enumerate(rows):
            name = table.at[row, "stimulus_name"]
            path = index.get(name)
            if path is None:
                raise DataError(
                    f"{folder}: no image for stimulus {name} ({split} image_index "
                    f"{table.at[row, 'image_index']}); expected a file named {name}.<png|jpg|JPEG...>"
                )
            stack[k] = load_image(path, resolution)
            table.at[row, "sha256"] = sha256_file(path)
            inputs.append({"path": str(path), "bytes": path.stat().st_size})
        images[split] = stack
    return table, images, inputs
