"""The first half of the chain: acquire the raw BIDS, prepare it, load it.

``acquire`` is the only place that simulates or downloads a dataset; :func:`prepare`
(stage 2) only reads the BIDS tree it is given.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from filelock import FileLock, Timeout

from fmri_bench.data import PreparedData, load
from fmri_bench.errors import DataError, FmriBenchError
from fmri_bench.io import atomic_dir, clean_leftovers
from fmri_bench.paths import data_home as resolve_data_home
from fmri_bench.prepare import pending_versions, prepare, resolve_versions
from fmri_bench.prepare.parallel import check_backend
from fmri_bench.progress import enable_progress, get_logger, logger, progress_enabled
from fmri_bench.recipe import Recipe, load_recipe

log = get_logger(__name__)
LOCK_WAIT_S = 3600.0


def raw_dir(recipe: Recipe, data_home: str | os.PathLike[str] | None = None) -> Path:
    """Where a dataset's raw BIDS lives when no ``--source`` is given: ``<data-home>/raw/<name>``.

    Parameters
    ----------
    recipe : Recipe
        The dataset recipe.
    data_home : path-like, optional
        The data home.

    Returns
    -------
    Path
    """
    return resolve_data_home(data_home) / "raw" / recipe.name


@contextlib.contextmanager
def data_home_lock(data_home: str | os.PathLike[str] | None, name: str) -> Iterator[None]:
    """Serialize the runs that write one dataset into one data home (simulate, download, prepare).

    Parameters
    ----------
    data_home : path-like, optional
        The data home.
    name : str
        The dataset name (one lock per dataset).

    Yields
    ------
    None
        While the lock ``<data-home>/.<name>.lock`` is held; it is released on exit.

    Raises
    ------
    FmriBenchError
        Another run has held the lock for an hour.
    """
    home = resolve_data_home(data_home)
    lock = FileLock(str(home / f".{name}.lock"))
    try:
        home.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=1.0)
    except Timeout:  # first: filelock's Timeout is an OSError too
        log.warning("waiting for another fmri-bench run that writes %s in %s", name, home)
        try:
            lock.acquire(timeout=LOCK_WAIT_S)
        except Timeout:
            raise FmriBenchError(
                f"{home}: another run has held the lock on {name} for an hour; "
                f"if none is running, delete {home / f'.{name}.lock'}"
            ) from None
    except OSError as exc:  # a read-only or missing parent folder
        raise DataError(
            f"{home}: cannot write to the data home ({exc.strerror or exc}); expected a writable folder"
        ) from None
    try:
        yield
    finally:
        lock.release()


def acquire(
    recipe: Recipe,
    *,
    source: str | os.PathLike[str] | None = None,
    subjects: Sequence[str] | None = None,
    versions: Sequence[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the raw BIDS root of a dataset, simulating or downloading it on first use.

    A download also fetches the pinned fMRIPrep derivatives that the ``T1w`` versions among
    ``versions`` need, into ``<data-home>/raw/<dataset>-fmriprep`` (see :func:`fmriprep_dir`).

    Parameters
    ----------
    recipe : Recipe
        The dataset recipe.
    source : path-like, optional
        A local BIDS copy (read only); nothing is acquired then.
    subjects, versions : sequence of str, optional
        What will be prepared (a download fetches only their files).
    data_home : path-like, optional
        The data home; the raw data goes to ``<data-home>/raw/<dataset>``.

    Returns
    -------
    Path
    """
    if source is not None:
        root = Path(source).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"{root}: no such BIDS folder (--source expects a local copy of {recipe.name})")
        if not any(p.is_dir() for p in root.glob("sub-*")):
            raise DataError(f"{root}: no sub-* folder; expected a BIDS copy of {recipe.name} with its subjects")
        return root
    root = raw_dir(recipe, data_home)
    clean_leftovers(root.parent)
    if recipe.source["kind"] == "simulate":
        return _simulated(recipe, root)
    from fmri_bench.raw.openneuro import download, download_fmriprep

    root = download(recipe, subjects=subjects, versions=versions, target=root)
    if any(recipe.version(v)["space"] == "T1w" for v in versions or recipe.versions):
        download_fmriprep(recipe, root, subjects=subjects, target=fmriprep_dir(recipe, data_home))
    return root


def fmriprep_dir(recipe: Recipe, data_home: str | os.PathLike[str] | None = None) -> Path:
    """Where a downloaded dataset's fMRIPrep derivatives live: ``<data-home>/raw/<name>-fmriprep``.

    Parameters
    ----------
    recipe : Recipe
        The dataset recipe.
    data_home : path-like, optional
        The data home.

    Returns
    -------
    Path
    """
    return resolve_data_home(data_home) / "raw" / f"{recipe.name}-fmriprep"


def _simulated(recipe: Recipe, root: Path) -> Path:
    """Simulate the recipe's dataset into ``root`` unless it holds that simulation (version, size, seed, motion)."""
    import json

    from fmri_bench.raw.simulate import SIMULATOR_VERSION, simulate_dataset

    wanted = recipe.source.get("simulator_version", SIMULATOR_VERSION)
    if str(wanted) != SIMULATOR_VERSION:
        raise FmriBenchError(
            f"recipe {recipe.name} asks for simulator version {wanted}; this fmri-bench has version "
            f"{SIMULATOR_VERSION} (update the recipe or fmri-bench)"
        )
    args = {"size": recipe.source.get("size", "default"), "seed": int(recipe.source.get("seed", 0))}
    args["motion"] = bool(recipe.source.get("motion", False))
    record = root / "derivatives" / "simulation" / "simulation.json"
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(record.read_text(encoding="utf-8"))
        if {k: info.get(k) for k in args} == args and info.get("simulator_version") == SIMULATOR_VERSION:
            return root
    log.info("simulating the %s dataset into %s (first use, or the simulator changed)", recipe.name, root)
    with atomic_dir(root) as tmp:
        simulate_dataset(tmp, **args)
    return root


def prepare_dataset(
    dataset: str | Recipe = "synthetic",
    *,
    versions: str | Sequence[str] = "all",
    subjects: Sequence[str] | None = None,
    source: str | os.PathLike[str] | None = None,
    stimuli: str | os.PathLike[str] | None = None,
    fmriprep: str | os.PathLike[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
    n_jobs: int = 1,
    backend: str | None = None,
    scheduler: str | None = None,
) -> list[Path]:
    """Acquire (when needed) and prepare versions of a dataset: ``fmri-bench prepare``.

    Parameters
    ----------
    dataset : str or Recipe
        ``synthetic`` (simulated on first use), ``ds001506``, ``ds001246``, a recipe TOML path.
    versions : str or sequence of str
        ``"all"`` or version names.
    subjects : sequence of str, optional
        Subjects to prepare (default: every subject of the recipe or source).
    source : path-like, optional
        A local BIDS copy instead of the simulator or a download.
    stimuli : path-like, optional
        Folder of stimulus images named by stimulus_name.
    fmriprep : path-like, optional
        fMRIPrep derivatives of the source (default: ``<source>/derivatives/fmriprep``, or the
        downloaded pinned release).
    data_home : path-like, optional
        The data home.
    n_jobs : int
        Runs processed in parallel (capped at the CPU count).
    backend : str, optional
        ``loky``, ``threading`` or ``dask``.
    scheduler : str, optional
        With ``dask``: a scheduler address (default: a local cluster).

    Returns
    -------
    list of Path
        The version folders.
    """
    recipe = dataset if isinstance(dataset, Recipe) else load_recipe(dataset)
    check_backend(backend, scheduler)  # before anything is simulated or downloaded
    resolve_versions(recipe, versions)  # an unknown version is refused before anything is touched
    if source is not None:
        acquire(recipe, source=source)  # a missing folder, or one without subjects, is refused here
    home = resolve_data_home(data_home)
    with data_home_lock(home, recipe.name):
        clean_leftovers(home / recipe.name)  # a killed run's .partial-* / .old-* folders
        root = Path(source).expanduser().resolve() if source is not None else raw_dir(recipe, home)
        todo = pending_versions(recipe, root, versions=versions, subjects=subjects, stimuli=stimuli, data_home=home)
        if todo:
            root = acquire(recipe, source=source, subjects=subjects, versions=todo, data_home=home)
        if fmriprep is None and source is None and recipe.source["kind"] == "openneuro":
            fmriprep = fmriprep_dir(recipe, home)
        return prepare(
            recipe,
            root,
            versions=versions,
            subjects=subjects,
            stimuli=stimuli,
            fmriprep=fmriprep,
            data_home=home,
            n_jobs=n_jobs,
            backend=backend,
            scheduler=scheduler,
        )


@contextlib.contextmanager
def _verbosity(verbose: int) -> Iterator[None]:
    """nilearn-style ``verbose``: 0 silent, 1 log lines on stderr, 2 also progress bars."""
    if verbose <= 0:
        yield
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    before_level, before_progress = logger.level, progress_enabled()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    enable_progress(verbose > 1)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before_level)
        enable_progress(before_progress)


def fetch(
    dataset: str = "synthetic",
    version: str = "v1",
    subject: str = "sub-01",
    *,
    data_home: str | os.PathLike[str] | None = None,
    average_test: bool = True,
    verbose: int = 0,
) -> PreparedData:
    """Return one subject's prepared data, preparing the version on first use (nilearn-style).

    Parameters
    ----------
    dataset : str
        ``synthetic`` (simulated and prepared on first use), ``ds001506`` or ``ds001246``.
    version : str
        ``v1``, ``v2``...
    subject : str
        ``sub-01``...
    data_home : path-like, optional
        Default: ``$FMRI_BENCH_HOME``, else ``~/fmri_bench_data``.
    average_test : bool
        Average the test repetitions per image (then ``y_test`` is 0..n-1).
    verbose : int
        0: silent; 1: log lines; 2: log lines and progress bars.

    Returns
    -------
    fmri_bench.data.PreparedData
        A Bunch with ``X_train``, ``y_train``, ``images_train``, ``X_test``, ``y_test``,
        ``images_test``, ``stimuli``, ``mask``, ``manifest``, ``DESCR``;
        ``images_train[y_train]`` is each training sample's stimulus.
    """
    with _verbosity(verbose):
        prepare_dataset(dataset, versions=[version], subjects=[subject], data_home=data_home)
        return load(dataset, version, subject, data_home=data_home, average_test=average_test)
