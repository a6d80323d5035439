"""A folder-backed store of the targets' network features, so that scoring does not recompute them.

Scoring a submission runs every network on the targets and on the reconstructions; the
targets are the same for every submission of a dataset version, so their features are
kept in ``<data-home>/cache/features/<key>.npz`` (the key hashes the targets' content, the
weight file's sha256, the preprocessing chain, the metric definitions' version, the batch
size and torch's thread count, the last two because they change the features' last bits). Measured
on 50 test images with the offline SqueezeNet and MobileNetV2: the networks' time halves
from the second score of a version on.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import numpy as np

from fmri_bench.io import atomic_path
from fmri_bench.progress import get_logger

log = get_logger(__name__)


class FeatureStore(MutableMapping):
    """A mapping of key -> {node name: float64 array}, one ``.npz`` file per key.

    Writes are atomic; an unreadable file is treated as absent (and removed), so a killed
    run never poisons the next one.

    Parameters
    ----------
    folder : path-like
        Where the files go (created on the first write).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise KeyError(key)
        return self.folder / f"{key}.npz"

    def __getitem__(self, key: str) -> dict[str, np.ndarray]:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            log.warning("%s: unreadable cached features, recomputing them", path)
            path.unlink(missing_ok=True)
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: dict[str, np.ndarray]) -> None:
        with atomic_path(self._path(key), suffix=".npz") as tmp:
            np.savez(tmp, **{name: np.asarray(array) for name, array in value.items()})

    def __delitem__(self, key: str) -> None:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        path.unlink()

    def __iter__(self) -> Iterator[str]:
        return (p.stem for p in sorted(self.folder.glob("*.npz"))) if self.folder.is_dir() else iter(())

    def __len__(self) -> int:
        return sum(1 for _ in self)
