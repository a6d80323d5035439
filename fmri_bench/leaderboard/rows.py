"""The leaderboard row schema: what a row holds, how it is checked, built and ordered.

Row fields: ``kind`` ("reconstruction" or "classification"), ``name``, ``dataset``,
``version``, ``subject``, ``metrics`` (key -> number or null); a reconstruction row also has
``protocol`` and ``protocol_version`` (the scoring protocol; part of the row's identity) and
``certified_weights`` (rows scored with a caller's modules are refused); plus optional
``reference``, ``unavailable`` (key -> reason), ``intervals`` (key -> [low, high]),
``details`` (classification: anything else the check reports), ``gallery`` (a PNG under
``gallery/``) and provenance (``submission_sha256``, ``metrics_version``,
``fmri_bench_version``, ``versions``, ``date``, ``weights``, ...).

A classification row (a sanity check) has ``metrics`` ``accuracy``, ``chance`` and
``p_value``, ``intervals.accuracy`` (its 95% interval) and ``details``.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.errors import FmriBenchError

KINDS = ("reconstruction", "classification")
KEY_FIELDS = ("name", "dataset", "version", "subject", "kind", "protocol")
#: What a reconstruction row recorded before scoring protocols existed (no ``protocol`` field).
LEGACY_PROTOCOL = "none (metrics v1, before protocols)"
CLASSIFICATION_METRICS = ("accuracy", "chance", "p_value")


def validate_row(row: dict[str, Any]) -> None:
    """Raise FmriBenchError unless ``row`` has the fields every leaderboard row needs.

    Parameters
    ----------
    row : dict
        A candidate row.
    """
    if not isinstance(row, dict):
        raise FmriBenchError(f"a leaderboard row must be a dict, got {type(row).__name__}")
    if row.get("kind") not in KINDS:
        raise FmriBenchError(f"leaderboard row kind {row.get('kind')!r}; expected one of: {', '.join(KINDS)}")
    for key in ("name", "dataset", "version", "subject"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise FmriBenchError(f"leaderboard row field {key!r} is {row.get(key)!r}; expected a non-empty string")
    metrics = row.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise FmriBenchError("leaderboard row has no 'metrics' mapping; expected {metric key: number or null}")
    for key, value in metrics.items():
        ok = value is None or (
            isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
        )
        if not ok:
            raise FmriBenchError(f"leaderboard row metric {key!r} is {value!r}; expected a finite number or null")
    if row.get("certified_weights") is False:
        raise FmriBenchError(
            f"row {row['name']!r} was scored with modules that are not the certified weights (models=...); "
            "such rows are never recorded on a leaderboard"
        )
    if row["kind"] == "reconstruction" and "protocol" in row and not isinstance(row["protocol"], str):
        raise FmriBenchError(f"leaderboard row field 'protocol' is {row['protocol']!r}; expected a protocol name")


def plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays become Python numbers and lists.

    Parameters
    ----------
    value : object

    Returns
    -------
    object
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """The identity of a row: (name, dataset, version, subject, kind, protocol, split).

    Parameters
    ----------
    row : dict

    Returns
    -------
    tuple of str
        ``split`` is the scored split (``test`` for rows recorded before splits existed).
    """
    return (*(str(row.get(k) or "") for k in KEY_FIELDS), str(row.get("split") or "test"))


def row_protocol(row: dict[str, Any]) -> tuple[str, int | None]:
    """A reconstruction row's (protocol, protocol version); legacy rows have neither.

    Parameters
    ----------
    row : dict

    Returns
    -------
    (str, int or None)
    """
    if row.get("kind") != "reconstruction":
        return "", None
    return str(row.get("protocol") or LEGACY_PROTOCOL), row.get("protocol_version")


def sort_key(row: dict[str, Any]) -> tuple:
    """The record's row order: dataset, version, kind, protocol, references first, name, subject.

    Parameters
    ----------
    row : dict

    Returns
    -------
    tuple
    """
    return (
        row["dataset"],
        row["version"],
        KINDS.index(row["kind"]),
        str(row.get("protocol") or ""),
        not row.get("reference", False),
        row["name"],
        row["subject"],
    )


def provenance() -> dict[str, Any]:
    """The versions and date every row records.

    Returns
    -------
    dict
    """
    import fmri_bench
    from fmri_bench.provenance import package_versions, utc_now

    versions = package_versions()
    return {
        "fmri_bench_version": fmri_bench.__version__,
        "versions": {k: versions.get(k) for k in ("numpy", "torch", "torchvision", "scikit-learn")},
        "date": utc_now(),
    }


def reconstruction_row(
    *,
    name: str,
    dataset: str,
    version: str,
    subject: str,
    evaluation: Any,
    n_images: int,
    sha256: str | None,
    submission: str | None,
    sidecar: dict[str, Any] | None = None,
    reference: bool = False,
    split: str = "test",
) -> dict[str, Any]:
    """Build a reconstruction row from an :class:`~fmri_bench.metrics.Evaluation`.

    Parameters
    ----------
    name, dataset, version, subject : str
        The entry.
    evaluation : fmri_bench.metrics.Evaluation
        What :func:`fmri_bench.metrics.evaluate_detailed` returned.
    n_images : int
        Test images scored.
    sha256, submission : str or None
        The submission file's sha256 and name (None for reference rows).
    sidecar : dict, optional
        The submission's sidecar.
    reference : bool
        A reference row (chance, resolution reference, oracle).
    split : str
        The split whose images were reconstructed (``test``, ``artificial``, ``letter``).

    Returns
    -------
    dict
        The row; its per-image scores are not in it (the store writes them beside it).
    """
    from fmri_bench.metrics import METRICS_VERSION

    return {
        "kind": "reconstruction",
        "name": name,
        "dataset": dataset,
        "version": version,
        "subject": subject,
        "protocol": evaluation.protocol,
        "protocol_version": evaluation.protocol_version,
        "certified_weights": evaluation.certified_weights,
        "split": split,
        "reference": reference,
        "metrics": {k: (None if v is None else round(float(v), 6)) for k, v in evaluation.metrics.items()},
        "unavailable": dict(evaluation.unavailable),
        "permanent": sorted(evaluation.permanent),
        "intervals": {k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in evaluation.intervals.items()},
        "weights": dict(evaluation.weights),
        "n_images": n_images,
        "submission": submission,
        "submission_sha256": sha256,
        "sidecar": sidecar or {},
        "metrics_version": METRICS_VERSION,
        **provenance(),
    }


def classification_row(result: dict[str, Any], provenance_fields: dict[str, Any]) -> dict[str, Any]:
    """Build a classification row from a ClassificationResult's ``as_dict()`` and its provenance.

    Parameters
    ----------
    result : dict
        ``accuracy``, ``ci95`` [low, high], ``chance``, ``p_value``, ``details``.
    provenance_fields : dict
        ``baseline`` (the row's name), ``dataset``, ``version``, ``subject`` and anything
        else to record (seed, parameters, package versions...).

    Returns
    -------
    dict
    """
    info = dict(provenance_fields)
    return {
        "kind": "classification",
        "name": info.pop("baseline"),
        "dataset": info.pop("dataset"),
        "version": info.pop("version"),
        "subject": info.pop("subject"),
        "metrics": {k: result[k] for k in CLASSIFICATION_METRICS},
        "intervals": {"accuracy": list(result["ci95"])},
        "details": dict(result.get("details", {})),
        **{k: v for k, v in info.items() if k != "kind"},
    }
