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

    ``subject="all"`` pools the test images of every subject that both entries have (a
    fixed-effects test over subject x image pairs: the sign flips treat each pair as one
    unit; MOABB instead combines per-subject tests with Stouffer's method).

    Parameters
    ----------
    name_a, name_b : str
        Entry names (reference rows too: ``"chance (mean train image)"``).
    leaderboard : path-like
        The leaderboard folder.
    dataset, version, subject, protocol : str
        Which rows; ``subject="all"``: every subject both entries have, pooled.

    Returns
    -------
    CompareReport
    """
    proto = get_protocol(protocol)
    board = Leaderboard(leaderboard)
    rows = [
        r
        for r in board.rows()
        if r["kind"] == "reconstruction"
        and (r["dataset"], r["version"], r.get("protocol")) == (dataset, version, proto.name)
    ]
    if subject == "all":
        subjects = sorted(
            {r["subject"] for r in rows if r["name"] == name_a} & {r["subject"] for r in rows if r["name"] == name_b}
        )
        if not subjects:
            raise FmriBenchError(
                f"entries {name_a!r} and {name_b!r} share no subject of {dataset} {version} (protocol {proto.name}); "
                "expected both recorded for at least one subject"
            )
    else:
        subjects = [subject]
    pairs = []
    for sub in subjects:
        where = f"{dataset} {version} {sub} (protocol {proto.name})"
        of_subject = [r for r in rows if r["subject"] == sub]
        pairs.append((_entry(of_subject, name_a, where), _entry(of_subject, name_b, where)))
    for row in (row for pair in pairs for row in pair):
        if row.get("protocol_version") != proto.version:
            raise FmriBenchError(
                f"entry {row['name']!r} was scored with {proto.name} v{row.get('protocol_version')}, not the current "
                f"v{proto.version}; expected both scored with the same definitions (score it again)"
            )
    per_a = _pooled([board.per_image(a) for a, _ in pairs])
    per_b = _pooled([board.per_image(b) for _, b in pairs])
    comparisons, skipped = compare_per_image(per_a, per_b, _directions(proto.name))
    n_images = sum(int(a.get("n_images") or 0) for a, _ in pairs)
    label = subject if subject != "all" else f"all ({', '.join(subjects)})"
    return CompareReport(
        name_a, name_b, dataset, version, label, proto.name, proto.version, n_images, "leaderboard", comparisons, skipped,
    )  # fmt: skip


def _pooled(per_subject: list[dict[str, Any]]) -> dict[str, list]:
    """Per-image scores of several subjects, concatenated in subject order (metrics that every subject has)."""
    keys = set.intersection(*(set(p) for p in per_subject)) if per_subject else set()
    return {k: [v for p in per_subject for v in p[k]] for k in per_subject[0] if k in keys}


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
