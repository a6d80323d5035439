"""Stage 2, prepared arrays: raw BIDS -> ``<data-home>/<dataset>/<version>/``, and ``verify``.

The versions are frozen recipes in ``datasets/*.toml``; see
:mod:`fmri_bench.prepare.extract` for the per-run computations and
:mod:`fmri_bench.prepare.core` for the orchestration and the manifest. This stage reads a
BIDS tree it is given (never downloads or simulates) and writes only version folders;
:mod:`fmri_bench.data` loads them.
"""

from __future__ import annotations

from fmri_bench.prepare.core import pending_versions, prepare, read_manifest, resolve_versions, verify

__all__ = ["pending_versions", "prepare", "read_manifest", "resolve_versions", "verify"]
