"""Score submission files and record them: submission -> metrics -> leaderboard."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fmri_bench.data import (
    ceiling_references,
    load_images,
    prepared_dir,
    prepared_subjects,
    reference_reconstructions,
)
from fmri_bench.errors import DataError, SubmissionError
from fmri_bench.io import sha256_file
from fmri_bench.leaderboard import Leaderboard, gallery_thumbnail, reconstruction_row
from fmri_bench.metrics import DEFAULT_PROTOCOL, METRICS_VERSION, Evaluation, evaluate_detailed, get_protocol
from fmri_bench.metrics.references import CHANCE_NAME, RESOLUTION_NAME, chance_submission, resolution_reference
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.pipeline.cache import FeatureStore
from fmri_bench.submission import load_sidecar, load_submission

#: The reference rows recorded for every dataset/version/subject/protocol.
REFERENCE_NAMES = (CHANCE_NAME, RESOLUTION_NAME)
#: Names a submission may not take (nor any name of a reference row already on the leaderboard).
RESERVED_NAMES = (*REFERENCE_NAMES, "oracle (true encoding model)")
MAX_NAME_LENGTH = 200


@dataclass
class ScoreReport:
    """The result of scoring one submission for one subject."""

    name: str
    dataset: str
    version: str
    subject: str
    n_images: int
    protocol: str
    protocol_version: int
    metrics: dict[str, float | None]
    unavailable: dict[str, str]
    intervals: dict[str, tuple[float, float]]
    seconds: dict[str, float]
    weights: dict[str, str]
    submission: str
    sha256: str
    sidecar: dict[str, Any]
    recorded: bool = False
    leaderboard: str | None = None
    gallery: str | None = None
    row: dict[str, Any] = field(default_factory=dict)
    split: str = "test"
    evaluation: Evaluation | None = field(default=None, repr=False)  # per-image scores included
    generator_seeds: list[int] = field(default_factory=list)
    seed_sd: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``metrics`` maps every metric key to its value (null when n/a).

        Returns
        -------
        dict
        """
        return {
            "name": self.name,
            "dataset": self.dataset,
            "version": self.version,
            "subject": self.subject,
            "split": self.split,
            "protocol": self.protocol,
            "protocol_version": self.protocol_version,
            "n_images": self.n_images,
            "metrics": dict(self.metrics),
            "unavailable": dict(self.unavailable),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "weights": dict(self.weights),
            "submission": self.submission,
            "sha256": self.sha256,
            "sidecar": dict(self.sidecar),
            "recorded": self.recorded,
            "leaderboard": self.leaderboard,
            "gallery": self.gallery,
            "metrics_version": METRICS_VERSION,
            **({"generator_seeds": self.generator_seeds, "generator_seed_sd": self.seed_sd}
               if self.generator_seeds else {}),
        }  # fmt: skip


def verified_images(
    dataset: str, version: str, split: str, *, data_home: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """The images of a split, after checking the file against its manifest's sha256.

    A tampered ``images_test.npy`` (re-saved as float 0-255, another image set) would give
    meaningless scores with exit 0; it is refused before any work.

    Parameters
    ----------
    dataset, version : str
        The prepared version.
    split : str
        ``train``, ``test``, or a prepared extra split (``artificial``, ``letter``).
    data_home : path-like, optional

    Returns
    -------
    ndarray, uint8 (N, H, W, 3)

    Raises
    ------
    DataError
        The file is not listed in the manifest, or its sha256 differs.
    """
    import json

    folder = prepared_dir(dataset, version, data_home=data_home)
    rel = f"images_{split}.npy"
    try:
        recorded = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["outputs"][rel]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise DataError(
            f"{folder / rel}: no sha256 for it in {folder / 'manifest.json'}; expected a version made by "
            f"`fmri-bench prepare {dataset} --version {version}` (prepare it again)"
        ) from None
    if (folder / rel).is_file() and sha256_file(folder / rel) != recorded:
        raise DataError(
            f"{folder / rel}: sha256 differs from {folder / 'manifest.json'} (the file was modified); "
            f"expected the prepared images: prepare {dataset} {version} again (`fmri-bench verify` lists every difference)"
        )
    return np.asarray(load_images(dataset, version, split, data_home=data_home))


def _needs_refresh(row: dict[str, Any], metrics: Sequence[str] | None, protocol: str) -> bool:
    """A reference row is stale when its definitions changed or a metric it lacks could be computed now."""
    from fmri_bench.weights import resolve

    proto = get_protocol(protocol)
    if row.get("metrics_version") != METRICS_VERSION or row.get("protocol_version") != proto.version:
        return True
    have = {k for k, v in row.get("metrics", {}).items() if v is not None}
    permanent = set(row.get("permanent", []))
    for key in list(metrics) if metrics is not None else proto.names():
        if key in have or key in permanent or key not in proto.metrics:
            continue
        metric = proto.metric(key)
        if metric.backbone is None or resolve(metric.backbone).available:
            return True
    return False


def feature_store(data_home: str | os.PathLike[str] | None) -> FeatureStore:
    """The targets' network features kept between runs, in ``<data-home>/cache/features``.

    Parameters
    ----------
    data_home : path-like, optional
        The data home.

    Returns
    -------
    FeatureStore
    """
    return FeatureStore(resolve_data_home(data_home) / "cache" / "features")


def reference_evaluations(
    targets: np.ndarray,
    train_images: np.ndarray,
    metrics: Sequence[str] | None = None,
    *,
    protocol: str = DEFAULT_PROTOCOL,
    feature_cache: FeatureStore | None = None,
) -> dict[str, tuple[Evaluation, np.ndarray]]:
    """Evaluate the reference reconstructions (chance, resolution reference) of a test set.

    Parameters
    ----------
    targets : ndarray, shape (N, H, W, 3)
        The test images.
    train_images : ndarray
        The training images (for the chance reference).
    metrics : sequence of str, optional
        Metric keys (default: all).
    protocol : str
        The scoring protocol.
    feature_cache : FeatureStore, optional
        Where the targets' network features are kept between runs.

    Returns
    -------
    dict
        Reference name -> (evaluation, reconstructions).
    """
    size = targets.shape[1]
    out = {}
    for label, recon in (
        (CHANCE_NAME, chance_submission(train_images, len(targets), size)),
        (RESOLUTION_NAME, resolution_reference(targets)),
    ):
        ev = evaluate_detailed(targets, recon, metrics, protocol=protocol, feature_cache=feature_cache)
        out[label] = (ev, recon)
    return out


def record_reference_rows(
    dataset: str,
    version: str,
    board: Leaderboard,
    *,
    subjects: Sequence[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] | None = None,
    force: bool = False,
    protocol: str = DEFAULT_PROTOCOL,
    split: str = "test",
) -> list[dict[str, Any]]:
    """Record the chance and resolution-reference rows of ``dataset``/``version`` per subject, and the version's own.

    The version's own reference rows are the reconstructions its recipe names
    (``[references.*]``; the synthetic dataset's ``oracle (true encoding model)``).

    Reference rows are per protocol. A subject's reference rows are (re)computed only when
    missing, from an older METRICS_VERSION or protocol version, or lacking a metric that is
    available now (weights imported since); ``force`` recomputes them. The references are
    evaluated once and shared by every subject (the test images are the same for all subjects).

    Parameters
    ----------
    dataset, version : str
        The prepared version.
    board : Leaderboard
        Where to record.
    subjects : sequence of str, optional
        Default: every prepared subject.
    data_home : path-like, optional
        The data home.
    metrics : sequence of str, optional
        Metric keys (default: all).
    force : bool
        Recompute even up-to-date rows.
    protocol : str
        The scoring protocol.
    split : str
        The reconstructed split (``test``, or ``artificial`` / ``letter`` where prepared).

    Returns
    -------
    list of dict
        The rows written.
    """
    subjects = list(subjects) if subjects is not None else prepared_subjects(dataset, version, data_home=data_home)
    existing = {
        (r["name"], r["subject"]): r
        for r in board.rows()
        if r.get("reference")
        and (r["dataset"], r["version"], r.get("protocol"), r.get("split") or "test")
        == (dataset, version, protocol, split)
    }
    refs: dict[str, tuple[Evaluation, np.ndarray]] = {}
    targets = None
    written = []
    for subject in subjects:
        for ref_name in REFERENCE_NAMES:
            row = existing.get((ref_name, subject))
            if row is not None and not force and not _needs_refresh(row, metrics, protocol):
                continue
            if not refs:
                targets = verified_images(dataset, version, split, data_home=data_home)
                train = verified_images(dataset, version, "train", data_home=data_home)
                refs = reference_evaluations(targets, train, metrics, protocol=protocol,
                                             feature_cache=feature_store(data_home))  # fmt: skip
            evaluation, recon = refs[ref_name]
            new = reconstruction_row(name=ref_name, dataset=dataset, version=version, subject=subject,
                                     evaluation=evaluation, n_images=len(targets), sha256=None, submission=None,
                                     reference=True, split=split)  # fmt: skip
            board.upsert(new, gallery_png=gallery_thumbnail(targets, recon), per_image=evaluation.per_image)
            written.append(new)
        written += _record_version_references(
            dataset, version, subject, board, existing, data_home, metrics, force, protocol, split
        )
    return written


def _record_version_references(
    dataset: str,
    version: str,
    subject: str,
    board: Leaderboard,
    existing: dict,
    data_home: str | os.PathLike[str] | None,
    metrics: Sequence[str] | None,
    force: bool,
    protocol: str,
    split: str,
) -> list[dict[str, Any]]:
    """Record the reference reconstructions the prepared version carries for ``subject`` (the synthetic oracle).

    They are subject-specific (the oracle decodes each subject's data), so each is evaluated
    for its own subject; refreshed under the same rule as chance.
    """
    written = []
    ceilings = ceiling_references(dataset, version, subject, data_home=data_home)
    for name, recon in reference_reconstructions(dataset, version, subject, split=split, data_home=data_home).items():
        row = existing.get((name, subject))
        if row is not None and not force and not _needs_refresh(row, metrics, protocol):
            continue
        targets = verified_images(dataset, version, split, data_home=data_home)
        evaluation = evaluate_detailed(
            targets, recon, metrics, protocol=protocol, feature_cache=feature_store(data_home)
        )
        new = reconstruction_row(
            name=name,
            dataset=dataset,
            version=version,
            subject=subject,
            evaluation=evaluation,
            n_images=len(targets),
            sha256=None,
            submission=None,
            reference=True,
            split=split,
        )
        if name in ceilings:
            new["ceiling"] = True
        board.upsert(new, gallery_png=gallery_thumbnail(targets, recon), per_image=evaluation.per_image)
        written.append(new)
    return written


def default_name(path: Path, sidecar: dict[str, Any]) -> str:
    """The leaderboard name of a submission: the sidecar's ``name`` or ``method``, else the file stem.

    Parameters
    ----------
    path : Path
        The submission file.
    sidecar : dict
        Its sidecar.

    Returns
    -------
    str
    """
    for key in ("name", "method"):
        value = sidecar.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return path.stem


def check_entry_name(name: str, board: Leaderboard | None = None) -> str:
    """Refuse a blank name, control characters, or a name that belongs to a reference row.

    Parameters
    ----------
    name : str
    board : Leaderboard, optional
        Also refuse the names of the reference rows already recorded there.

    Returns
    -------
    str
        The name, stripped.
    """
    name = str(name).strip()
    if not name:
        raise SubmissionError("the entry name is blank; expected a name for the leaderboard (--name)")
    if any(not ch.isprintable() for ch in name) or len(name) > MAX_NAME_LENGTH:
        raise SubmissionError(
            f"the name {name[:40]!r}... holds control characters or is longer than {MAX_NAME_LENGTH} characters; "
            "expected one printable line (--name)"
        )
    reserved = {n.casefold() for n in RESERVED_NAMES}
    if board is not None:
        reserved |= {str(r["name"]).casefold() for r in board.rows() if r.get("reference")}
    if " ".join(name.split()).casefold() in reserved:
        raise SubmissionError(f"the name {name!r} belongs to a reference row; choose another name (--name)")
    return name


def _check_request(dataset, version, subject, protocol, metrics, record, leaderboard, data_home):
    """Everything about a score request that can be checked before any work; returns the protocol."""
    proto = get_protocol(protocol)  # an unknown protocol or metric: one line
    for key in metrics or []:
        proto.metric(key)
    if record and leaderboard is None:
        raise DataError("score_submission(record=True) needs a leaderboard folder")
    subjects = prepared_subjects(dataset, version, data_home=data_home)
    if subject not in subjects:
        raise DataError(
            f"{subject} is not prepared for {dataset} {version}; prepared subjects: "
            f"{', '.join(subjects) or 'none'} (or use --subject all)"
        )
    return proto


def score_submission(
    path: str | os.PathLike[str],
    *,
    dataset: str = "synthetic",
    version: str = "v1",
    subject: str = "sub-01",
    name: str | None = None,
    leaderboard: str | os.PathLike[str] | None = None,
    record: bool = True,
    data_home: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    split: str = "test",
) -> ScoreReport:
    """Validate and score a submission file for one subject; record it with its gallery picture.

    Parameters
    ----------
    path : path-like
        The submission .npy (see ``leaderboard/README.md`` for the format).
    dataset, version, subject : str
        What it reconstructs; the targets are ``images_test.npy`` of that dataset/version.
    name : str, optional
        The leaderboard name (default: the sidecar's ``name`` or ``method``, else the file stem).
    leaderboard : path-like, optional
        The leaderboard folder; required when ``record`` is true.
    record : bool
        Record the row (and the reference rows) in the leaderboard.
    data_home : path-like, optional
        The data home.
    metrics : sequence of str, optional
        Metric keys of the protocol (default: all).
    protocol : str
        The scoring protocol (default ``mindeye``); the row records it and its version.
    split : str
        The reconstructed split: the targets are ``images_<split>.npy`` (``test``, ``artificial``...).

    Returns
    -------
    ScoreReport

    Raises
    ------
    SubmissionError
        Bad submission or sidecar (exit code 2); nothing is written then.
    """
    path = Path(path)
    proto = _check_request(dataset, version, subject, protocol, metrics, record, leaderboard, data_home)
    targets = verified_images(dataset, version, split, data_home=data_home)
    sub = load_submission(path, n_expected=len(targets))
    board = Leaderboard(leaderboard) if record else None
    entry = check_entry_name(name if name is not None else default_name(path, sub.sidecar), board)
    ev = evaluate_detailed(targets, sub.images, metrics, protocol=proto, feature_cache=feature_store(data_home))
    report = ScoreReport(
        name=entry, dataset=dataset, version=version, subject=subject, n_images=len(targets),
        protocol=ev.protocol, protocol_version=ev.protocol_version,
        metrics=ev.metrics, unavailable=ev.unavailable, intervals=ev.intervals, seconds=ev.seconds,
        weights=ev.weights, submission=str(path), sha256=sub.sha256, sidecar=sub.sidecar, split=split,
        evaluation=ev,
    )  # fmt: skip
    report.row = reconstruction_row(
        name=entry, dataset=dataset, version=version, subject=subject, evaluation=ev, n_images=len(targets),
        sha256=sub.sha256, submission=path.name, sidecar=sub.sidecar, split=split,
    )  # fmt: skip
    if board is not None:
        record_reference_rows(dataset, version, board, subjects=[subject], data_home=data_home, metrics=metrics,
                              protocol=proto.name, split=split)  # fmt: skip
        stored = board.upsert(report.row, gallery_png=gallery_thumbnail(targets, sub.images), per_image=ev.per_image)
        report.recorded, report.leaderboard = True, str(board.folder)
        report.gallery = str(board.folder / stored["gallery"])
    return report


def mean_over_seeds(evaluations: dict[int, Evaluation]) -> tuple[Evaluation, dict[str, float | None]]:
    """The evaluation of a method over generator seeds: metric means, per-image means, sd over seeds.

    A metric is the mean of the seeds' values (n/a unless every seed has it); its sd is the
    sample sd over seeds (:func:`fmri_bench.stats.mean_over_subjects`, the same definition);
    per-image scores are the mean over seeds per image (what ``compare`` tests); an
    identification interval is the bootstrap interval of those per-image means.

    Parameters
    ----------
    evaluations : dict
        Generator seed -> the evaluation of its submission (same targets and protocol).

    Returns
    -------
    (Evaluation, dict)
        The mean evaluation, and metric key -> sd over seeds (None where n/a).
    """
    from fmri_bench.metrics.core import bootstrap_interval
    from fmri_bench.stats import mean_over_subjects

    evs = list(evaluations.values())
    first = evs[0]
    metrics, sd, unavailable = {}, {}, {}
    for key in first.metrics:
        values = [ev.metrics.get(key) for ev in evs]
        metrics[key], sd[key] = mean_over_subjects(values)
        if metrics[key] is None:
            reason = next((ev.unavailable[key] for ev in evs if key in ev.unavailable), None)
            unavailable[key] = reason or "n/a for some generator seeds (a mean needs every seed)"
    per_image = {
        key: np.mean([np.asarray(ev.per_image[key], dtype=np.float64) for ev in evs], axis=0)
        for key in first.per_image
        if all(key in ev.per_image and len(ev.per_image[key]) == len(first.per_image[key]) for ev in evs)
    }
    intervals = {
        key: bootstrap_interval(per_image[key])
        for key in first.intervals
        if key in per_image and metrics.get(key) is not None
    }
    mean = dataclasses.replace(
        first, metrics=metrics, unavailable=unavailable, intervals=intervals, per_image=per_image,
        seconds={k: sum(ev.seconds.get(k, 0.0) for ev in evs) for k in first.seconds},
        permanent={k for k in first.permanent if k in unavailable},
        certified_weights=all(ev.certified_weights for ev in evs),
    )  # fmt: skip
    return mean, sd


def record_over_seeds(
    reports: dict[int, ScoreReport],
    *,
    leaderboard: str | os.PathLike[str],
    data_home: str | os.PathLike[str] | None = None,
) -> ScoreReport:
    """Record ONE row for a method's submissions over several generator seeds: their mean ± sd.

    ``reports`` are :func:`score_submission` results with ``record=False`` (scored once, not
    again here). The row is the first seed's submission (file, sha256, sidecar, gallery)
    with the metrics and per-image scores of :func:`mean_over_seeds`, plus
    ``generator_seeds`` (the seeds), ``generator_seed_sd`` (metric key -> sample sd over
    seeds) and ``generator_seed_submissions`` (seed -> file name and sha256).

    Parameters
    ----------
    reports : dict
        Generator seed -> the report of its submission (at least two; same entry, subject,
        split and protocol).
    leaderboard : path-like
        The leaderboard folder.
    data_home : path-like, optional

    Returns
    -------
    ScoreReport
        The mean's report (``generator_seeds`` and ``seed_sd`` set), recorded.
    """
    first = next(iter(reports.values()))
    what = {(r.name, r.dataset, r.version, r.subject, r.split, r.protocol) for r in reports.values()}
    if len(reports) < 2 or len(what) != 1 or any(r.evaluation is None for r in reports.values()):
        raise DataError("record_over_seeds needs the reports of one entry/subject/split/protocol for two or more seeds")
    board = Leaderboard(leaderboard)
    entry = check_entry_name(first.name, board)
    ev, seed_sd = mean_over_seeds({seed: r.evaluation for seed, r in reports.items()})
    path = Path(first.submission)
    report = dataclasses.replace(
        first, name=entry, metrics=ev.metrics, unavailable=ev.unavailable, intervals=ev.intervals,
        seconds=ev.seconds, evaluation=ev, generator_seeds=list(reports), seed_sd=seed_sd,
    )  # fmt: skip
    report.row = reconstruction_row(
        name=entry, dataset=first.dataset, version=first.version, subject=first.subject, evaluation=ev,
        n_images=first.n_images, sha256=first.sha256, submission=path.name, sidecar=first.sidecar, split=first.split,
    )  # fmt: skip
    report.row["generator_seeds"] = list(reports)
    report.row["generator_seed_sd"] = {k: None if v is None else round(float(v), 6) for k, v in seed_sd.items()}
    report.row["generator_seed_submissions"] = {
        str(seed): {"submission": Path(r.submission).name, "sha256": r.sha256} for seed, r in reports.items()
    }
    targets = verified_images(first.dataset, first.version, first.split, data_home=data_home)
    images = load_submission(path, n_expected=len(targets)).images
    record_reference_rows(first.dataset, first.version, board, subjects=[first.subject], data_home=data_home,
                          protocol=first.protocol, split=first.split)  # fmt: skip
    stored = board.upsert(report.row, gallery_png=gallery_thumbnail(targets, images), per_image=ev.per_image)
    report.recorded, report.leaderboard = True, str(board.folder)
    report.gallery = str(board.folder / stored["gallery"])
    return report


def subject_files(path: str | os.PathLike[str], subjects: Sequence[str]) -> dict[str, Path]:
    """Map each subject to its submission file for ``--subject all``.

    ``path`` is one of: a template containing ``{subject}`` (``out/{subject}.npy``); a
    folder holding ``<subject>.npy`` per subject; or a single .npy file, which is then
    scored against every subject (for subject-independent methods). Every file must exist.

    Parameters
    ----------
    path : path-like
        Template, folder or file.
    subjects : sequence of str
        The prepared subjects.

    Returns
    -------
    dict
        Subject -> file.
    """
    text = str(path)
    if "{" in text or "}" in text:
        rest = text.replace("{subject}", "")
        if "{" in rest or "}" in rest or "{subject}" not in text:
            raise SubmissionError(
                f"{text}: an unknown or unbalanced placeholder; expected a --subject all template holding only {{subject}}"
            )
        files = {s: Path(text.replace("{subject}", s)) for s in subjects}
    elif Path(text).is_dir():
        files = {s: Path(text) / f"{s}.npy" for s in subjects}
    else:
        files = {s: Path(text) for s in subjects}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise SubmissionError(
            f"{missing[0]}: no such file; with --subject all, expected one .npy per prepared "
            f"subject ({', '.join(subjects)}), as a folder of <subject>.npy or a {{subject}} template"
        )
    return files


def score_subjects(
    path: str | os.PathLike[str],
    *,
    dataset: str = "synthetic",
    version: str = "v1",
    name: str | None = None,
    leaderboard: str | os.PathLike[str] | None = None,
    record: bool = True,
    data_home: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    split: str = "test",
) -> list[ScoreReport]:
    """Score every prepared subject (``--subject all``); see :func:`subject_files` for ``path``.

    Every file is validated before anything is recorded, so one bad file leaves the
    leaderboard unchanged.

    Parameters
    ----------
    path : path-like
        Template, folder or file.
    dataset, version, name, leaderboard, record, data_home, metrics, protocol, split
        As for :func:`score_submission`.

    Returns
    -------
    list of ScoreReport
    """
    get_protocol(protocol)
    subjects = prepared_subjects(dataset, version, data_home=data_home)
    files = subject_files(path, subjects)
    n = len(load_images(dataset, version, split, data_home=data_home))
    for file in dict.fromkeys(files.values()):
        load_submission(file, n_expected=n)
    if name is None:
        # One name for the method across subjects: the sidecar's name/method, else the
        # file stem (single file), else the folder holding the per-subject files.
        first = next(iter(files.values()))
        name = default_name(first, load_sidecar(first))
        if name == first.stem and len(set(files.values())) > 1:
            name = first.parent.name or first.stem
    check_entry_name(name)
    return [
        score_submission(
            files[s],
            dataset=dataset,
            version=version,
            subject=s,
            name=name,
            leaderboard=leaderboard,
            record=record,
            data_home=data_home,
            metrics=metrics,
            protocol=protocol,
            split=split,
        )
        for s in subjects
    ]
