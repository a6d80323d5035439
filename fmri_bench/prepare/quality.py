"""What a user checks before trusting a version: alignment QC per run and reliability per ROI.

Alignment QC: each run's mean image at the ROI voxels (after resampling) is correlated with
the subject's reference, the voxel-wise median of all its runs' mean images. A run that
does not line up with the others (a failed coregistration, a wrong transform, head motion
that was not corrected) correlates visibly less; it is flagged when its r is below 0.8, or
below the subject's median by more than ``max(0.05, 5 robust SDs)``. The images are compared
on the voxels that every run saw: prepare drops the voxels that head motion took out of some
run's field of view (zeros there are missing data, not misalignment), and lists as
``partly_out_of_view`` the runs where more than 1% of the ROI voxels left the view. On an
aligned replica every run scores above 0.99; read voxel for voxel across sessions with head
motion (space native), the median is 0.65 (``tests/test_alignment.py``).

Reliability (per split with repeated images, per ROI and for all voxels): the median
noise-ceiling SNR over voxels and the noise ceiling of the trial-averaged response
(Allen et al. 2022), and the split-half identification of the image patterns
(:mod:`fmri_bench.stats`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fmri_bench.stats import ncsnr as ncsnr_per_voxel
from fmri_bench.stats import noise_ceiling, pearson_rows, split_half_identification

MIN_R = 0.8
MIN_DROP = 0.05
ROBUST_SDS = 5.0
MIN_INSIDE = 0.99


def alignment_qc(names: list[str], means: list[np.ndarray], inside: list[float]) -> dict[str, Any]:
    """Correlate every run's mean image with the subject's median image; flag the outliers.

    Parameters
    ----------
    names : list of str
        Run names.
    means : list of ndarray, shape (n_voxels,)
        Each run's mean image at the ROI voxels.
    inside : list of float
        Each run's share of ROI voxels that stayed in its field of view in every volume.

    Returns
    -------
    dict
        ``runs`` (name, r, inside, flagged), ``median_r``, ``min_r``, ``threshold`` and
        ``flagged`` (the names of the flagged runs).
    """
    stack = np.stack(means)
    reference = np.median(stack, axis=0)
    r = pearson_rows(stack, np.broadcast_to(reference, stack.shape))
    median = float(np.median(r))
    spread = 1.4826 * float(np.median(np.abs(r - median)))
    threshold = max(MIN_R, median - max(MIN_DROP, ROBUST_SDS * spread))
    runs = [
        {
            "run": name,
            "r": round(float(value), 4),
            "inside": round(float(share), 4),
            "flagged": bool(value < threshold),
            "partly_out_of_view": bool(share < MIN_INSIDE),
        }
        for name, value, share in zip(names, r, inside)
    ]
    return {
        "reference": "voxel-wise median of the runs' mean images",
        "median_r": round(median, 4),
        "min_r": round(float(r.min()), 4),
        "threshold": round(threshold, 4),
        "flagged": [run["run"] for run in runs if run["flagged"]],
        "partly_out_of_view": [run["run"] for run in runs if run["partly_out_of_view"]],
        "runs": runs,
    }


def _figures(samples: np.ndarray, labels: np.ndarray, reps: float) -> dict[str, Any]:
    snr = ncsnr_per_voxel(samples, labels)
    if snr is None:
        return {}
    identification = split_half_identification(samples, labels)
    return {
        "ncsnr_median": round(float(np.median(snr)), 4),
        "noise_ceiling_pct": round(float(np.median(noise_ceiling(snr, reps))), 2),
        "split_half_identification": None if identification is None else round(identification, 4),
    }


def reliability(samples: np.ndarray, labels: np.ndarray, roi_columns: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """Reliability figures of one split, for all voxels and per ROI.

    Parameters
    ----------
    samples : ndarray, shape (n_samples, n_voxels)
        The split's single-trial samples.
    labels : ndarray, shape (n_samples,)
        The image of each sample.
    roi_columns : dict
        ROI -> its columns.

    Returns
    -------
    dict or None
        ``images`` (shown at least twice), ``repetitions`` (median per image; the noise
        ceiling is for their average), ``all`` and ``rois`` (name -> ``ncsnr_median``,
        ``noise_ceiling_pct``, ``split_half_identification``); None without repetitions.
    """
    _, counts = np.unique(labels, return_counts=True)
    repeated = counts[counts >= 2]
    if repeated.size == 0:
        return None
    reps = float(np.median(repeated))
    return {
        "images": int(repeated.size),
        "repetitions": reps,
        "all": _figures(samples, labels, reps),
        "rois": {roi: _figures(samples[:, cols], labels, reps) for roi, cols in roi_columns.items() if cols.size},
    }


def summary_line(figures: dict[str, Any]) -> str:
    """One line for the log: the split's figures for all voxels and the split-half identification per ROI.

    Parameters
    ----------
    figures : dict
        As :func:`reliability` returns.

    Returns
    -------
    str
    """
    every = figures["all"]
    rois = ", ".join(
        f"{roi} {f['split_half_identification']:.2f}"
        for roi, f in figures["rois"].items()
        if f.get("split_half_identification") is not None
    )
    shi = every.get("split_half_identification")
    return (
        f"NCSNR median {every['ncsnr_median']:.2f}, noise ceiling {every['noise_ceiling_pct']:.0f}% "
        f"(mean of {figures['repetitions']:g}), split-half identification "
        f"{'n/a' if shi is None else f'{shi:.3f}'} over {figures['images']} images; per ROI: {rois}"
    )
