"""Write a replica of one real subject: real events and sidecars, synthetic BOLD on a tiny grid.

The BOLD carries a known signal: during each (delayed) stimulus block, voxel ``CODE_VOXELS[b]``
is high when bit ``b`` of the block's image_index is set, so every prepared sample can be
decoded back to its image_index and checked against its label.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

GRID = (4, 4, 3)
N_BITS = 11  # image_index < 2048
# Voxels (i, j, k) that carry the bits of the image_index; the rest is noise-free baseline.
CODE_VOXELS = [np.unravel_index(v, GRID) for v in range(N_BITS)]
ROIS = ["V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA", "HVC"]
SPLIT_SESSIONS = {
    "ds001506": ("ses-perceptionNaturalImageTraining", "ses-perceptionNaturalImageTest"),
    "ds001246": ("ses-perceptionTraining", "ses-perceptionTest"),
}
TR = {"ds001506": 2.0, "ds001246": 3.0}
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def short_runs(reference: Path, dataset: str) -> dict[str, int]:
    """Run stem -> real number of volumes, for the runs in short_runs.tsv."""
    table = pd.read_csv(reference / "openneuro" / "short_runs.tsv", sep="\t", header=None)
    out = {}
    for ds, stem, volumes in zip(table[0], table[1], table[2]):
        if ds == dataset:
            out[stem] = int(str(volumes).split("=")[1])
    return out


def code_signal(image_index: int) -> np.ndarray:
    """The bit pattern (0/1 per code voxel) of an image_index."""
    return np.array([(image_index >> b) & 1 for b in range(N_BITS)], dtype=np.int16)


def decode(samples: np.ndarray, columns: list[int]) -> np.ndarray:
    """image_index decoded from the signs of the code voxels of prepared samples."""
    bits = (samples[:, columns] > 0).astype(np.int64)
    return (bits * (1 << np.arange(N_BITS))).sum(axis=1)


def write_masks(root: Path, subject: str, grid: tuple[int, int, int] = GRID, affine: np.ndarray = AFFINE) -> None:
    """Every ROI mask on the grid; together they cover every voxel."""
    anat = root / "sourcedata" / subject / "anat"
    anat.mkdir(parents=True, exist_ok=True)
    n = int(np.prod(grid))
    for r, roi in enumerate(ROIS):
        for h, hemi in enumerate(("LH", "RH")):
            flat = np.zeros(n, dtype=np.uint8)
            flat[(np.arange(n) % (2 * len(ROIS))) == 2 * r + h] = 1
            nib.save(nib.Nifti1Image(flat.reshape(grid), affine), anat / f"{subject}_mask_{hemi}_{roi}.nii.gz")


def write_run(
    bold: Path, events: pd.DataFrame, n_volumes: int, tr: float, delay_s: float, grid: tuple[int, int, int] = GRID
) -> None:
    """Synthetic int16 BOLD: baseline 1000 plus 100 on the code voxels set for each delayed block."""
    data = np.full((*grid, n_volumes), 1000, dtype=np.int16)
    times = np.arange(n_volumes) * tr
    stim = events[events["event_type"].astype(str).isin(["1", "2", "stimulus"])]
    for onset, duration, index in zip(stim["onset"], stim["duration"], stim["image_index"]):
        inside = (times >= onset + delay_s) & (times < onset + duration + delay_s)
        bits = code_signal(int(index))
        for (i, j, k), bit in zip(CODE_VOXELS, bits):
            data[i, j, k, inside] += 100 * bit
    img = nib.Nifti1Image(data, AFFINE)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = tr
    bold.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, bold)


def write_replica(
    reference: Path, dataset: str, subject: str, out: Path, *, delay_s: float, max_runs_per_split: int | None = None
) -> dict[str, list[str]]:
    """Write the replica of ``subject``; return the run stems written per split."""
    src = reference / "openneuro" / dataset
    out.mkdir(parents=True, exist_ok=True)
    for name in ("dataset_description.json", "README", "task-perception_bold.json"):
        if (src / name).is_file():
            shutil.copy(src / name, out / name)
    short = short_runs(reference, dataset)
    tr = TR[dataset]
    written: dict[str, list[str]] = {"train": [], "test": []}
    for split, prefix in zip(("train", "test"), SPLIT_SESSIONS[dataset]):
        files = sorted((src / subject).glob(f"{prefix}*/func/*task-perception_run-*_events.tsv"))
        if max_runs_per_split is not None:
            files = files[:max_runs_per_split]
        for events_path in files:
            rel = events_path.relative_to(src)
            stem = events_path.name[: -len("_events.tsv")]
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(events_path, out / rel)
            sidecar = events_path.with_name(stem + "_bold.json")
            if sidecar.is_file():
                shutil.copy(sidecar, (out / rel).with_name(sidecar.name))
            events = pd.read_csv(events_path, sep="\t", dtype=str, keep_default_na=False)
            length = float((events["onset"].astype(float) + events["duration"].astype(float)).max())
            n_volumes = short.get(stem, int(round(length / tr)))
            ev = events.copy()
            ev["onset"] = ev["onset"].astype(float)
            ev["duration"] = ev["duration"].astype(float)
            write_run(out / rel.parent / f"{stem}_bold.nii.gz", ev, n_volumes, tr, delay_s)
            written[split].append(stem)
    write_masks(out, subject)
    return written
