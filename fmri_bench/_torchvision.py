"""Import torchvision's pure-Python parts on a CPU-only torch.

Why this module exists: the torchvision 0.28.0 wheel on the package registry is a CUDA
build. Its compiled ops library (``torchvision._C``) cannot load against the CPU build of
torch 2.13.0, and ``import torchvision`` then fails inside ``_meta_registrations`` with
"operator torchvision::nms does not exist", because that module registers fake kernels
for ``torchvision::nms`` and ``torchvision::qnms`` unconditionally.

fmri-bench never needs the compiled ops (detection ops, video, image decoding: images are
read with Pillow). It needs ``torchvision.models``, ``torchvision.transforms`` and
``torchvision.models.feature_extraction``, which are pure Python. So, only when the
compiled library is missing, we declare the two op schemas ourselves before importing
torchvision; the fake-kernel registrations then succeed and everything else imports.
Calling ``torchvision.ops.nms`` would still fail (no kernel), which is what we want.

Always import torchvision as ``from fmri_bench._torchvision import torchvision``.
"""

from __future__ import annotations

import importlib.util
import sys

import torch
import torch.library

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIBRARY: torch.library.Library | None = None


def _compiled_ops_load() -> bool:
    """Return True when torchvision's compiled ops load against this torch."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    import glob
    import os

    for folder in spec.submodule_search_locations:
        for lib_path in glob.glob(os.path.join(folder, "_C*.so")):
            try:
                torch.ops.load_library(lib_path)
                return True
            except (OSError, RuntimeError):
                return False
    return False


def _declare_missing_ops() -> None:
    global _LIBRARY
    if "torchvision" in sys.modules or _compiled_ops_load():
        return
    _LIBRARY = torch.library.Library("torchvision", "DEF")  # kept alive for the process
    for schema in _SCHEMAS.values():
        _LIBRARY.define(schema)


_declare_missing_ops()

import torchvision  # noqa: E402  (must come after the op declarations)
import torchvision.models  # noqa: E402
import torchvision.models.feature_extraction  # noqa: E402
import torchvision.transforms.v2  # noqa: E402

COMPILED_OPS = _LIBRARY is None

__all__ = ["torchvision", "COMPILED_OPS"]
