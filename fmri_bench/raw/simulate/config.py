"""The simulator's constants, model parameters, size presets and random streams."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

SIMULATOR_VERSION = "4"

ROIS = ("V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA", "HVC")
EARLY_ROIS = ROIS[:7]
HEMISPHERES = ("LH", "RH")
#: Visual area of each ROI label: the hierarchy level that sets pRF size, exponent, gain...
AREA_OF = {
    "V1d": "V1",
    "V1v": "V1",
    "V2d": "V2",
    "V2v": "V2",
    "V3d": "V3",
    "V3v": "V3",
    "hV4": "hV4",
    "LOC": "LOC",
    "FFA": "FFA",
    "PPA": "PPA",
    "HVC": "HVC",
}
AREAS = ("V1", "V2", "V3", "hV4", "LOC", "FFA", "PPA", "HVC")
EARLY_AREAS = AREAS[:4]
#: Higher-order feature maps pooled by LOC, FFA, PPA and the HVC-only band (features.higher_order_maps).
HIGHER_CHANNELS = (
    "edge_density",
    "contour_0",
    "contour_45",
    "contour_90",
    "contour_135",
    "junction",
    "curvature",
    "colourfulness",
    "colour_edges",
    "layout_0",
    "layout_45",
    "layout_90",
    "layout_135",
    "fine_texture",
)
TASK = "perception"
OVERSAMPLING = 16  # fine time steps per TR for the HRF convolution


def _per_area(*values: float) -> dict[str, float]:
    return dict(zip(AREAS, values))


@dataclass(frozen=True)
class ModelParams:
    """Every number of the encoding, haemodynamic and noise model (defaults: the calibrated values).

    Units: degrees of visual angle (``fov_deg`` across the square image), cycles per image
    (cpi), seconds, percent signal change. The equations are in the
    :mod:`fmri_bench.raw.simulate` docstring, the calibration figures there and in the README.
    """

    # stimulus and feature bank
    fov_deg: float = 12.0  # ds001506 images span 12 x 12 deg
    pool_grid: int = 32  # pRF pooling grid (0.375 deg per cell)
    gabor_sf_cpi: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0, 32.0)
    n_orient: int = 8
    gabor_bw_oct: float = 1.0  # spatial-frequency bandwidth (FWHM, octaves)
    norm_c: float = 0.1  # semi-saturation of the image-wide energy normalization
    surround_k: float = 0.9  # first-order centre-surround: surround weight
    surround_sigma_deg: float = 1.8
    # retinotopy: ecc = B (exp(d / A) - 1) (Horton & Hoyt), A per subject
    ecc_b_deg: float = 0.75
    ecc_max_deg: tuple[float, float] = (9.0, 11.0)
    # pRF sigma (deg) = offset + slope * ecc (slopes: Kay et al. 2013 / Benson's SCO)
    prf_slope: dict = field(default_factory=lambda: {"V1": 0.10, "V2": 0.15, "V3": 0.27, "hV4": 0.40})
    prf_offset: dict = field(default_factory=lambda: {"V1": 0.35, "V2": 0.40, "V3": 0.45, "hV4": 0.60})
    prf_jitter: float = 0.15
    higher_ecc_scale: dict = field(default_factory=lambda: {"LOC": 1.8, "FFA": 1.2, "PPA": 3.0, "HVC": 2.0})
    higher_sigma_base: dict = field(default_factory=lambda: {"LOC": 2.0, "FFA": 1.8, "PPA": 3.0, "HVC": 2.5})
    higher_contra: float = 0.75
    higher_lp: float = 2.0  # L2 pooling inside higher-area pRFs (position tolerance)
    higher_norm_eps: float = 0.1
    # tuning: preferred SF (cpd) = area factor / (0.15 ecc + 0.17) (Broderick et al. 2022)
    sf_area_factor: dict = field(default_factory=lambda: {"V1": 1.0, "V2": 0.8, "V3": 0.65, "hV4": 0.5})
    sf_tuning_oct: float = 1.0
    sf_pref_jitter_oct: float = 0.4
    orient_kappa_max: float = 0.5
    radial_bias: float = 0.7
    exponent: dict = field(default_factory=lambda: _per_area(0.5, 0.4, 0.35, 0.3, 0.25, 0.25, 0.25, 0.25))
    first_order_share: dict = field(default_factory=lambda: _per_area(0.60, 0.55, 0.50, 0.50, 0.10, 0.10, 0.15, 0.10))
    subject_share: float = 0.2  # share of each voxel's signal variance that is subject-specific
    specific_terms: int = 2
    specific_smooth_vox: float = 2.0
    amp_pct: dict = field(default_factory=lambda: _per_area(1.0, 0.95, 0.9, 0.7, 0.4, 0.35, 0.35, 0.3))
    amp_jitter: float = 0.3
    mean_response: float = 1.0  # block height = amp * (mean_response + a)
    # haemodynamics: double-gamma HRF peaking at tau (SPM canonical = 5 s)
    hrf_peak_mean: float = 5.5
    hrf_peak_smooth_sd: float = 0.5
    hrf_peak_voxel_sd: float = 0.3
    hrf_peak_range: tuple[float, float] = (4.0, 7.0)
    hrf_peak_step: float = 0.25
    # noise, percent signal change per volume
    noise_pct: float = 3.5
    noise_jitter: float = 0.25
    share_white: float = 0.30  # independent AR(1)
    share_spatial: float = 0.40  # Gaussian random field with AR(1) time courses
    share_global: float = 0.30  # one global AR(1) signal x voxel loading
    rho_white: float = 0.4
    rho_spatial: float = 0.5
    rho_global: float = 0.8
    grf_fwhm_mm: float = 10.0
    global_loading_sd: float = 0.3
    drift_pct: float = 0.5
    # the oracle's measurement (v1 block average): the haemodynamic shift
    oracle_delay_s: float = 4.0

    def as_dict(self) -> dict:
        """Return the parameters as a JSON-ready dict.

        Returns
        -------
        dict
        """
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MotionParams:
    """Head motion: a position per session, a small offset per run, slow drift and jitter per volume.

    Rotations (degrees) are about ``centre_mm`` (T1w space), about 40 mm in front of the
    occipital slab, where a head's centre would be. Magnitudes are maxima per axis.
    """

    session_mm: float = 2.0
    session_deg: float = 2.0
    run_mm: float = 0.3
    run_deg: float = 0.3
    drift_mm: float = 0.4
    drift_deg: float = 0.4
    jitter_mm: float = 0.03
    jitter_deg: float = 0.03
    centre_mm: tuple[float, float, float] = (0.0, 40.0, 0.0)


@dataclass(frozen=True)
class SizePreset:
    """One dataset size: every number that shapes the simulated dataset.

    Attributes
    ----------
    name : str
        The preset's name.
    n_subjects, n_train, train_reps, n_test, test_reps : int
        Subjects; natural training images and presentations of each; test images and theirs.
    images_per_run, onebacks_per_run, runs_per_session : int
        Natural-image runs: unique images, one-back repetitions (event_type 2), runs per session.
    artificial_reps, artificial_runs_per_session, artificial_onebacks : int
        ``ses-perceptionArtificialImage0N``: each of the 40 shapes once per run, ``artificial_reps`` runs.
    letter_reps, letter_onebacks : int
        ``ses-perceptionLetterImage01``: each of the 10 letters once per run, ``letter_reps`` runs.
    grid : tuple of int
        The BOLD and mask grid (x, y, z) in voxels of ``voxel_mm``.
    fov_margin : int
        With ``motion``: voxels of empty field of view added around the occipital slab on
        every side, so that head motion keeps the brain in view (as a real whole-brain EPI
        does); see :func:`fmri_bench.raw.simulate.writer.with_motion_margin`.
    motion : bool
        Head motion in the written BOLD (the transforms are written either way).
    params, motion_params
        The encoding/noise model and the motion magnitudes.
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
    fov_margin: int = 0
    artificial_reps: int = 20
    artificial_runs_per_session: int = 10
    artificial_onebacks: int = 4
    letter_reps: int = 12
    letter_onebacks: int = 1
    motion: bool = False
    voxel_mm: float = 2.0
    tr: float = 2.0
    image_px: int = 128
    images_per_category: int = 4
    initial_rest_s: float = 32.0
    block_s: float = 8.0
    final_rest_s: float = 6.0
    letter_block_s: float = 12.0
    letter_rest_s: float = 12.0
    params: ModelParams = field(default_factory=ModelParams)
    motion_params: MotionParams = field(default_factory=MotionParams)

    def as_dict(self) -> dict:
        """Return the preset as a JSON-ready dict.

        Returns
        -------
        dict
            Field name -> value (nested dataclasses as dicts).
        """
        return dataclasses.asdict(self)


#: The size presets, by name. ``motion`` is off in both presets (the tests' fixtures); the
#: synthetic recipe turns it on (datasets/synthetic.toml), and prepare aligns through the
#: fMRIPrep transforms (see the package docstring, "Head motion").
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
        grid=(16, 14, 10),
        artificial_reps=2,
        artificial_runs_per_session=2,
        letter_reps=2,
        # Less noise than default: tests on 60 training images need a clear effect.
        params=ModelParams(noise_pct=1.5),
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
        grid=(24, 20, 16),
        # With motion, the slab sits inside 2 voxels (4 mm) of empty field of view: head motion
        # of up to about 4 mm keeps every ROI voxel in view (without, prepare dropped a third).
        fov_margin=2,
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

# Random streams: ``default_rng([seed, stream, ...])``; a new stream never shifts another one.
STREAM_STIMULI = 1  # stimuli.py uses 1 and 2 (kept from simulator version 2)
STREAM_SCHEDULE = 30
STREAM_ANATOMY = 101
STREAM_RETINOTOPY = 102
STREAM_TUNING = 103
STREAM_HRF = 104
STREAM_NOISE_PARAMS = 105
STREAM_BASELINE = 106
STREAM_MOTION = 107
STREAM_RUN_NOISE = 110


def _rng(seed: int, *stream: int) -> np.random.Generator:
    # Independent named streams: adding a stream never shifts another one.
    return np.random.default_rng([int(seed), *[int(s) for s in stream]])
