"""The simulator's size presets, constants and random streams."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

SIMULATOR_VERSION = "2"

ROIS = ("V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA", "HVC")
HEMISPHERES = ("LH", "RH")
FEATURES = ("luminance", "red_green", "blue_yellow", "edge_0", "edge_45", "edge_90", "edge_135")
FEATURE_GRID = 32
LEVELS = ("V1", "V2", "V3", "hV4", "higher")
# ROI -> level of the latent channels its voxels mix.
_ROI_LEVEL = {
    "V1d": 0,
    "V1v": 0,
    "V2d": 1,
    "V2v": 1,
    "V3d": 2,
    "V3v": 2,
    "hV4": 3,
    "LOC": 4,
    "FFA": 4,
    "PPA": 4,
    "HVC": 4,
}
_LEVEL_SIGMA = (0.05, 0.07, 0.10, 0.15, 0.25)
_OVERSAMPLING = 16
TASK = "perception"


@dataclass(frozen=True)
class SizePreset:
    """One dataset size: every number that shapes the simulated dataset.

    Attributes
    ----------
    n_subjects, n_train, train_reps, n_test, test_reps
        Subjects; training images and presentations of each; test images and theirs.
    images_per_run, onebacks_per_run
        Unique images and one-back repetitions (event_type 2) in one run.
    runs_per_session
        Runs per ``ses-perceptionNaturalImage{Training,Test}0N`` session.
    grid
        BOLD grid (x, y, z) in voxels of ``voxel_mm``.
    image_px
        Side of the square stimulus PNGs.
    channels_per_level
        Shared latent channels per level (V1, V2, V3, hV4, higher).
    mix
        Channels mixed by each voxel.
    snr, ar_rho, drift_pct
        Signal/noise amplitude ratio, AR(1) coefficient, drift scale (% of baseline).
    images_per_category
        Training images per category (test images are one per category).
    """

    name: str
    n_subjects: int
    n_train: int
    train_reps: int
    n_test: int
    test_reps: int
    images_per_run: int
    onebacks_per_run: int
    runs_per_session: int
    grid: tuple[int, int, int]
    voxel_mm: float = 2.0
    tr: float = 2.0
    image_px: int = 128
    channels_per_level: tuple[int, ...] = (160, 120, 90, 60, 60)
    mix: int = 3
    snr: float = 0.3
    ar_rho: float = 0.4
    drift_pct: float = 0.5
    images_per_category: int = 4
    initial_rest_s: float = 32.0
    block_s: float = 8.0
    final_rest_s: float = 6.0

    def as_dict(self) -> dict:
        """Return the preset as a JSON-ready dict.

        Returns
        -------
        dict
            Field name -> value (``grid`` and ``channels_per_level`` as tuples).
        """
        return dataclasses.asdict(self)


#: The size presets, by name.
SIZES: dict[str, SizePreset] = {
    "tiny": SizePreset(
        name="tiny",
        n_subjects=2,
        n_train=60,
        train_reps=2,
        n_test=10,
        test_reps=6,
        images_per_run=10,
        onebacks_per_run=1,
        runs_per_session=4,
        grid=(16, 16, 8),
        # More signal than default: tests on 60 training images need a clear effect.
        images_per_category=4,
        snr=0.3,
    ),
    "default": SizePreset(
        name="default",
        n_subjects=3,
        n_train=600,
        train_reps=2,
        n_test=50,
        test_reps=8,
        images_per_run=50,
        onebacks_per_run=5,
        runs_per_session=8,
        grid=(20, 20, 12),
        # Calibrated (bench/calibrate_simulate.py): pairwise SVM sanity check ~0.7 per subject.
        images_per_category=4,
        snr=0.12,
    ),
}

_BOLD_SIDECAR = {
    "Manufacturer": "SIEMENS",
    "ManufacturersModelName": "Verio",
    "MagneticFieldStrength": 3.0,
    "FlipAngle": 80.0,
    "EchoTime": 0.043,
    "MultibandAccelerationFactor": 4,
    "TaskName": TASK,
}
EVENTS_COLUMNS = (
    "onset",
    "duration",
    "event_type",
    "stimulus_id",
    "stimulus_name",
    "category_index",
    "image_index",
    "response_time",
)


def _rng(seed: int, *stream: int) -> np.random.Generator:
    # Independent named streams: adding a stream never shifts another one.
    return np.random.default_rng([int(seed), *stream])
