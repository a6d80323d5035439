"""A prepared data home laid out by hand (the documented layout), for scoring tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def smooth_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth, distinct colour images, uint8 (n, size, size, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((n, size, size, 3))
    for i in range(n):
        for c in range(3):
            f, a = rng.uniform(1, 4), rng.uniform(0, np.pi)
            images[i, :, :, c] = 0.5 + 0.45 * np.sin(
                2 * np.pi * f * (xx * np.cos(a) + yy * np.sin(a)) + rng.uniform(0, 6)
            )
    return (images * 255).astype(np.uint8)


def write_manifest(folder: Path) -> None:
    """The manifest fields scoring reads: the images' sha256 (checked before scoring)."""
    from fmri_bench.io import sha256_file

    outputs = {f: {"sha256": sha256_file(folder / f)} for f in ("images_test.npy", "images_train.npy")}
    (folder / "manifest.json").write_text(json.dumps({"dataset": "synthetic", "version": "v1", "outputs": outputs}))


def make_home(root: Path, n_test: int = 12, size: int = 40, subjects: tuple[str, ...] = ("sub-01",)) -> Path:
    """``root`` as a data home holding synthetic v1 with ``n_test`` test images and 6 training images."""
    images = smooth_images(n_test + 6, size)
    folder = root / "synthetic" / "v1"
    folder.mkdir(parents=True)
    np.save(folder / "images_test.npy", images[:n_test])
    np.save(folder / "images_train.npy", images[n_test:])
    write_manifest(folder)
    for s in subjects:
        (folder / s).mkdir()
        for split in ("train", "test"):
            np.save(folder / s / f"{split}_fmri.npy", np.zeros((n_test, 3), np.float32))
            np.save(folder / s / f"{split}_labels.npy", np.arange(n_test))
    return root
