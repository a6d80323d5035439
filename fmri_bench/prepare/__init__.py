"""Stage 2, prepared arrays: raw BIDS -> ``<data-home>/<dataset>/<version>/``, and ``verify``.

The versions are frozen recipes in ``datasets/*.toml``. :mod:`~fmri_bench.prepare.tasks`
reads and checks a subject's inputs before the work; :mod:`~fmri_bench.prepare.align`
resamples a raw run onto the ROI masks' grid through fMRIPrep's transforms;
:mod:`~fmri_bench.prepare.extract` computes each version's samples of a run;
:mod:`~fmri_bench.prepare.parallel` runs the runs (in process, joblib or Dask);
:mod:`~fmri_bench.prepare.quality` gives the alignment QC and the reliability figures;
:mod:`~fmri_bench.prepare.core` orchestrates and writes the manifest. This stage reads a
BIDS tree (and its fMRIPrep derivatives) it is given, never downloads or simulates, and
writes only version folders; :mod:`fmri_bench.data` loads them.
"""

from __future__ import annotations

from fmri_bench.prepare.core import pending_versions, prepare, read_manifest, resolve_versions, verify

__all__ = ["pending_versions", "prepare", "read_manifest", "resolve_versions", "verify"]
