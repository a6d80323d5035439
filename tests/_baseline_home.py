"""A hand-made prepared data home for the baseline tests (documented layout, structured data).

Images are coloured discs and squares on a coloured background; each subject's fMRI is a
fixed random linear map of the 16x16 pixels plus noise, so decoders have something to find.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from fmri_bench.io import save_npy_atomic, sha256_file, write_json_atomic


def shapes(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] / size
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        img = np.ones((size, size, 3)) * rng.uniform(0, 1, 3)
        for _ in range(2):
            cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
            mask = (
                ((xx - cx) ** 2 + (yy - cy) ** 2 < r**2)
                if rng.random() < 0.5
                else ((abs(xx - cx) < r) & (abs(yy - cy) < r))
            )
            img[mask] = rng.uniform(0, 1, 3)
        out[i] = np.rint(img * 255)
    return out


def write_mask(folder: Path, n_voxels: int) -> None:
    """A mask of the first ``n_voxels`` voxels of a small grid, and their coordinates."""
    grid = np.zeros((20, 20, max(1, -(-n_voxels // 400))), dtype=np.uint8)
    grid.reshape(-1, order="C")[:n_voxels] = 1
    folder.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(grid, np.eye(4)), folder / "mask.nii.gz")
    save_npy_atomic(folder / "voxel_ijk.npy", np.argwhere(grid).astype(np.int32))


def make_home(
    home: Path,
    *,
    n_train: int = 80,
    n_test: int = 10,
    train_reps: int = 2,
    test_reps: int = 6,
    n_voxels: int = 300,
    subjects: int = 2,
    size: int = 32,
    noise: float = 1.0,
    signal: float = 1.0,
    seed: int = 0,
    versions: tuple[str, ...] = ("v1",),
) -> Path:
    rng = np.random.default_rng(seed)
    images = {"train": shapes(n_train, size, rng), "test": shapes(n_test, size, rng)}
    index = {"train": np.arange(1, n_train + 1), "test": np.arange(1, n_test + 1)}
    for version in versions:
        folder = home / "synthetic" / version
        for split in ("train", "test"):
            save_npy_atomic(folder / f"images_{split}.npy", images[split])
        (folder / "stimuli.tsv").write_text(
            "split\timage_index\n" + "".join(f"{s}\t{i}\n" for s in ("train", "test") for i in index[s])
        )
        outputs = {f"images_{sp}.npy": {"sha256": sha256_file(folder / f"images_{sp}.npy")} for sp in ("train", "test")}
        write_json_atomic(folder / "manifest.json", {"dataset": "synthetic", "version": version, "outputs": outputs})
        for s in range(1, subjects + 1):
            W = signal * rng.normal(size=(16 * 16 * 3, n_voxels)) / 30
            for split, reps in (("train", train_reps), ("test", test_reps)):
                labels = np.repeat(index[split], reps)
                rng.shuffle(labels)
                small = images[split].reshape(-1, 16, size // 16, 16, size // 16, 3).mean((2, 4)) / 255
                pix = small.reshape(len(small), -1)[labels - 1]
                fmri = (pix - 0.5) @ W + noise * rng.normal(size=(len(labels), n_voxels))
                save_npy_atomic(folder / f"sub-0{s}" / f"{split}_fmri.npy", fmri.astype(np.float32))
                save_npy_atomic(folder / f"sub-0{s}" / f"{split}_labels.npy", labels.astype(np.int64))
            write_mask(folder / f"sub-0{s}", n_voxels)
    return home
