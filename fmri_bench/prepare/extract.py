"""Per-run work: read one BOLD run once, at the ROI voxels, and compute the samples of each version.

The run is read once per space its versions need: ``T1w`` resamples it onto the ROI masks'
grid through fMRIPrep's head-motion and coregistration transforms
(:mod:`fmri_bench.prepare.align`, streamed volume by volume); ``native`` reads the raw voxels
(the mask applied to the stored integers before any float conversion).

v1 "block average": linear detrend + z-score per voxel (nilearn.signal.clean), then the
mean of the volumes inside each stimulus block shifted by the haemodynamic delay.
v2 "single-trial GLM": nilearn's design matrix (one HRF regressor per block) and, per block,
least squares separate (its regressor, one for all other blocks, the drift) or least squares
all; the betas, z-scored per run, are the samples.
"""

from __future__ import annotations

import errno
import functools
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from fmri_bench.errors import DataError
from fmri_bench.prepare.align import ORDERS, resample_run
from fmri_bench.raw.bids import block_volumes
from fmri_bench.threads import single_blas_thread

DROP_REPEAT = "one_back_repeat"
DROP_SHORT = "short_run"


@dataclass
class Read:
    """One way of reading the run, shared by the versions of one space and interpolation.

    ``voxels``: for ``T1w``, (n_voxels, 3) indices on the mask grid; for ``native``, flat
    (Fortran-order) indices into the raw grid. ``columns``: version -> its columns among them.
    """

    space: str
    interpolation: str | None
    voxels: np.ndarray
    columns: dict[str, np.ndarray]

    @property
    def key(self) -> str:
        """``T1w-linear``, ``native``...: how the versions of this read are sampled."""
        return self.space if self.interpolation is None else f"{self.space}-{self.interpolation}"


@dataclass
class RunTask:
    """What a worker needs for one run: paths, events, TR, reads, transforms and version parameters."""

    bold: Path
    events: pd.DataFrame
    tr: float
    n_volumes: int
    reads: list[Read]
    params: dict[str, dict[str, Any]]  # version -> its recipe table
    maps: np.ndarray | None = None  # (n_volumes, 4, 4) mask voxel -> raw voxel, for T1w reads


@dataclass
class RunSamples:
    """One version's samples from one run."""

    fmri: np.ndarray  # float32 (n_blocks, n_voxels)
    labels: np.ndarray  # int64 (n_blocks,)
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass
class RunQC:
    """How a run's read lines up: its mean image at the read's voxels and which voxels stayed in its field of view."""

    mean: np.ndarray  # float32 (n_voxels,)
    in_view: np.ndarray  # bool (n_voxels,): inside the run's field of view in every volume

    @property
    def inside(self) -> float:
        """The share of the read's voxels that stayed in the field of view."""
        return float(self.in_view.mean()) if self.in_view.size else 1.0


@dataclass
class RunResult:
    """Everything a worker returns for one run: samples per version, QC per read."""

    samples: dict[str, RunSamples]
    qc: dict[str, RunQC]


def read_masked(bold: Path, flat_index: np.ndarray) -> np.ndarray:
    """Read a BOLD run and return the voxels at ``flat_index`` as float32 (n_volumes, n_voxels).

    ``flat_index`` indexes the 3-D grid in Fortran order, the order NIfTI stores voxels in.

    Parameters
    ----------
    bold : Path
        A 4-D NIfTI file (``.nii`` or ``.nii.gz``).
    flat_index : ndarray, int, shape (n_voxels,)
        Fortran-order flat indices into the 3-D grid.

    Returns
    -------
    ndarray, float32, shape (n_volumes, n_voxels)
        The voxels' time series, with the file's ``scl_slope`` / ``scl_inter`` applied.

    Raises
    ------
    DataError
        The file is missing, corrupt or truncated, or is not 4-D.
    """
    try:
        img = nib.load(bold)
        proxy = img.dataobj
        if bold.name.endswith(".gz") and isinstance(img, nib.Nifti1Image) and hasattr(proxy, "offset"):
            raw = _read_gzipped(bold, proxy)
        else:
            # Keep the stored integer type: masking int16 first avoids a full float copy.
            raw = np.asanyarray(proxy.get_unscaled())
    except OSError as exc:
        if exc.errno == errno.ENOENT or not bold.exists():
            raise DataError(f"{bold}: BOLD file missing (not downloaded? run `datalad get` or pass --source)") from exc
        raise DataError(f"{bold}: cannot read NIfTI, the file is corrupt or truncated ({exc})") from exc
    except (EOFError, zlib.error, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise DataError(f"{bold}: cannot read NIfTI, the file is corrupt or truncated ({exc})") from exc
    if raw.ndim != 4:
        raise DataError(f"{bold}: expected a 4-D BOLD image, got shape {raw.shape}")
    if np.issubdtype(raw.dtype, np.floating) and not np.isfinite(raw).all():
        raise DataError(f"{bold}: holds NaN or inf values; expected finite BOLD")
    n_vol = raw.shape[3]
    flat = raw.reshape(-1, n_vol, order="F")  # a view for Fortran-ordered data
    data = flat[flat_index].T.astype(np.float32)
    del raw, flat
    # The proxy holds the file's scaling and offset (an image's header has them reset).
    slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
    if slope is not None and np.isfinite(slope) and slope not in (0.0, 1.0):
        data *= np.float32(slope)
    if inter is not None and np.isfinite(inter) and inter != 0.0:
        data += np.float32(inter)
    return data


def _read_gzipped(bold: Path, proxy: nib.arrayproxy.ArrayProxy, chunk: int = 16 << 20) -> np.ndarray:
    """The stored voxel array of a .nii.gz, inflated in large chunks straight into one buffer.

    Faster than nibabel's GzipFile reads (the I/O floor the benchmark compares with), and
    the peak memory is one stored-type copy of the run plus one chunk. Shape, type and
    data offset come from nibabel's array proxy.
    """
    shape = proxy.shape
    dtype = np.dtype(proxy.dtype)
    count = int(np.prod(shape))
    offset = int(proxy.offset)
    need = offset + count * dtype.itemsize
    out = np.empty(need, dtype=np.uint8)
    filled = 0
    inflater = zlib.decompressobj(wbits=31)  # gzip framing; the trailer's CRC is checked
    with open(bold, "rb") as handle:
        while filled < need:
            data = inflater.unconsumed_tail or handle.read(chunk)
            if not data:
                break
            piece = inflater.decompress(data, min(chunk * 8, need - filled))
            out[filled : filled + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            filled += len(piece)
            if inflater.eof and filled < need:  # a multi-member gzip file: start the next member
                rest = inflater.unused_data
                inflater = zlib.decompressobj(wbits=31)
                if rest:
                    piece = inflater.decompress(rest, need - filled)
                    out[filled : filled + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
                    filled += len(piece)
    if filled < need:
        raise DataError(
            f"{bold}: cannot read NIfTI, the file is truncated ({filled} bytes inflated, the header implies {need})"
        )
    return out[offset:].view(dtype).reshape(shape, order="F")


def kept_blocks(events: pd.DataFrame, n_volumes: int, tr: float, delay_s: float) -> tuple[pd.DataFrame, dict[str, int]]:
    """Return the sample blocks that fit in the run, and counts of the blocks dropped and why.

    Parameters
    ----------
    events : DataFrame
        The run's events, as :func:`~fmri_bench.raw.bids.read_events` returns them.
    n_volumes : int
        The run's number of volumes.
    tr : float
        The repetition time, in seconds.
    delay_s : float
        The haemodynamic delay, in seconds.

    Returns
    -------
    blocks : DataFrame
        The ``sample`` rows whose delayed block holds at least one volume and ends inside
        the run.
    dropped : dict of str to int
        ``one_back_repeat``: the run's ``repeat`` rows; ``short_run``: the sample rows
        left out.
    """
    blocks = events[events["role"] == "sample"]
    fits = np.array(
        [
            (vols := block_volumes(o, d, delay_s, tr)).size > 0 and vols[-1] < n_volumes
            for o, d in zip(blocks["onset"], blocks["duration"])
        ],
        dtype=bool,
    )
    dropped = {DROP_REPEAT: int((events["role"] == "repeat").sum()), DROP_SHORT: int((~fits).sum())}
    return blocks[fits], dropped


def block_average(data: np.ndarray, events: pd.DataFrame, tr: float, params: dict[str, Any]) -> RunSamples:
    """v1: detrend + z-score per voxel, then average the delayed volumes of each block.

    Parameters
    ----------
    data : ndarray, float32, shape (n_volumes, n_voxels)
        The masked run.
    events : DataFrame
        The run's events (see :func:`kept_blocks`).
    tr : float
        The repetition time, in seconds.
    params : dict
        The version's recipe table: ``delay_s``, ``detrend`` and ``standardize`` (a
        ``nilearn.signal.clean`` strategy, or false for none).

    Returns
    -------
    RunSamples
        float32 (n_blocks, n_voxels) samples, their int64 image indices, and the drop counts.
    """
    from nilearn.signal import clean

    n_volumes = data.shape[0]
    blocks, dropped = kept_blocks(events, n_volumes, tr, float(params["delay_s"]))
    standardize = params["standardize"] or None  # None: no standardization (booleans are deprecated)
    # The data come from integers: finite, so no finiteness pass (a full copy) is needed.
    cleaned = clean(data, detrend=bool(params["detrend"]), standardize=standardize, t_r=tr, ensure_finite=False)
    # A voxel constant over the run carries no signal; z-scoring its detrending residue
    # (rounding noise around 1e-13) would blow it up to unit variance.
    cleaned[:, np.ptp(data, axis=0) == 0] = 0.0
    samples = np.empty((len(blocks), data.shape[1]), dtype=np.float32)
    for row, (onset, duration) in enumerate(zip(blocks["onset"], blocks["duration"])):
        samples[row] = cleaned[block_volumes(onset, duration, float(params["delay_s"]), tr)].mean(axis=0)
    return RunSamples(samples, blocks["image_index"].to_numpy(np.int64), dropped)


@functools.lru_cache(maxsize=32)
def _design(
    timing: tuple[tuple[float, float], ...], n_volumes: int, tr: float, hrf: str, drift: tuple[str, int, float]
) -> tuple[np.ndarray, np.ndarray]:
    """nilearn's design matrix with one regressor per event of ``timing`` ((onset, duration) pairs).

    Returns ``(events, drift)``: (n_volumes, n_events) in ``timing`` order and
    (n_volumes, n_drift). Cached: the runs of one session type share their block timing
    (ds001506's 528 perception runs have four), and building it costs more than the fit.
    """
    from nilearn.glm.first_level import make_first_level_design_matrix

    names = [f"event{k:04d}" for k in range(len(timing))]
    frame = pd.DataFrame({"onset": [t[0] for t in timing], "duration": [t[1] for t in timing], "trial_type": names})
    design = make_first_level_design_matrix(
        np.arange(n_volumes) * tr,
        frame,
        hrf_model=hrf,
        drift_model=drift[0],
        drift_order=drift[1],
        high_pass=drift[2],
    )
    regressors = design[names].to_numpy()
    others = design.drop(columns=names).to_numpy()
    regressors.setflags(write=False)
    others.setflags(write=False)
    return regressors, others


def least_squares_separate(
    regressors: np.ndarray, others: np.ndarray, data: np.ndarray, targets: list[int]
) -> np.ndarray:
    """LSS betas (Mumford et al. 2012): block ``b`` fitted with [its regressor, the sum of all other
    event regressors, ``others``], one OLS per block; only the block's own beta is kept.

    Computed by the Frisch-Waugh-Lovell theorem: the beta of regressor ``r`` in that fit is
    ``r~ . y / r~ . r~`` with ``r~`` the residual of ``r`` on the fit's other columns, so all
    blocks take one (blocks x volumes) @ (volumes x voxels) product instead of one solve each.

    Parameters
    ----------
    regressors : ndarray, shape (n_volumes, n_events)
        Every stimulus event's HRF regressor (kept blocks, one-back repeats, cut blocks).
    others : ndarray, shape (n_volumes, n_nuisance)
        Drift and constant columns.
    data : ndarray, shape (n_volumes, n_voxels)
        The scaled run.
    targets : list of int
        The columns of ``regressors`` whose betas are wanted.

    Returns
    -------
    ndarray, float64, shape (len(targets), n_voxels)
    """
    total = regressors.sum(axis=1)
    residuals = np.empty((len(targets), regressors.shape[0]))
    for row, col in enumerate(targets):
        own = regressors[:, col]
        rest = np.column_stack([total - own, others])
        coef, *_ = np.linalg.lstsq(rest, own, rcond=None)
        residuals[row] = own - rest @ coef
    norms = (residuals * residuals).sum(axis=1)
    norms[norms == 0] = np.inf  # a block with no signal left in the run gets beta 0
    return (residuals @ data) / norms[:, None]


def single_trial_glm(data: np.ndarray, events: pd.DataFrame, tr: float, params: dict[str, Any]) -> RunSamples:
    """v2: one beta per kept block (least squares separate or all); betas z-scored per run.

    The data are scaled to percent signal change per voxel before the fit (as nilearn's
    FirstLevelModel does).

    Parameters
    ----------
    data : ndarray, float32, shape (n_volumes, n_voxels)
        The masked run.
    events : DataFrame
        The run's events (see :func:`kept_blocks`).
    tr : float
        The repetition time, in seconds.
    params : dict
        The version's recipe table: ``trial_model`` (``lss`` or ``lsa``), ``delay_s``,
        ``hrf_model``, ``drift_model``, ``drift_order``, ``high_pass_hz``, ``noise_model``
        (``ols``; ``ar1`` with ``lsa`` only) and ``zscore_betas`` (per voxel over the run's
        blocks, when true and with 2 or more kept blocks).

    Returns
    -------
    RunSamples
        float32 (n_blocks, n_voxels) betas of the kept blocks, their int64 image indices,
        and the drop counts.
    """
    n_volumes = data.shape[0]
    blocks, dropped = kept_blocks(events, n_volumes, tr, float(params["delay_s"]))
    # Every stimulus block gets its own regressor, the one-back repeats and the blocks cut by a
    # short run too (they drive the BOLD, each as its own image); only the kept blocks' betas
    # become samples. A block whose response would only start after the last volume (the end
    # of a short run) has a zero or near-zero regressor that makes the design singular: left out.
    last_frame = (n_volumes - 1) * tr
    stim = events[(events["role"] != "rest") & (events["onset"] + float(params["delay_s"]) <= last_frame)]
    timing = tuple(zip(stim["onset"].astype(float), stim["duration"].astype(float)))
    drift = (params["drift_model"], int(params.get("drift_order", 1)), float(params["high_pass_hz"]))
    regressors, others = _design(timing, n_volumes, float(tr), params["hrf_model"], drift)
    targets = [stim.index.get_loc(i) for i in blocks.index]
    mean = data.mean(axis=0)
    mean[mean == 0] = 1.0
    scaled = (data / mean - 1.0) * 100.0  # percent signal change
    if params.get("trial_model", "lsa") == "lss":
        betas = least_squares_separate(regressors, others, scaled, targets)
    else:
        betas = _least_squares_all(np.column_stack([regressors, others]), scaled, targets, params["noise_model"])
    if params["zscore_betas"] and len(targets) > 1:
        std = betas.std(axis=0, ddof=1)
        std[std == 0] = 1.0
        betas = (betas - betas.mean(axis=0)) / std
    return RunSamples(betas.astype(np.float32), blocks["image_index"].to_numpy(np.int64), dropped)


def _least_squares_all(design: np.ndarray, scaled: np.ndarray, targets: list[int], noise_model: str) -> np.ndarray:
    """LSA: one fit with every block's regressor; nilearn's ``run_glm`` for an AR(1) noise model."""
    if noise_model == "ols":
        from scipy.linalg import pinv

        # What run_glm's OLS model computes for theta (pinv(X) @ Y), without its residual statistics.
        return (pinv(design) @ scaled)[targets]
    from nilearn.glm.first_level import run_glm

    labels, results = run_glm(scaled, design, noise_model=noise_model)
    betas = np.empty((len(targets), scaled.shape[1]), dtype=np.float64)
    for label, result in results.items():
        betas[:, labels == label] = result.theta[targets]
    return betas


METHODS = {"block_average": block_average, "single_trial_glm": single_trial_glm}


def process_run(task: RunTask) -> RunResult:
    """Read ``task.bold`` once per read and return the samples of every requested version.

    Parameters
    ----------
    task : RunTask
        The run: BOLD path, events, TR, expected volume count, reads (voxels per space),
        per-volume voxel maps for the T1w reads, and parameters per version.

    Returns
    -------
    RunResult
        Version -> its samples from this run; read -> the run's mean image and field-of-view share.

    Raises
    ------
    DataError
        The BOLD cannot be read, holds NaN or inf, or holds another number of volumes than
        its header says.
    """
    # The matrices are small (volumes x regressors): BLAS threads only spin and contend,
    # which made a 239 x 65 SVD take 0.8 s instead of 1 ms on a loaded 2-core machine.
    with single_blas_thread():
        return _process_run(task)


def _read(task: RunTask, read: Read) -> tuple[np.ndarray, np.ndarray]:
    if read.space == "T1w":
        assert task.maps is not None and read.interpolation is not None
        return resample_run(task.bold, task.maps, read.voxels, ORDERS[read.interpolation])
    data = read_masked(task.bold, read.voxels)
    if data.shape[0] != task.n_volumes:  # the header said otherwise: a truncated file
        raise DataError(f"{task.bold}: read {data.shape[0]} volumes, header says {task.n_volumes}")
    return data, np.ones(data.shape[1], dtype=bool)


def _process_run(task: RunTask) -> RunResult:
    samples: dict[str, RunSamples] = {}
    qc: dict[str, RunQC] = {}
    for read in task.reads:
        data, in_view = _read(task, read)
        qc[read.key] = RunQC(data.mean(axis=0).astype(np.float32), in_view)
        for version, columns in read.columns.items():
            params = task.params[version]
            samples[version] = METHODS[params["method"]](data[:, columns], task.events, task.tr, params)
        del data
    return RunResult(samples, qc)
