"""Raw BOLD -> ROI-mask voxels through fMRIPrep's head-motion correction and coregistration.

fMRIPrep 23.2 (minimal outputs, as OpenNeuroDerivatives publish ds001506 and ds001246)
writes per run an ITK text file with one affine per volume
(``_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt``) and one affine
(``_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt``), but no preprocessed BOLD. In
ITK/ANTs "mode-image" convention a transform "from A to B" resamples an image of A onto B,
so it maps points of B into A: the hmc transform of volume ``t`` maps a boldref point to
the same anatomical point in volume ``t``, the coreg transform maps a T1w point to a
boldref point. The ROI masks live on a T1w-aligned grid, so the raw voxel that holds mask
voxel ``m`` in volume ``t`` is, exactly as fMRIPrep's own ``resample_image`` composes it::

    ijk_raw(t) = inv(A_bold) @ HMC[t] @ COREG @ A_mask @ m

Transforms are converted to RAS+ and composed with nitransforms (the library fMRIPrep
uses): ``ITKLinearTransform.to_ras`` (LPS -> RAS, centre of rotation folded in) and
``Affine @ Affine`` (a matrix product). Each raw volume is then interpolated once, only at
the ROI voxels (``scipy.ndimage.map_coordinates``), streaming the gzipped run volume by
volume: the memory is one volume plus the (n_volumes, n_voxels) output.

Measured (``bench/bench_prepare.py`` and the research notes in the README): trilinear
costs about the nibabel read of the run, cubic B-spline (fMRIPrep's order 3) about 2.5x;
on noisy replicas trilinear's slight smoothing gives the better temporal fidelity, so the
recipes use ``interpolation = "linear"``. Slice-timing correction is not applied (fMRIPrep
applies it to its own resampled series, which the minimal outputs do not include).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
from nitransforms.io.itk import ITKLinearTransform
from scipy import ndimage as ndi

from fmri_bench.errors import DataError

ORDERS = {"linear": 1, "cubic": 3}
# The cubic prefilter is recursive (pole |z| = 0.268): a voxel k voxels beyond the cropped box
# changes a coefficient by about 0.268**k (10 voxels: 2e-6); the kernel itself reaches 2 voxels.
_SPLINE_MARGIN = 12
_AFFINE_TYPES = ("AffineTransform_float_3_3", "AffineTransform_double_3_3", "MatrixOffsetTransformBase_double_3_3")
_BLOCK = re.compile(r"Transform:\s*(\S+)\s*\n\s*Parameters:([^\n]*)\n\s*FixedParameters:([^\n]*)", flags=re.MULTILINE)


def read_itk_affines(path: Path) -> np.ndarray:
    """Read an ITK text transform file (one or many affines) as RAS+ matrices.

    The text is parsed with one regular expression (nitransforms' own reader runs
    ``numpy.genfromtxt`` per line: 59 ms of CPU for a 239-volume run against 6 ms here); each
    block is converted with nitransforms' ``ITKLinearTransform.to_ras``.

    Parameters
    ----------
    path : Path
        An ``#Insight Transform File V1.0`` text file of affine transforms.

    Returns
    -------
    ndarray, float64, shape (n_transforms, 4, 4)
        RAS+ matrices in file order (for fMRIPrep's files: reference point -> moving point).

    Raises
    ------
    DataError
        The file is missing, not an ITK text file, or holds a non-affine transform.
    """
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the transform file ({exc})") from exc
    if not text.startswith("#Insight Transform File"):
        raise DataError(f"{path}: not an ITK transform file (expected '#Insight Transform File V1.0' first)")
    blocks = _BLOCK.findall(text)
    if not blocks or len(blocks) != text.count("Transform:"):
        raise DataError(f"{path}: unreadable ITK transform blocks (expected Transform/Parameters/FixedParameters)")
    out = np.empty((len(blocks), 4, 4))
    for k, (kind, params, fixed) in enumerate(blocks):
        if kind not in _AFFINE_TYPES:
            raise DataError(f"{path}: transform {k} is {kind}; expected an affine ({_AFFINE_TYPES[0]})")
        try:
            values = np.array(params.split(), dtype=np.float64)
            centre = np.array(fixed.split(), dtype=np.float64)
        except ValueError as exc:
            raise DataError(f"{path}: transform {k} has a non-numeric parameter ({exc})") from exc
        if values.size != 12 or centre.size != 3 or not np.isfinite(values).all():
            raise DataError(f"{path}: transform {k} needs 12 finite parameters and a 3-D centre")
        matrix = np.eye(4)
        matrix[:3, :3] = values[:9].reshape(3, 3)
        matrix[:3, 3] = values[9:]
        out[k] = ITKLinearTransform(parameters=matrix, offset=centre).to_ras()
    return out


def voxel_maps(hmc: np.ndarray, coreg: np.ndarray, source_affine: np.ndarray, mask_affine: np.ndarray) -> np.ndarray:
    """Per volume, the affine from mask-grid voxel indices to raw-run voxel indices.

    ``inv(source_affine) @ hmc[t] @ coreg @ mask_affine``: the composition nitransforms'
    ``Affine.__matmul__`` computes (``(a @ b).map(x) == a.map(b.map(x))``), for all volumes
    at once.

    Parameters
    ----------
    hmc : ndarray, shape (n_volumes, 4, 4)
        Boldref point -> point of volume t (RAS+).
    coreg : ndarray, shape (4, 4)
        T1w point -> boldref point (RAS+).
    source_affine : ndarray, shape (4, 4)
        Voxel -> RAS+ of the raw run (fMRIPrep's validated header: the hmc boldref's).
    mask_affine : ndarray, shape (4, 4)
        Voxel -> RAS+ (T1w space) of the ROI-mask grid.

    Returns
    -------
    ndarray, float64, shape (n_volumes, 4, 4)
    """
    return np.linalg.inv(source_affine) @ hmc @ (coreg @ mask_affine)


def iter_volumes(bold: Path, chunk: int = 4 << 20) -> Iterator[np.ndarray]:
    """Yield the stored 3-D volumes of a NIfTI run one at a time (stored dtype, Fortran order).

    A ``.nii.gz`` is inflated straight from the file in ``chunk``-byte reads (one volume
    plus one chunk in memory; multi-member gzip supported), and drained to its trailer so
    that a cut or corrupt file fails (zlib checks the CRC). A yielded volume is valid only
    until the next one. The file's scaling is not applied (interpolation is linear in the
    data, so the caller applies it to the N sampled values).

    Parameters
    ----------
    bold : Path
        A 4-D NIfTI file.
    chunk : int
        Compressed bytes read at a time.

    Yields
    ------
    ndarray, shape (nx, ny, nz)
    """
    proxy = nib.load(bold).dataobj
    shape = tuple(proxy.shape)
    if len(shape) != 4:
        raise DataError(f"{bold}: expected a 4-D BOLD image, got shape {shape}")
    if bold.name.endswith(".gz") and hasattr(proxy, "offset"):
        yield from _inflate_volumes(bold, int(proxy.offset), np.dtype(proxy.dtype), shape[:3], shape[3], chunk)
        return
    if hasattr(proxy, "offset"):  # an uncompressed .nii: memory-mapped
        data = np.memmap(bold, dtype=proxy.dtype, mode="r", offset=int(proxy.offset), shape=shape, order="F")
    else:
        data = np.asanyarray(proxy.get_unscaled())
    for t in range(shape[3]):
        yield data[..., t]


def _inflate_volumes(
    bold: Path, offset: int, dtype: np.dtype, vol_shape: tuple[int, ...], n_vol: int, chunk: int
) -> Iterator[np.ndarray]:
    vol_bytes = int(np.prod(vol_shape)) * dtype.itemsize
    buf = np.empty(vol_bytes, dtype=np.uint8)
    with open(bold, "rb") as handle:
        stream = _Inflater(handle, chunk, bold)
        stream.skip(offset)
        for t in range(n_vol):
            stream.fill(buf, t)
            yield buf.view(dtype).reshape(vol_shape, order="F")
        stream.drain()


class _Inflater:
    """A gzip stream (one or many members) read in chunks; every failure names the file."""

    def __init__(self, handle, chunk: int, path: Path) -> None:
        self.handle, self.chunk, self.path = handle, chunk, path
        self.inflater = zlib.decompressobj(wbits=31)
        self.pending = b""

    def read(self, max_length: int) -> bytes:
        """Up to ``max_length`` inflated bytes; ``b""`` only at a clean end of the stream."""
        while True:
            if self.inflater.eof:  # end of a gzip member (CRC and length checked by zlib)
                self.pending = self.inflater.unused_data + self.pending
                if not self.pending:
                    self.pending = self.handle.read(self.chunk)
                if not self.pending:
                    return b""
                self.inflater = zlib.decompressobj(wbits=31)
            if not self.pending:
                self.pending = self.handle.read(self.chunk)
                if not self.pending:
                    raise DataError(f"{self.path}: cannot read NIfTI, the gzip stream is truncated")
            try:
                out = self.inflater.decompress(self.pending, max_length)
            except zlib.error as exc:
                raise DataError(f"{self.path}: cannot read NIfTI, the file is corrupt ({exc})") from exc
            self.pending = self.inflater.unconsumed_tail
            if out:
                return out

    def skip(self, count: int) -> None:
        while count:
            piece = self.read(count)
            if not piece:
                raise DataError(f"{self.path}: cannot read NIfTI, the file is truncated before its data")
            count -= len(piece)

    def fill(self, buf: np.ndarray, volume: int) -> None:
        filled = 0
        while filled < buf.size:
            piece = self.read(buf.size - filled)
            if not piece:
                raise DataError(
                    f"{self.path}: cannot read NIfTI, the file is truncated in volume {volume} "
                    f"({filled} of {buf.size} bytes)"
                )
            buf[filled : filled + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            filled += len(piece)

    def drain(self) -> None:
        while self.read(self.chunk):
            pass


def _interpolate(volume: np.ndarray, coords: np.ndarray, out: np.ndarray, order: int) -> None:
    """Sample ``volume`` at ``coords`` (3, N) into ``out`` (N,): 0 outside the volume, as fMRIPrep."""
    if order <= 1:
        ndi.map_coordinates(volume, coords, output=out, order=order, mode="constant", cval=0.0, prefilter=False)
        return
    # Cubic: prefilter only the box the points need (plus a margin), not the whole volume; at a
    # true image edge the box edge is the image edge, so the boundary rule is the same.
    pad = 2 + _SPLINE_MARGIN
    lo = np.maximum(np.floor(coords.min(axis=1)).astype(int) - pad, 0)
    hi = np.minimum(np.ceil(coords.max(axis=1)).astype(int) + pad + 1, volume.shape)
    if np.any(hi <= lo):
        out[:] = 0.0
        return
    box = volume[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    coef = ndi.spline_filter(box, order=order, output=np.float64, mode="constant")
    ndi.map_coordinates(coef, coords - lo[:, None], output=out, order=order, mode="constant", prefilter=False)


def resample_run(bold: Path, maps: np.ndarray, ijk: np.ndarray, order: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sample every volume of a raw run at the ROI voxels, through its per-volume voxel maps.

    Parameters
    ----------
    bold : Path
        The raw 4-D NIfTI run.
    maps : ndarray, shape (n_volumes, 4, 4)
        Mask voxel -> raw voxel, per volume (see :func:`voxel_maps`).
    ijk : ndarray, int, shape (n_voxels, 3)
        The ROI voxels on the mask grid.
    order : int
        1 trilinear, 3 cubic B-spline (fMRIPrep's).

    Returns
    -------
    data : ndarray, float32, shape (n_volumes, n_voxels)
        With the file's ``scl_slope`` / ``scl_inter`` applied; 0 where a voxel fell outside
        the raw field of view.
    inside : ndarray, bool, shape (n_voxels,)
        False for a voxel that left the raw field of view in at least one volume.

    Raises
    ------
    DataError
        The file is unreadable, truncated or corrupt, holds NaN or inf, or has another
        number of volumes than ``maps``.
    """
    try:
        img = nib.load(bold)
    except Exception as exc:  # nibabel raises many types for a corrupt header
        raise DataError(f"{bold}: cannot read NIfTI ({type(exc).__name__}: {exc})") from exc
    shape = img.shape
    if len(shape) != 4 or shape[3] != len(maps):
        raise DataError(f"{bold}: {shape[3] if len(shape) == 4 else 1} volumes, but {len(maps)} motion transforms")
    homogeneous = np.c_[ijk, np.ones(len(ijk))].T  # (4, N)
    upper = np.asarray(shape[:3], dtype=float)[:, None] - 1.0
    out = np.empty((shape[3], len(ijk)), dtype=np.float32)
    inside = np.ones(len(ijk), dtype=bool)
    floating = np.issubdtype(img.get_data_dtype(), np.floating)
    try:
        for t, volume in enumerate(iter_volumes(bold)):
            if floating and not np.isfinite(volume).all():
                raise DataError(f"{bold}: volume {t} holds NaN or inf values; expected finite BOLD")
            coords = (maps[t] @ homogeneous)[:3]
            inside &= ((coords >= 0.0) & (coords <= upper)).all(axis=0)
            _interpolate(volume, coords, out[t], order)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{bold}: cannot read NIfTI, the file is corrupt or truncated ({exc})") from exc
    return _apply_scaling(out, img.dataobj, bold), inside


def _apply_scaling(out: np.ndarray, proxy, bold: Path) -> np.ndarray:
    slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
    if (slope is not None and not np.isfinite(slope)) or (inter is not None and not np.isfinite(inter)):
        raise DataError(f"{bold}: scl_slope/scl_inter is NaN or inf; expected finite scaling")
    if slope not in (None, 0.0, 1.0):
        out *= np.float32(slope)
    if inter not in (None, 0.0):
        out += np.float32(inter)
    return out
