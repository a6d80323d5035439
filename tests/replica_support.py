"""Replicas of real subjects: their real events, sidecars and run lengths, a known BOLD signal,
head motion and session offsets, and fMRIPrep-layout transforms.

Everything here is written independently of the package (no fmri_bench import): the ITK
text files by hand (LPS, as fMRIPrep's nitransforms writer does), the haemodynamic
response from its double-gamma formula, the geometry from the definitions below.

The model, in T1w-space millimetres ``y``:

    bold(y, t) = B(y) * (1 + a * P_{image(t)}(y) + drift(t)) + noise

``B`` is an anatomy-like texture (+-20%, waves of 8-16 mm) (so that reading the wrong place changes the signal a
lot), ``P_i(y) = sum_k w_ik cos(q_k . y + phi_k)`` a fine-grained pattern per image (waves
of 2.5-4 voxels; ``w_i`` drawn from the image's split and index, so every presentation of
an image shows the same pattern), convolved in time with a double-gamma HRF per block. A
session is scanned with the head displaced by ``S`` (T1w point -> boldref point), and every
volume moved by ``R_t`` (boldref point -> the point of volume t); the raw voxel ``v`` of
volume ``t`` therefore holds the tissue at ``y = S^-1 R_t^-1 A_bold v``. The ROI masks are on
the T1w grid ``A_mask``; prepare must undo ``S`` and ``R_t`` with the transform files to see
the patterns.
"""

from __future__ import annotations

import json
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.stats import gamma

ROIS = ["V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA", "HVC"]
SPLIT_SESSIONS = {
    "ds001506": {
        "train": "ses-perceptionNaturalImageTraining",
        "test": "ses-perceptionNaturalImageTest",
        "artificial": "ses-perceptionArtificialImage",
        "letter": "ses-perceptionLetterImage",
    },
    "ds001246": {"train": "ses-perceptionTraining", "test": "ses-perceptionTest"},
}
SUBJECTS = {"ds001506": ["sub-01", "sub-02", "sub-03"], "ds001246": ["sub-01", "sub-02", "sub-03", "sub-04", "sub-05"]}
TR = {"ds001506": 2.0, "ds001246": 3.0}
ZOOM = {"ds001506": 2.0, "ds001246": 3.0}
STIMULUS_CODES = ("1", "2", "stimulus")  # the rows that show an image (one-back repeats too)
GRID = (10, 10, 9)  # mask grid = raw grid shape; the ROIs sit in the middle, 3 voxels from every edge
ROI_BOX = (slice(3, 7), slice(3, 7), slice(3, 6))
N_WAVES = 12
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Motion:
    """Head displacement per session, motion within a run, and jitter of each session's BOLD header."""

    session_mm: float = 3.0
    session_deg: float = 3.0
    run_mm: float = 1.0
    run_deg: float = 1.0
    header_mm: float = 0.0


STILL = Motion(0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass
class Replica:
    """What was written, and the truth to check prepared samples against."""

    root: Path
    dataset: str
    subject: str
    mask_affine: np.ndarray
    waves: np.ndarray  # (K, 3) rad/mm: the image patterns' waves
    phases: np.ndarray  # (K,)
    anatomy_waves: np.ndarray  # (4, 3): the anatomy's texture (8-16 mm)
    anatomy_phases: np.ndarray
    seed: int
    runs: dict[str, list[str]] = field(default_factory=dict)  # split -> run stems, in session/run order
    run_volumes: dict[str, int] = field(default_factory=dict)

    def weights(self, split: str, image_index: int) -> np.ndarray:
        """The pattern coefficients of one image (the same in every run, session and subject seed)."""
        key = zlib.crc32(f"{self.seed}/{split}/{int(image_index)}".encode())
        return np.random.default_rng(key).normal(size=N_WAVES)

    def patterns(self, split: str, image_index: np.ndarray, ijk: np.ndarray) -> np.ndarray:
        """The true pattern of each image at mask voxels ``ijk``: (n_images, n_voxels)."""
        y = nib.affines.apply_affine(self.mask_affine, ijk)
        basis = np.cos(y @ self.waves.T + self.phases)  # (n_voxels, K)
        return np.stack([basis @ self.weights(split, i) for i in image_index])


# --------------------------------------------------------------------------- the real metadata


def run_lengths(reference: Path, dataset: str) -> dict[str, int]:
    """Run stem -> its real number of volumes (image_shapes.tsv)."""
    table = pd.read_csv(reference / "openneuro" / dataset / "image_shapes.tsv", sep="\t", dtype=str)
    bold = table[table["kind"] == "bold"]
    return {Path(p).name[: -len("_bold.nii.gz")]: int(n) for p, n in zip(bold["path"], bold["nt"])}


def short_runs(reference: Path, dataset: str) -> dict[str, int]:
    """Run stem -> real number of volumes, for the runs in short_runs.tsv."""
    table = pd.read_csv(reference / "openneuro" / "short_runs.tsv", sep="\t", header=None)
    return {stem: int(str(v).split("=")[1]) for ds, stem, v in zip(table[0], table[1], table[2]) if ds == dataset}


def select_runs(
    reference: Path,
    dataset: str,
    subject: str,
    splits: list[str],
    runs_per_session: int | dict[str, int] | None,
    max_runs_per_split: int | None = None,
) -> dict[str, list[Path]]:
    """The events files to replicate: the first ``runs_per_session`` runs (per split when a dict) of
    every session of each split (all with None), plus every short run of the subject in those splits."""
    src = reference / "openneuro" / dataset / subject
    short = short_runs(reference, dataset)
    out: dict[str, list[Path]] = {}
    for split in splits:
        files = sorted(src.glob(f"{SPLIT_SESSIONS[dataset][split]}*/func/*task-perception_run-*_events.tsv"))
        limit = runs_per_session.get(split) if isinstance(runs_per_session, dict) else runs_per_session
        keep = []
        for path in files:
            run = int(path.name.split("_run-")[1][:2])
            stem = path.name[: -len("_events.tsv")]
            if limit is None or run <= limit or stem in short:
                keep.append(path)
        out[split] = keep[:max_runs_per_split]
    return out


# --------------------------------------------------------------------------- geometry


def rotation(deg: np.ndarray) -> np.ndarray:
    """3x3 rotation about x, then y, then z (degrees)."""
    ax, ay, az = np.deg2rad(deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def rigid(deg: np.ndarray, mm: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """4x4 RAS rigid transform: rotate about ``centre``, then translate by ``mm``."""
    out = np.eye(4)
    out[:3, :3] = rotation(deg)
    out[:3, 3] = centre - out[:3, :3] @ centre + mm
    return out


def motion_series(n: int, rng: np.random.Generator, mm: float, deg: float, centre: np.ndarray) -> np.ndarray:
    """Slow drift plus jitter, relative to the middle volume (fMRIPrep's boldref is a mid-run reference)."""
    t = np.linspace(0.0, 1.0, n)
    params = np.zeros((n, 6))
    for k in range(6):
        amp = deg if k < 3 else mm
        slow = amp * (
            0.5 * rng.uniform(-1, 1) * t + 0.4 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 6))
        )
        params[:, k] = slow + rng.normal(0, 0.05 * amp, n)
    params -= params[n // 2]
    return np.stack([rigid(p[:3], p[3:], centre) for p in params])


def itk_text(ras: np.ndarray) -> str:
    """ITK text transforms as fMRIPrep writes them: LPS matrices, centre 0, 6 significant digits."""
    lines = ["#Insight Transform File V1.0"]
    for k, matrix in enumerate(ras.reshape(-1, 4, 4)):
        lps = LPS @ matrix @ LPS
        values = [*lps[:3, :3].ravel(), *lps[:3, 3]]
        lines += [
            f"#Transform {k}",
            "Transform: AffineTransform_float_3_3",
            "Parameters: " + " ".join(f"{v:g}" for v in values),
            "FixedParameters: 0 0 0",
            "",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- signal


def hrf(dt: float) -> np.ndarray:
    """The double-gamma haemodynamic response (peak ~5 s, undershoot ~15 s), unit area."""
    t = np.arange(0.0, 32.0, dt)
    h = gamma.pdf(t, 6) - gamma.pdf(t, 16) / 6.0
    return h / h.sum()


def block_responses(events: pd.DataFrame, times: np.ndarray, dt: float = 0.1) -> np.ndarray:
    """(n_volumes, n_blocks): each image block's boxcar convolved with the HRF, at the volume times."""
    kernel = hrf(dt)
    out = np.zeros((times.size, len(events)))
    for duration in np.unique(events["duration"]):
        grid = np.arange(0.0, duration + 40.0, dt)
        shape = np.convolve((grid < duration).astype(float), kernel)[: grid.size]
        for col in np.flatnonzero(events["duration"].to_numpy() == duration):
            out[:, col] = np.interp(times - events["onset"].iat[col], grid, shape, left=0.0, right=0.0)
    return out


# --------------------------------------------------------------------------- writing


def _write_masks(root: Path, subject: str, affine: np.ndarray) -> None:
    """22 ROI masks (LH/RH x 11 ROIs) on the T1w grid; their union is ROI_BOX."""
    anat = root / "sourcedata" / subject / "anat"
    anat.mkdir(parents=True, exist_ok=True)
    box = np.zeros(GRID, dtype=bool)
    box[ROI_BOX] = True
    labels = np.arange(np.prod(GRID)).reshape(GRID) % len(ROIS)
    x_world = nib.affines.apply_affine(affine, np.indices(GRID).reshape(3, -1).T)[:, 0].reshape(GRID)
    for r, roi in enumerate(ROIS):
        for hemi, side in (("LH", x_world < 0), ("RH", x_world >= 0)):
            mask = (box & side & (labels == r)).astype(np.uint8)
            nib.save(nib.Nifti1Image(mask, affine), anat / f"{subject}_mask_{hemi}_{roi}.nii.gz")


def _copy_top_level(src: Path, out: Path) -> None:
    for name in ("dataset_description.json", "README", "CHANGES", "task-perception_bold.json"):
        if (src / name).is_file():
            shutil.copy(src / name, out / name)
    (out / "derivatives" / "fmriprep").mkdir(parents=True, exist_ok=True)
    (out / "derivatives" / "fmriprep" / "dataset_description.json").write_text(
        json.dumps({"Name": "fMRIPrep - replica", "BIDSVersion": "1.8.0", "DatasetType": "derivative"})
    )


def write_replica(
    reference: Path,
    dataset: str,
    subject: str,
    out: Path,
    *,
    splits: list[str] | None = None,
    runs_per_session: int | dict[str, int] | None = None,
    max_runs_per_split: int | None = None,
    motion: Motion = Motion(),
    amplitude: float = 0.02,
    noise: float = 0.01,
    derivatives: bool = True,
) -> Replica:
    """Write the replica of ``subject`` under ``out`` (a BIDS root); return what the tests check against.

    ``amplitude`` and ``noise`` are fractions of the baseline (pattern amplitude; sd of the
    AR(1) thermal noise); ``derivatives`` writes fMRIPrep's transforms under
    ``derivatives/fmriprep``.
    """
    src = reference / "openneuro" / dataset
    out.mkdir(parents=True, exist_ok=True)
    _copy_top_level(src, out)
    seed = zlib.crc32(f"{dataset}/{subject}".encode())
    rng = np.random.default_rng(seed)
    zoom = ZOOM[dataset]
    mask_affine = np.diag([zoom, zoom, zoom, 1.0])
    mask_affine[:3, 3] = -np.asarray(GRID, dtype=float) / 2.0 * zoom + np.array([0.3, -20.0, 10.0])
    dirs = rng.normal(size=(N_WAVES, 3))
    waves = (
        dirs
        / np.linalg.norm(dirs, axis=1, keepdims=True)
        * (2 * np.pi / (rng.uniform(2.5, 4.0, N_WAVES) * zoom))[:, None]
    )
    anatomy_dirs = rng.normal(size=(4, 3))
    anatomy_waves = anatomy_dirs / np.linalg.norm(anatomy_dirs, axis=1, keepdims=True)
    anatomy_waves *= (2 * np.pi / rng.uniform(8, 16, 4))[:, None]
    replica = Replica(
        out,
        dataset,
        subject,
        mask_affine,
        waves,
        rng.uniform(0, 2 * np.pi, N_WAVES),
        anatomy_waves,
        rng.uniform(0, 2 * np.pi, 4),
        seed,
    )
    _write_masks(out, subject, mask_affine)
    lengths = run_lengths(reference, dataset)
    centre = nib.affines.apply_affine(mask_affine, (np.asarray(GRID) - 1) / 2.0)
    sessions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    chosen = splits or list(SPLIT_SESSIONS[dataset])
    selected = select_runs(reference, dataset, subject, chosen, runs_per_session, max_runs_per_split)
    for split, files in selected.items():
        replica.runs[split] = []
        for events_path in files:
            session = events_path.parent.parent.name
            if session not in sessions:  # this session's head position and BOLD header
                offset = rigid(
                    rng.uniform(-1, 1, 3) * motion.session_deg, rng.uniform(-1, 1, 3) * motion.session_mm, centre
                )
                header = mask_affine.copy()
                header[:3, 3] += rng.uniform(-1, 1, 3) * motion.header_mm
                sessions[session] = (offset, header)
            stem = events_path.name[: -len("_events.tsv")]
            n_volumes = lengths[stem]
            _write_run(
                replica,
                split,
                events_path,
                out,
                n_volumes,
                sessions[session],
                motion,
                amplitude,
                noise,
                derivatives,
                rng,
            )
            replica.runs[split].append(stem)
            replica.run_volumes[stem] = n_volumes
    return replica


def _write_run(
    replica: Replica,
    split: str,
    events_path: Path,
    out: Path,
    n_volumes: int,
    session: tuple[np.ndarray, np.ndarray],
    motion: Motion,
    amplitude: float,
    noise: float,
    derivatives: bool,
    rng: np.random.Generator,
) -> None:
    dataset, subject = replica.dataset, replica.subject
    rel = events_path.relative_to(events_path.parents[3])  # sub-XX/ses-YY/func/<file>
    func = out / rel.parent
    func.mkdir(parents=True, exist_ok=True)
    stem = events_path.name[: -len("_events.tsv")]
    shutil.copy(events_path, func / events_path.name)
    sidecar = events_path.with_name(f"{stem}_bold.json")
    if sidecar.is_file():
        shutil.copy(sidecar, func / sidecar.name)
    offset, header = session
    centre = nib.affines.apply_affine(replica.mask_affine, (np.asarray(GRID) - 1) / 2.0)
    moves = motion_series(n_volumes, rng, motion.run_mm, motion.run_deg, offset[:3, :3] @ centre + offset[:3, 3])
    data = _render(replica, split, events_path, n_volumes, offset, moves, header, amplitude, noise, rng)
    img = nib.Nifti1Image(data, header)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = TR[dataset]
    nib.save(img, func / f"{stem}_bold.nii.gz")
    if derivatives:
        deriv = out / "derivatives" / "fmriprep" / subject / func.parent.name / "func"
        deriv.mkdir(parents=True, exist_ok=True)
        (deriv / f"{stem}_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt").write_text(itk_text(moves))
        (deriv / f"{stem}_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt").write_text(itk_text(offset))
        # fMRIPrep's reference volumes on the raw grid (only their header is read)
        for desc, volume in (("hmc", data[..., n_volumes // 2]), ("coreg", data.mean(axis=-1))):
            nib.save(nib.Nifti1Image(volume.astype(np.float32), header), deriv / f"{stem}_desc-{desc}_boldref.nii.gz")


def _render(
    replica: Replica,
    split: str,
    events_path: Path,
    n_volumes: int,
    offset: np.ndarray,
    moves: np.ndarray,
    header: np.ndarray,
    amplitude: float,
    noise: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The raw run: every raw voxel of every volume reads the tissue its motion puts there."""
    events = pd.read_csv(events_path, sep="\t", dtype=str, keep_default_na=False)
    shown = events[events["event_type"].isin(STIMULUS_CODES)].copy()
    shown["onset"] = shown["onset"].astype(float)
    shown["duration"] = shown["duration"].astype(float)
    times = np.arange(n_volumes) * TR[replica.dataset]
    responses = block_responses(shown, times)  # (T, blocks)
    weights = (
        np.stack([replica.weights(split, int(i)) for i in shown["image_index"]])
        if len(shown)
        else np.zeros((0, N_WAVES))
    )
    drive = responses @ weights  # (T, K)
    scan = nib.affines.apply_affine(header, np.indices(GRID).reshape(3, -1).T)  # (N, 3) scanner mm
    to_tissue = np.linalg.inv(offset) @ np.linalg.inv(moves)  # (T, 4, 4): scanner point -> T1w point
    # cos(q . (M s + d) + phi) = cos((M^T q) . s + q . d + phi): one (T, K, 3) @ (3, N) product
    waves = np.vstack([replica.waves, replica.anatomy_waves])
    phases = np.concatenate([replica.phases, replica.anatomy_phases])
    rotated = np.einsum("tij,ki->tkj", to_tissue[:, :3, :3], waves)  # (T, K + 4, 3)
    shift = to_tissue[:, :3, 3] @ waves.T + phases  # (T, K + 4)
    cosines = np.cos((rotated @ scan.T + shift[:, :, None]).astype(np.float32))  # (T, K + 4, N)
    basis = cosines[:, :N_WAVES]
    base = 1000.0 * (1.0 + 0.05 * cosines[:, N_WAVES:].sum(axis=1))  # anatomy: +-20% around 1000
    n_vox = scan.shape[0]
    drift = (rng.uniform(-1, 1, n_vox) * np.linspace(-0.01, 0.01, n_volumes)[:, None]) + 0.005 * np.sin(
        2 * np.pi * times[:, None] / rng.uniform(150, 400, n_vox) + rng.uniform(0, 6, n_vox)
    )
    # AR(1) thermal noise, phi 0.3, marginal sd ``noise``
    thermal = lfilter([np.sqrt(1 - 0.09)], [1.0, -0.3], rng.normal(0.0, noise, (n_volumes, n_vox)), axis=0)
    pattern = np.matmul(drive.astype(np.float32)[:, None, :], basis)[:, 0]  # (T, N)
    signal = base * (1.0 + amplitude * pattern + drift + thermal)
    return np.rint(signal.T).reshape(*GRID, n_volumes, order="C").astype(np.int16)
