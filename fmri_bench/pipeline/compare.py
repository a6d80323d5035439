"""Compare two methods image by image: two leaderboard entries, or two submission files.

Leaderboard entries use the per-image scores recorded with their rows (``per_image/`` beside
``results.jsonl``): a comparison then needs neither the submission files nor the prepared
data, and gives the numbers that were recorded. Submission files are scored again here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fmri_bench.errors import FmriBenchError
from fmri_bench.leaderboard import Leaderboard
from fmri_bench.metrics import DEFAULT_PROTOCOL, evaluate_detailed, get_protocol
from fmri_bench.metrics.compare import MetricComparison, compare_per_image
from fmri_bench.submission import load_submission


@dataclass
class CompareReport:
    """What :func:`compare_entries` and :func:`compare_files` return."""

    a: str
    b: str
    dataset: str
    version: str
    subject: str
    protocol: str
    protocol_version: int
    n_images: int
    source: str  # "leaderboard" or "files"
    comparisons: list[MetricComparison] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict.

        Returns
        -------
        dict
        """
        out = {k: v for k, v in self.__dict__.items() if k != "comparisons"}
        out["comparisons"] = [c.__dict__ for c in self.comparisons]
        return out


def _directions(protocol: str) -> dict[str, bool]:
    proto = get_protocol(protocol)
    return {k: proto.metric(k).higher_is_better for k in proto.names()}


def _entry(rows: list[dict[str, Any]], name: str, where: str) -> dict[str, Any]:
    found = [r for r in rows if r["name"] == name]
    if not found:
        names = sorted({r["name"] for r in rows})
        raise FmriBenchError(
            f"no leaderboard entry {name!r} for {where}; expected one of: {', '.join(names) or 'none'}"
        )
    return found[0]


def compare_entries(
    name_a: str,
    name_b: str,
    *,
    leaderboard: str | os.PathLike[str],
    dataset: str = "synthetic",
    version: str = "v1",
    subject: str = "sub-01",
    protocol: str = DEFAULT_PROTOCOL,
) -> CompareReport:
    """Compare two recorded entries of one dataset/version/subject/protocol, image by image.

    Parameters
    ----------
    name_a, name_b : str
        Entry names (reference rows too: ``"chance (mean train image)"``).
    leaderboard : path-like
        The leaderboard folder.
    dataset, version, subject, protocol : str
        Which rows.

    Returns
    -------
    CompareReport
    """
    proto = get_protocol(protocol)
    board = Leaderboard(leaderboard)
    where = f"{dataset} {version} {subject} (protocol {proto.name})"
    rows = [
        r
        for r in board.rows()
        if r["kind"] == "reconstruction"
        and (r["dataset"], r["version"], r["subject"], r.get("protocol")) == (dataset, version, subject, proto.name)
    ]
    row_a, row_b = _entry(rows, name_a, where), _entry(rows, name_b, where)
    for row in (row_a, row_b):
        if row.get("protocol_version") != proto.version:
            raise FmriBenchError(
                f"entry {row['name']!r} was scored with {proto.name} v{row.get('protocol_version')}, not the current "
                f"v{proto.version}; expected both scored with the same definitions (score it again)"
            )
    comparisons, skipped = compare_per_image(board.per_image(row_a), board.per_image(row_b), _directions(proto.name))
    return CompareReport(
        name_a, name_b, dataset, version, subject, proto.name, proto.version,
        int(row_a.get("n_images") or 0), "leaderboard", comparisons, skipped,
    )  # fmt: skip


def compare_files(
    path_a: str | os.PathLike[str],
    path_b: str | os.PathLike[str],
    *,
    dataset: str = "synthetic",
    version: str = "v1",
    subject: str = "sub-01",
    protocol: str = DEFAULT_PROTOCOL,
    data_home: str | os.PathLike[str] | None = None,
) -> CompareReport:
    """Score two submission files on the same test images and compare them image by image.

    Parameters
    ----------
    path_a, path_b : path-like
        Submission .npy files (validated like ``fmri-bench score`` does).
    dataset, version, subject, protocol : str
        The test images (the same for every subject) and the protocol.
    data_home : path-like, optional

    Returns
    -------
    CompareReport
    """
    from fmri_bench.data import prepared_subjects
    from fmri_bench.pipeline.score import verified_images

    proto = get_protocol(protocol)
    targets = verified_images(dataset, version, "test", data_home=data_home)
    if subject not in prepared_subjects(dataset, version, data_home=data_home):
        raise FmriBenchError(f"{subject} is not prepared for {dataset} {version}; expected a prepared subject")
    subs = [load_submission(Path(p), n_expected=len(targets)) for p in (path_a, path_b)]
    per_image = [evaluate_detailed(targets, s.images, protocol=proto).per_image for s in subs]
    comparisons, skipped = compare_per_image(per_image[0], per_image[1], _directions(proto.name))
    return CompareReport(
        str(path_a), str(path_b), dataset, version, subject, proto.name, proto.version,
        len(targets), "files", comparisons, skipped,
    )  # fmt: skip
