"""Reference reconstructions every score is read against: chance, and the resolution reference.

- *chance*: the mean training image given for every test image (uses no brain data).
- *resolution reference*: each target blurred to 32 px and back; what a perfect decoder of
  a 32 px image would reach. It is not a ceiling: the oracle row of the synthetic dataset
  (the true encoding model) is.
"""

from __future__ import annotations

import numpy as np

from fmri_bench.images import resize_images, to_float_nchw

RESOLUTION_REFERENCE_SIZE = 32
CHANCE_NAME = "chance (mean train image)"
RESOLUTION_NAME = f"resolution reference ({RESOLUTION_REFERENCE_SIZE} px blur)"


def chance_submission(train_images: np.ndarray, n_test: int, size: int) -> np.ndarray:
    """The chance reference: the mean training image (at ``size`` px), repeated ``n_test`` times.

    Parameters
    ----------
    train_images : ndarray, shape (n, H, W, 3)
        The training stimuli.
    n_test : int
        Number of test images.
    size : int
        The test images' side.

    Returns
    -------
    ndarray, float32, shape (n_test, size, size, 3)
    """
    mean = to_float_nchw(train_images).mean(axis=0, keepdims=True)
    mean = resize_images(mean, size)
    return np.repeat(mean.transpose(0, 2, 3, 1), n_test, axis=0)


def resolution_reference(targets: np.ndarray, size: int = RESOLUTION_REFERENCE_SIZE) -> np.ndarray:
    """Each target blurred down to ``size`` px and back up (bilinear, antialiased).

    Parameters
    ----------
    targets : ndarray, shape (N, H, W, 3)
        The test images.
    size : int
        The intermediate resolution.

    Returns
    -------
    ndarray, float32, shape (N, H, W, 3), in [0, 1]
    """
    t = to_float_nchw(targets)
    back = resize_images(resize_images(t, size), t.shape[-1])
    return np.clip(back, 0.0, 1.0).transpose(0, 2, 3, 1)
