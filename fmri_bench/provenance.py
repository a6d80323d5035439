"""What produced an output: package and library versions, recorded in every manifest and row."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

_TRACKED = ("numpy", "scipy", "scikit-learn", "nibabel", "nilearn", "torch", "torchvision", "brainiak", "datalad")


def package_versions() -> dict[str, str]:
    """Return the installed versions of fmri-bench and the libraries that shape its results.

    Returns
    -------
    dict of str to str
        Distribution name -> version (``"not installed"`` when absent), plus ``python``.
    """
    versions: dict[str, str] = {}
    for name in ("fmri-bench", *_TRACKED):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    versions["python"] = platform.python_version()
    return versions


def utc_now() -> str:
    """Return the current UTC time as an ISO 8601 string (seconds precision).

    Returns
    -------
    str
        For example ``2025-01-31T12:00:00+00:00``.
    """
    return datetime.now(UTC).replace(microsecond=0).isoformat()
