"""fmri-bench: datasets, baselines and standardized scoring for fMRI image reconstruction.

The data flows one way, and the modules follow it::

    datasets/*.toml (recipe) -> simulate / fetch (raw BIDS) -> prepare (arrays)
    -> baselines (submission .npy) -> scoring (metrics) -> leaderboard (record, tables)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("fmri-bench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "load", "verify"]


def __getattr__(name: str):
    # `fmri_bench.load` is the public data API; import lazily so `import fmri_bench` stays fast.
    if name == "load":
        from fmri_bench.data import load

        return load
    if name == "verify":  # re-hash prepared outputs against their manifest (fmri_bench.prepare.verify)
        from fmri_bench.prepare import verify

        return verify
    raise AttributeError(f"module 'fmri_bench' has no attribute {name!r}")
