"""Raw BIDS -> prepared arrays: ``prepare`` builds ``<data-home>/<dataset>/<version>/``, ``verify`` re-hashes it.

v1 (block average) and v2 (single-trial GLM) are frozen recipes in ``datasets/*.toml``;
see :mod:`fmri_bench.prepare.extract` for the per-run computations and
:mod:`fmri_bench.prepare.core` for the orchestration and the manifest.
"""

from __future__ import annotations

from fmri_bench.prepare.core import prepare, read_manifest, verify

__all__ = ["prepare", "verify", "read_manifest"]
