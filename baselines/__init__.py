"""Built-in baselines of fmri-bench, installed as ``fmri_bench.baselines``: one module each.

Each public module in this folder is one baseline that registers itself by name. The
extension API is importable from here (it lives in :mod:`fmri_bench.estimators`)::

    from fmri_bench.baselines import ReconstructionBaseline, register

    @register("my-decoder")
    class MyDecoder(ReconstructionBaseline):
        ...

See README.md in this folder, also for registering a baseline from another package
through the ``fmri_bench.baselines`` entry-point group.
"""

from fmri_bench.estimators import (
    BASELINES,
    Baseline,
    ClassificationBaseline,
    ClassificationResult,
    MultiSubjectBaseline,
    ReconstructionBaseline,
    register,
)

__all__ = [
    "BASELINES",
    "Baseline",
    "ClassificationBaseline",
    "ClassificationResult",
    "MultiSubjectBaseline",
    "ReconstructionBaseline",
    "register",
]


def __getattr__(name: str):  # fmri_bench.baselines.PCARidge etc., imported on first use
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(module, name):
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
