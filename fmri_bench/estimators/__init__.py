"""Stage 3, estimators: the baseline interface and the models the built-in baselines share.

The public extension API: subclass :class:`ReconstructionBaseline` (one subject),
:class:`MultiSubjectBaseline` (lists of subjects) or :class:`ClassificationBaseline`, and
decorate the class with ``@register("name")``. The same names are importable from
``fmri_bench.baselines``. Estimators read only prepared arrays (stage 2) and never write
files, except a model cache they are given (``memory``).
"""

from __future__ import annotations

from fmri_bench.estimators.base import (
    BASELINES,
    Baseline,
    ClassificationBaseline,
    ClassificationResult,
    MultiSubjectBaseline,
    ReconstructionBaseline,
    average_by_image,
    image_groups,
    register,
)
from fmri_bench.estimators.params import coerce_params
from fmri_bench.estimators.torch_support import resolve_device, torch_seeded

__all__ = [
    "BASELINES",
    "Baseline",
    "ClassificationBaseline",
    "ClassificationResult",
    "MultiSubjectBaseline",
    "ReconstructionBaseline",
    "average_by_image",
    "coerce_params",
    "image_groups",
    "register",
    "resolve_device",
    "torch_seeded",
]
