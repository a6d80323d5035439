"""Download a pinned OpenNeuro release with datalad: clone, check the commit, get only what is needed.

``download`` clones ``source.url`` into ``<data-home>/raw/<dataset>`` (once), refuses a clone
that does not hold the recipe's pinned commit (and release tag), checks that commit out,
then ``datalad get``s only the files that the requested subjects and splits need: the
perception runs of the recipe's splits (BOLD, events, sidecars) and the ROI masks.
``download_fmriprep`` does the same for the pinned fMRIPrep derivatives (OpenNeuroDerivatives)
into ``<data-home>/raw/<dataset>-fmriprep``: only the head-motion and coregistration
transforms and the hmc boldrefs of those runs. git-annex resumes partial transfers, and a
second run only fetches what is still missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlparse

from fmri_bench.errors import DataError, NetworkError
from fmri_bench.io import atomic_dir
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.progress import get_logger, track
from fmri_bench.raw.bids import discover_runs, list_subjects, mask_paths, sidecar_chain
from fmri_bench.raw.fmriprep import run_derivatives
from fmri_bench.recipe import Recipe, load_recipe

log = get_logger(__name__)

# git-annex needs an identity to record its bookkeeping commits; never ask the user for one.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "fmri-bench",
    "GIT_AUTHOR_EMAIL": "fmri-bench@localhost",
    "GIT_COMMITTER_NAME": "fmri-bench",
    "GIT_COMMITTER_EMAIL": "fmri-bench@localhost",
}
REACH_TIMEOUT_S = 5.0


@contextlib.contextmanager
def git_environment() -> Iterator[None]:
    """Set the git identity (unless the user has one in the environment) and git-annex on PATH.

    git-annex is looked for in the folder of the running Python (the virtual environment's
    ``bin``), which is put first on PATH unless it is already there.

    Yields
    ------
    None
        While the environment is set; the previous values are restored on exit.
    """
    saved = {k: os.environ.get(k) for k in (*GIT_IDENTITY, "PATH")}
    for key, value in GIT_IDENTITY.items():
        os.environ.setdefault(key, value)
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _git(repo: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or [""])[-1]
        raise DataError(f"{repo}: git {' '.join(args)} failed: {last_line}")
    return result.stdout.strip()


def check_reachable(url: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Fail fast (one line) when the host of a remote ``url`` cannot be reached; local paths pass.

    Parameters
    ----------
    url : str
        The source URL; a path or ``file://`` URL is not checked.
    timeout : float
        Seconds to wait for a TCP connection (to the URL's port, else 443 for https, 80 for
        http, 22 otherwise).

    Raises
    ------
    NetworkError
        The connection failed.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("", "file") or not parsed.hostname:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80 if parsed.scheme == "http" else 22)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise NetworkError(
            f"cannot reach {parsed.hostname} to download the dataset ({exc.strerror or exc}); "
            "download it by other means and pass --source BIDS_DIR"
        ) from None


def clone(recipe: Recipe, target: Path) -> Path:
    """Clone the recipe's source into ``target`` (once) and check out the pinned commit.

    Parameters
    ----------
    recipe : Recipe
        The dataset recipe (an ``openneuro`` source: ``url``, ``commit``, ``release``).
    target : Path
        The clone's folder; an existing clone (a ``.git`` there) is reused.

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    NetworkError
        The host cannot be reached or ``datalad clone`` failed.
    DataError
        The clone does not hold the pinned commit, or the release tag points elsewhere.
    """
    return clone_pinned(recipe.source["url"], recipe.source["commit"], recipe.source["release"], target)


def clone_pinned(url: str, commit: str, release: str | None, target: Path) -> Path:
    """Clone ``url`` into ``target`` (once) and check out ``commit``, refusing a clone without it.

    Parameters
    ----------
    url : str
        The datalad dataset's URL (or a local path).
    commit : str
        The pinned commit.
    release : str or None
        A release tag that must point at ``commit`` when it exists.
    target : Path
        The clone's folder; an existing clone (a ``.git`` there) is reused.

    Returns
    -------
    Path
        ``target``.
    """
    import datalad.api as dl

    if not (target / ".git").exists():
        check_reachable(url)
        log.info("cloning %s into %s", url, target)
        # Clone beside the target and rename: an interrupted clone leaves no half-made .git
        # that the next run would take for a finished one.
        try:
            with atomic_dir(target) as partial:
                dl.clone(source=url, path=str(partial), result_renderer="disabled")
        except Exception as exc:  # datalad raises IncompleteResultsError and others
            raise NetworkError(
                f"datalad clone of {url} failed ({(str(exc).splitlines() or [''])[0]}); "
                "pass --source BIDS_DIR for a local copy"
            ) from exc
    if (
        subprocess.run(
            ["git", "-C", str(target), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
        ).returncode
        != 0
    ):
        raise DataError(
            f"{target}: the clone of {url} has no commit {commit} ({f'release {release} ' if release else ''}"
            "pinned by the recipe); refusing to prepare from another version"
        )
    tagged = release and _git(
        target, "rev-parse", "--verify", "--quiet", f"refs/tags/{release}^{{commit}}", check=False
    )
    if tagged and tagged != commit:
        raise DataError(
            f"{target}: tag {release} is commit {tagged}, but the recipe pins {commit}; refusing a moved release"
        )
    if _git(target, "rev-parse", "HEAD") != commit:
        _git(target, "checkout", "--quiet", "--detach", commit)
    return target


def needed_files(root: Path, recipe: Recipe, subjects: Sequence[str], versions: Sequence[str]) -> list[Path]:
    """The files that preparing ``subjects`` and ``versions`` reads: runs of both splits and masks.

    Parameters
    ----------
    root : Path
        The BIDS root (a clone whose annexed files may not be fetched yet).
    recipe : Recipe
        The dataset recipe.
    subjects : sequence of str
        Subjects (``sub-01``...).
    versions : sequence of str
        Versions whose ROIs decide which masks are needed.

    Returns
    -------
    list of Path
        Sorted, without duplicates: BOLD, events and sidecar files of every run, and the
        ROI masks of every hemisphere.

    Raises
    ------
    DataError
        A subject has no run for a split (see :func:`~fmri_bench.raw.bids.discover_runs`).
    """
    rois = sorted({roi for v in versions for roi in recipe.version(v)["rois"]})
    files: set[Path] = set()
    for subject in subjects:
        for run in discover_runs(root, recipe, subject):
            files.update([run.bold, run.events, *sidecar_chain(run.bold, root)])
        files.update(mask_paths(root, recipe, subject, rois))
    return sorted(files)


def missing_bytes(root: Path, files: Sequence[Path]) -> tuple[int, int, list[Path]]:
    """Ask git-annex which of ``files`` are not here yet; return (bytes missing, bytes total, missing files).

    Only annexed files count; files kept in git itself are always here. The exit status of
    ``git annex find`` is not checked.

    Parameters
    ----------
    root : Path
        The datalad clone.
    files : sequence of Path
        Files under ``root``.

    Returns
    -------
    missing : int
        Bytes of the annexed files not yet present.
    total : int
        Bytes of all the annexed files among ``files``.
    absent : list of Path
        The annexed files not yet present.
    """
    total = missing = 0
    absent: list[Path] = []
    rel = [str(p.relative_to(root)) for p in files]
    for chunk_start in range(0, len(rel), 200):
        chunk = rel[chunk_start : chunk_start + 200]
        out = subprocess.run(
            ["git", "-C", str(root), "annex", "find", "--include=*", "--format=${bytesize}\t${file}\n", *chunk],
            capture_output=True,
            text=True,
        )
        here = subprocess.run(
            ["git", "-C", str(root), "annex", "find", "--format=${file}\n", *chunk], capture_output=True, text=True
        )
        for result in (out, here):
            if result.returncode != 0:  # git-annex missing from PATH, or not an annex: say so, never count 0 bytes
                last = (result.stderr.strip().splitlines() or ["no message"])[-1]
                raise DataError(f"{root}: git annex find failed ({last}); is git-annex installed and on PATH?")
        present = set(here.stdout.split("\n"))
        for line in out.stdout.splitlines():
            size, _, name = line.partition("\t")
            nbytes = int(size) if size.isdigit() else 0
            total += nbytes
            if name not in present:
                missing += nbytes
                absent.append(root / name)
    return missing, total, absent


def download(
    recipe: Recipe | str,
    *,
    subjects: Sequence[str] | None = None,
    versions: Sequence[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
    target: str | os.PathLike[str] | None = None,
) -> Path:
    """Clone the pinned release and download the files that the preparation needs.

    Parameters
    ----------
    recipe : Recipe or str
        The dataset recipe (an ``openneuro`` source).
    subjects : sequence of str, optional
        Subjects to download (default: the recipe's).
    versions : sequence of str, optional
        Versions to prepare (their ROIs decide which masks are fetched; default: all).
    data_home : path-like, optional
        The clone goes to ``<data-home>/raw/<dataset>`` unless ``target`` is given.
    target : path-like, optional
        The clone's folder, instead of ``<data-home>/raw/<dataset>``.

    Returns
    -------
    Path
        The BIDS root of the clone.
    """
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    root = Path(target) if target is not None else resolve_data_home(data_home) / "raw" / recipe.name
    with git_environment():
        clone(recipe, root)
        subjects = list(subjects or recipe.subjects or list_subjects(root))
        files = needed_files(root, recipe, subjects, list(versions or recipe.versions))
        _get_missing(root, files, f"{recipe.name} {recipe.source['release']}", subjects)
    return root


def _get_missing(root: Path, files: list[Path], label: str, subjects: list[str]) -> None:
    """Download the files of a clone whose content is absent, then check that none is left."""
    missing, total, absent = missing_bytes(root, files)
    log.info(
        f"{label}: {len(files)} files for {', '.join(subjects)}, "
        f"{total / 1e6:.0f} MB annexed; {missing / 1e6:.0f} MB ({len(absent)} files) to download"
    )
    if absent:
        get_files(root, absent)
    _, _, left = missing_bytes(root, files)
    if left:
        raise NetworkError(
            f"{left[0]}: download incomplete ({len(left)} files missing); run the command again to resume"
        )


def get_files(root: Path, files: Sequence[Path], batch: int = 8) -> None:
    """``datalad get`` the files in small batches, with a progress bar over all of them.

    Parameters
    ----------
    root : Path
        The datalad clone.
    files : sequence of Path
        Files under ``root`` to fetch.
    batch : int
        Files per ``datalad get`` call.

    Raises
    ------
    NetworkError
        A batch failed (a new run resumes: files already fetched stay).
    """
    import datalad.api as dl

    batches = [list(files[i : i + batch]) for i in range(0, len(files), batch)]
    for chunk in track(batches, f"downloading {len(files)} files"):
        try:
            dl.get(path=[str(p) for p in chunk], dataset=str(root), result_renderer="disabled", on_failure="stop")
        except Exception as exc:  # datalad's IncompleteResultsError and network failures
            raise NetworkError(
                f"{chunk[0]}: download failed ({str(exc).splitlines()[0]}); run the command again to resume"
            ) from exc


def fmriprep_files(raw_root: Path, fmriprep: Path, recipe: Recipe, subjects: Sequence[str]) -> list[Path]:
    """The fMRIPrep files the T1w versions read for ``subjects``: per run, both transforms and the hmc boldref.

    Parameters
    ----------
    raw_root : Path
        The raw BIDS clone (its events files say which runs there are).
    fmriprep : Path
        The fMRIPrep derivatives clone.
    recipe : Recipe
        The dataset recipe.
    subjects : sequence of str
        Subjects.

    Returns
    -------
    list of Path
        Sorted.
    """
    files: set[Path] = set()
    for subject in subjects:
        for run in discover_runs(raw_root, recipe, subject):
            found = run_derivatives(fmriprep, run)
            files.update([*found.transforms(), found.hmc_boldref])
    return sorted(files)


def download_fmriprep(
    recipe: Recipe, raw_root: Path, *, subjects: Sequence[str] | None = None, target: str | os.PathLike[str]
) -> Path:
    """Clone the recipe's pinned fMRIPrep derivatives and get the files of the requested runs only.

    Parameters
    ----------
    recipe : Recipe
        The dataset recipe (its ``[fmriprep]`` ``url`` and ``commit``).
    raw_root : Path
        The raw BIDS clone (already downloaded: its runs decide which files are fetched).
    subjects : sequence of str, optional
        Subjects (default: the recipe's).
    target : path-like
        The clone's folder (``<data-home>/raw/<dataset>-fmriprep``).

    Returns
    -------
    Path
        The derivatives root.
    """
    pinned = recipe.fmriprep
    if not pinned.get("url") or not pinned.get("commit"):
        raise DataError(f"recipe {recipe.name}: no [fmriprep] url and commit; pass --fmriprep DIR")
    root = Path(target)
    with git_environment():
        clone_pinned(pinned["url"], pinned["commit"], None, root)
        subjects = list(subjects or recipe.subjects or list_subjects(raw_root))
        files = fmriprep_files(raw_root, root, recipe, subjects)
        missing_files = [p for p in files if not os.path.lexists(p)]
        if missing_files:
            raise DataError(
                f"{missing_files[0]}: not in the fMRIPrep derivatives at commit {pinned['commit']} "
                f"({len(missing_files)} files missing); pass --fmriprep DIR"
            )
        _get_missing(root, files, f"{recipe.name} fMRIPrep derivatives", subjects)
    return root
