"""fmri-bench: datasets, baselines and standardized scoring for fMRI image reconstruction.

The data flows one way through the stages, and the package layout follows it::

    recipe          fmri_bench.recipe       datasets/*.toml: where a dataset comes from, its versions
    raw BIDS        fmri_bench.raw          read BIDS; download (datalad) or simulate a dataset
    prepared arrays fmri_bench.prepare      raw BIDS -> versioned train/test arrays (+ fmri_bench.data to load)
    estimators      fmri_bench.estimators   the baseline interface; baselines/ holds one module each
    submission      fmri_bench.submission   reconstructions on disk, validated
    metrics         fmri_bench.metrics      targets + reconstructions -> metric values
    leaderboard     fmri_bench.leaderboard  rows -> record and renderings
    orchestrator    fmri_bench.pipeline     chains them for the CLI, the demo and notebooks

In a notebook::

    import fmri_bench as fb
    b = fb.fetch("synthetic", "v1", subject="sub-01")   # prepared on first use
    model = fb.baselines.PCARidge().fit(b.X_train, b.images_train[b.y_train])
    fb.evaluate(b.images_test, model.predict(b.X_test))
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import Any

try:
    __version__ = _version("fmri-bench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: Public names, imported on first use so that ``import fmri_bench`` stays fast.
_LAZY = {
    "fetch": ("fmri_bench.pipeline", "fetch"),
    "load": ("fmri_bench.data", "load"),
    "prepare": ("fmri_bench.pipeline", "prepare_dataset"),
    "verify": ("fmri_bench.prepare", "verify"),
    "run_baseline": ("fmri_bench.pipeline", "run_baseline"),
    "score_submission": ("fmri_bench.pipeline", "score_submission"),
    "evaluate": ("fmri_bench.metrics", "evaluate"),
    "baselines": ("fmri_bench.baselines", None),
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        loaded = importlib.import_module(module)
        if name == "baselines":
            from fmri_bench.estimators import BASELINES

            BASELINES.names()  # import every built-in baseline module, so their classes are attributes
            return loaded
        return getattr(loaded, attribute)
    raise AttributeError(f"module 'fmri_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
