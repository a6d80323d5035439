"""Image helpers every stage shares: dtype and layout conversion, resizing, reading files.

One implementation of each: stages never resize or crop images their own way.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fmri_bench.errors import FmriBenchError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: Resize methods of :func:`resize_images`.
RESIZE_METHODS = ("bilinear", "area")
_BATCH = 32


def to_float_nchw(images: np.ndarray) -> np.ndarray:
    """Return float32 (N, 3, H, W) in [0, 1] from uint8 or float, (N, H, W, 3) or (N, 3, H, W).

    Parameters
    ----------
    images : ndarray
        uint8 (0-255) or float (already in [0, 1]) images, channel-last or channel-first.

    Returns
    -------
    ndarray, float32, shape (N, 3, H, W)
    """
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"expected a 4-d image array, got shape {arr.shape}")
    if arr.shape[-1] == 3 and arr.shape[1] != 3:
        arr = arr.transpose(0, 3, 1, 2)
    elif arr.shape[1] != 3:
        raise ValueError(f"expected (N, H, W, 3) or (N, 3, H, W), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr, dtype=np.float32) / np.float32(255)
    return np.ascontiguousarray(arr, dtype=np.float32)


def to_float_nhwc(images: np.ndarray) -> np.ndarray:
    """Return float32 (N, H, W, 3) in [0, 1] from uint8 or float (N, H, W, 3) images.

    Parameters
    ----------
    images : ndarray
        uint8 (0-255) or float (already in [0, 1]) channel-last images.

    Returns
    -------
    ndarray, float32, shape (N, H, W, 3)
    """
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255)
    return arr.astype(np.float32, copy=False)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (or uint8) -> uint8, rounded and clipped.

    Parameters
    ----------
    images : ndarray
        Float images in [0, 1], or uint8 (returned as they are).

    Returns
    -------
    ndarray, uint8
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def resize_images(
    images: np.ndarray, size: int, *, method: str = "bilinear", channels_last: bool = False
) -> np.ndarray:
    """Resize float images to ``size`` x ``size`` with torch, in batches.

    Parameters
    ----------
    images : ndarray, float
        (N, 3, H, W), or (N, H, W, 3) with ``channels_last=True``.
    size : int
        The output side in pixels.
    method : {"bilinear", "area"}
        ``"bilinear"``: bilinear with antialiasing (``F.interpolate(..., mode="bilinear",
        align_corners=False, antialias=True)``, what ``torchvision.transforms.Resize`` does
        on tensors since torchvision 0.17); the metrics use it. ``"area"``: box averaging
        when shrinking and plain bilinear when enlarging; the pixel decoders use it to
        make their low-resolution targets and to upsample their output.
    channels_last : bool
        Whether ``images`` (and the result) are channel-last.

    Returns
    -------
    ndarray, float32, in the layout of ``images``
    """
    import torch
    import torch.nn.functional as F

    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}; expected one of: {', '.join(RESIZE_METHODS)}")
    arr = np.asarray(images, dtype=np.float32)
    if channels_last:
        arr = arr.transpose(0, 3, 1, 2)
    if arr.shape[-1] == size and arr.shape[-2] == size:
        out = arr
    else:
        shrink = size < arr.shape[-1]
        parts = []
        for start in range(0, len(arr), _BATCH):
            batch = torch.from_numpy(np.ascontiguousarray(arr[start : start + _BATCH]))
            if method == "area" and shrink:
                resized = F.interpolate(batch, size=(size, size), mode="area")
            else:
                resized = F.interpolate(
                    batch, size=(size, size), mode="bilinear", align_corners=False, antialias=method == "bilinear"
                )
            parts.append(resized.numpy())
        out = np.concatenate(parts) if parts else arr[:, :, :size, :size]
    if channels_last:
        out = out.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out)


def load_image(path: str | os.PathLike[str], resolution: int) -> np.ndarray:
    """Read an image as RGB, centre-crop it to a square and resize it (Lanczos) to ``resolution``.

    Parameters
    ----------
    path : path-like
        Any image file Pillow reads.
    resolution : int
        The output side in pixels.

    Returns
    -------
    ndarray, uint8, shape (resolution, resolution, 3)

    Raises
    ------
    FmriBenchError
        The file is not a readable image (a DataError, one line naming it).
    """
    from PIL import Image, UnidentifiedImageError

    from fmri_bench.errors import DataError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side))
            if side != resolution:
                img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
            return np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from exc


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Return the image files under ``folder`` (recursive), sorted.

    Parameters
    ----------
    folder : path-like
        The folder to search.

    Returns
    -------
    list of Path
    """
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def load_image_folder(folder: str | os.PathLike[str], resolution: int) -> np.ndarray:
    """Read every image under ``folder`` (sorted, recursive) with :func:`load_image`.

    Parameters
    ----------
    folder : path-like
        A folder of images.
    resolution : int
        The output side in pixels.

    Returns
    -------
    ndarray, uint8, shape (n_images, resolution, resolution, 3)
    """
    files = image_files(folder) if Path(folder).is_dir() else []
    if not files:
        raise FmriBenchError(f"{folder}: no image files found; expected a folder of .png/.jpg images")
    return np.stack([load_image(path, resolution) for path in files])
