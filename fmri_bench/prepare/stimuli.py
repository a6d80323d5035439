"""The stimulus catalogue (stimuli.tsv) and the prepared image arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fmri_bench.errors import DataError
from fmri_bench.images import IMAGE_EXTENSIONS, load_image
from fmri_bench.io import sha256_file

COLUMNS = ["split", "image_index", "stimulus_id", "stimulus_name", "sha256"]


def catalogue(events_by_split: dict[str, list[tuple[Path, pd.DataFrame]]]) -> pd.DataFrame:
    """Return one row per image (split, image_index, stimulus_id, stimulus_name), ascending.

    Raises DataError when one image_index names two different stimuli within a split.

    Parameters
    ----------
    events_by_split : dict
        Split -> ``(events path, events)`` of every run, the events as
        :func:`~fmri_bench.raw.bids.read_events` returns them.

    Returns
    -------
    DataFrame
        Columns ``split``, ``image_index``, ``stimulus_id``, ``stimulus_name`` and ``sha256``
        (``"n/a"`` until :func:`build_images` fills it); the splits in the order of
        ``events_by_split`` (train, test, then the others), each by image_index. The first row
        seen for an image gives its stimulus_id.
    """
    rows: dict[tuple[str, int], tuple[str, str, Path]] = {}
    for split, items in events_by_split.items():
        for path, events in items:
            stim = events[events["role"] != "rest"]
            for index, name, sid in zip(stim["image_index"], stim["stimulus_name"], stim["stimulus_id"]):
                key = (split, int(index))
                if key in rows and rows[key][0] != name:
                    raise DataError(
                        f"{path}: image_index {index} ({split}) is {name!r} here but {rows[key][0]!r} in {rows[key][2]}"
                    )
                rows.setdefault(key, (name, sid, path))
    order = {split: rank for rank, split in enumerate(events_by_split)}  # the recipe's split order
    keys = sorted(rows, key=lambda k: (order.get(k[0], len(order)), k[1]))
    return pd.DataFrame([(s, i, rows[(s, i)][1], rows[(s, i)][0], "n/a") for s, i in keys], columns=COLUMNS)


def _index_folder(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    # Sorted, so that x.jpg wins over x.png whatever order the file system lists them in.
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        stem, ext = os.path.splitext(entry.name)
        if ext.lower() in IMAGE_EXTENSIONS and entry.is_file():
            found.setdefault(stem, Path(entry.path))
    return found


def build_images(
    table: pd.DataFrame, folder: str | os.PathLike[str], resolution: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray], list[dict]]:
    """Read the images of ``table`` from ``folder``; fill its sha256 column.

    Parameters
    ----------
    table : DataFrame
        The catalogue (see :func:`catalogue`).
    folder : path-like
        A folder holding one image per stimulus, named ``<stimulus_name>.<ext>`` (not
        searched recursively).
    resolution : int
        The output side in pixels (see :func:`load_image`).

    Returns
    -------
    table : DataFrame
        ``table`` with the sha256 of each source image file.
    images : dict
        split -> uint8 (n_images, resolution, resolution, 3) in table order. A split none of
        whose images is in the folder (e.g. ImageNet images given, DIR's shapes not) is left
        out unless it is ``train`` or ``test``; a split with only some is an error.
    inputs : list of dict
        The source image files with their sizes, for the manifest.

    Raises
    ------
    DataError
        The folder is missing, a stimulus has no image, or an image is unreadable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such stimulus folder (expected images named by stimulus_name)")
    index = _index_folder(folder)
    table = table.copy()
    images: dict[str, np.ndarray] = {}
    inputs: list[dict] = []
    for split in table["split"].unique():
        rows = table.index[table["split"] == split]
        if split not in ("train", "test") and not any(table.at[r, "stimulus_name"] in index for r in rows):
            continue
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
