"""Per-run work: read one BOLD run once, mask it early, and compute the samples of each version.

v1 "block average": linear detrend + z-score per voxel (nilearn.signal.clean), then the
mean of the volumes inside each stimulus block shifted by the haemodynamic delay.
v2 "single-trial GLM": one regressor per block (least squares all) with nilearn's design
matrix and ``run_glm`` on the masked 2-D data; the betas, z-scored per run, are the samples.

Memory: the BOLD is read as stored (int16), the mask is applied to the raw integers, and
only the masked voxels become float32, so a worker holds about one int16 run plus a
small float32 matrix.
"""

from __future__ import annotations

import errno
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from fmri_bench.errors import DataError
from fmri_bench.raw.bids import block_volumes

DROP_REPEAT = "one_back_repeat"
DROP_SHORT = "short_run"


@dataclass
class RunTask:
    """What a worker needs for one run: paths, events, TR, voxel indices and version parameters."""

    bold: Path
    events: pd.DataFrame
    tr: float
    n_volumes: int
    voxels: dict[str, np.ndarray]  # version -> flat (Fortran-order) voxel indices into the 3-D grid
    params: dict[str, dict[str, Any]]  # version -> its recipe table


@dataclass
class RunSamples:
    """One version's samples from one run."""

    fmri: np.ndarray  # float32 (n_blocks, n_voxels)
    labels: np.ndarray  # int64 (n_blocks,)
    dropped: dict[str, int] = field(default_factory=dict)


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


def single_trial_glm(data: np.ndarray, events: pd.DataFrame, tr: float, params: dict[str, Any]) -> RunSamples:
    """v2: least-squares-all GLM, one regressor per kept block; betas z-scored per run.

    The data are scaled to percent signal change per voxel before the fit.

    Parameters
    ----------
    data : ndarray, float32, shape (n_volumes, n_voxels)
        The masked run.
    events : DataFrame
        The run's events (see :func:`kept_blocks`).
    tr : float
        The repetition time, in seconds.
    params : dict
        The version's recipe table: ``delay_s``, ``hrf_model``, ``drift_model``,
        ``drift_order``, ``high_pass_hz``, ``noise_model`` and ``zscore_betas`` (the
        z-scoring per voxel over the run's blocks happens only when true, and with 2 or
        more kept blocks).

    Returns
    -------
    RunSamples
        float32 (n_blocks, n_voxels) betas of the kept blocks, their int64 image indices,
        and the drop counts.
    """
    from nilearn.glm.first_level import make_first_level_design_matrix, run_glm

    n_volumes = data.shape[0]
    blocks, dropped = kept_blocks(events, n_volumes, tr, float(params["delay_s"]))
    # Least squares all: every stimulus block gets its own regressor, the one-back repeats and
    # the blocks cut by a short run too (they drive the BOLD, each as its own image); only
    # the kept blocks' betas become samples.
    # A block whose response would only start after the last volume (the end of a short run)
    # has a zero or near-zero regressor that makes the design singular: leave it out.
    last_frame = (n_volumes - 1) * tr
    stim = events[(events["role"] != "rest") & (events["onset"] + float(params["delay_s"]) <= last_frame)]
    trial_type = pd.Series([f"other{k:03d}" for k in range(len(stim))], index=stim.index, dtype=object)
    names = [f"block{k:03d}" for k in range(len(blocks))]
    trial_type[blocks.index] = names
    design_events = pd.DataFrame(
        {"onset": stim["onset"], "duration": stim["duration"], "trial_type": trial_type}
    ).reset_index(drop=True)
    design = make_first_level_design_matrix(
        np.arange(n_volumes) * tr,
        design_events,
        hrf_model=params["hrf_model"],
        drift_model=params["drift_model"],
        high_pass=float(params["high_pass_hz"]),
        drift_order=int(params.get("drift_order", 1)),
    )
    # Percent signal change, as FirstLevelModel's default signal scaling does.
    mean = data.mean(axis=0)
    mean[mean == 0] = 1.0
    scaled = (data / mean - 1.0) * 100.0
    columns = [design.columns.get_loc(name) for name in names]
    if params["noise_model"] == "ols":
        # What run_glm's OLS model computes for theta (pinv(X) @ Y), without the residual
        # statistics it also keeps and that the samples do not use.
        from scipy.linalg import pinv

        betas = (pinv(design.to_numpy()[:, :]) @ scaled)[columns]
    else:
        labels, results = run_glm(scaled, design.to_numpy(), noise_model=params["noise_model"])
        betas = np.empty((len(names), data.shape[1]), dtype=np.float64)
        for label, result in results.items():
            betas[:, labels == label] = result.theta[columns]
    if params["zscore_betas"] and len(names) > 1:
        std = betas.std(axis=0, ddof=1)
        std[std == 0] = 1.0
        betas = (betas - betas.mean(axis=0)) / std
    return RunSamples(betas.astype(np.float32), blocks["image_index"].to_numpy(np.int64), dropped)


METHODS = {"block_average": block_average, "single_trial_glm": single_trial_glm}


def process_run(task: RunTask) -> dict[str, RunSamples]:
    """Read ``task.bold`` once and return the samples of every requested version.

    Parameters
    ----------
    task : RunTask
        The run: BOLD path, events, TR, expected volume count, voxels and parameters per
        version.

    Returns
    -------
    dict of str to RunSamples
        Version -> its samples from this run.

    Raises
    ------
    DataError
        The BOLD cannot be read, or holds another number of volumes than its header says.
    """
    from threadpoolctl import threadpool_limits

    # The matrices are small (volumes x regressors): BLAS threads only spin and contend,
    # which made a 239 x 65 SVD take 0.8 s instead of 1 ms on a loaded 2-core machine.
    with threadpool_limits(limits=1, user_api="blas"):
        return _process_run(task)


def _process_run(task: RunTask) -> dict[str, RunSamples]:
    union = np.unique(np.concatenate(list(task.voxels.values())))
    data = read_masked(task.bold, union)
    if data.shape[0] != task.n_volumes:  # the header said otherwise: a truncated file
        raise DataError(f"{task.bold}: read {data.shape[0]} volumes, header says {task.n_volumes}")
    out: dict[str, RunSamples] = {}
    for version, params in task.params.items():
        columns = np.searchsorted(union, task.voxels[version])
        out[version] = METHODS[params["method"]](data[:, columns], task.events, task.tr, params)
    return out
