"""The resizes the scoring protocols use, each written out so it does not depend on the
installed torchvision or scikit-image.

- :func:`bilinear_no_antialias`: what ``torchvision.transforms.Resize`` did on tensors in
  torchvision 0.15.2 (MindEye's pin) and 0.16.0 (MindEye2's): bilinear interpolation with
  ``align_corners=False`` and **no antialiasing**. Re-implemented from the 0.15.2 wheel
  (git fa99a5360fbcd1683311d57a76fcc0e7323a4c1e): ``transforms/transforms.py`` ``Resize``
  (lines 283-361), ``transforms/functional.py`` ``resize`` (391-492) and ``_check_antialias``
  (1596-1617), ``transforms/_functional_tensor.py`` ``resize`` (439-474): the default
  ``antialias="warn"`` becomes ``None`` and then ``False`` for tensors, and the call is
  ``torch.nn.functional.interpolate(img, size=[h, w], mode="bilinear", align_corners=False,
  antialias=False)``. (0.15.2 never takes its same-size early return, a tuple compared with a
  list, so a same-size call still interpolates: at scale 1 that is the identity, which is why
  we return the input unchanged.) Checked bit-identical to the real 0.15.2 and 0.16.0 code.
- :func:`bilinear_antialias`: bilinear with antialiasing (``torchvision.transforms.Resize``
  on tensors since 0.17); fmri-bench's own metrics use it.
- :func:`pil_resize`: Pillow's ``Image.resize`` on uint8 RGB images (Brain-Diffuser and the
  Kamitani lab resize PIL images). Pillow 9.2.0, 9.4.0 (the papers' pins) and 13.0.0 gave
  byte-identical outputs for bilinear and bicubic shrinks and enlargements of 512/425 px
  images (checked on noise, smooth and edge images); a test pins outputs of 9.2.0.
"""

from __future__ import annotations

import numpy as np

from fmri_bench.images import resize_images

_BATCH = 16


def bilinear_no_antialias(images: np.ndarray, size: int) -> np.ndarray:
    """torchvision 0.15.2 ``transforms.Resize((size, size))`` on a float tensor batch.

    Parameters
    ----------
    images : ndarray, float32, shape (N, 3, H, W)
        Images in [0, 1].
    size : int
        The output side in pixels.

    Returns
    -------
    ndarray, float32, shape (N, 3, size, size)
        Bilinear, ``align_corners=False``, no antialiasing (the input itself when it already
        has that size: interpolation at scale 1 is the identity).
    """
    import torch
    import torch.nn.functional as F

    arr = np.asarray(images, dtype=np.float32)
    if arr.shape[-2:] == (size, size):
        return arr
    out = np.empty((len(arr), arr.shape[1], size, size), dtype=np.float32)
    for start in range(0, len(arr), _BATCH):
        batch = torch.from_numpy(np.ascontiguousarray(arr[start : start + _BATCH]))
        resized = F.interpolate(batch, size=[size, size], mode="bilinear", align_corners=False, antialias=False)
        out[start : start + _BATCH] = resized.numpy()
    return out


def bilinear_antialias(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize with antialiasing (``torchvision.transforms.Resize`` on tensors since 0.17).

    Parameters
    ----------
    images : ndarray, float32, shape (N, 3, H, W)
        Images in [0, 1].
    size : int
        The output side in pixels.

    Returns
    -------
    ndarray, float32, shape (N, 3, size, size)
    """
    return resize_images(images, size)


PIL_FILTERS = ("bilinear", "bicubic")


def pil_resize(images: np.ndarray, size: int, resample: str) -> np.ndarray:
    """Pillow ``Image.resize((size, size), resample)`` of each uint8 RGB image.

    Pillow's resize is a separable convolution whose support grows with the shrink factor
    (antialiased), computed in fixed point for 8-bit images. A same-size call returns a copy.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, 3)
        The images.
    size : int
        The output side in pixels.
    resample : {"bilinear", "bicubic"}
        Pillow's filter (``Image.Resampling.BILINEAR`` / ``BICUBIC``; BICUBIC is Pillow's
        default for ``resize`` since 7.0).

    Returns
    -------
    ndarray, uint8, shape (N, size, size, 3)
    """
    from PIL import Image

    if resample not in PIL_FILTERS:
        raise ValueError(f"unknown Pillow filter {resample!r}; expected one of: {', '.join(PIL_FILTERS)}")
    arr = np.asarray(images, dtype=np.uint8)
    if arr.shape[1:3] == (size, size):
        return arr.copy()
    flag = Image.Resampling.BILINEAR if resample == "bilinear" else Image.Resampling.BICUBIC
    out = np.empty((len(arr), size, size, 3), dtype=np.uint8)
    for i, img in enumerate(arr):
        out[i] = np.asarray(Image.fromarray(img).resize((size, size), flag))
    return out
