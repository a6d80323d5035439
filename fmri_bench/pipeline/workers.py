"""Run independent jobs of the orchestrator in worker processes: subjects of a baseline, baselines of the demo.

Every job runs with one BLAS thread (here and in the workers), and the torch baselines with
one torch thread, so a job's result is the same bytes in a worker as in this process,
whatever the core count (tested: with the BLAS's own thread count, pca-ridge's bytes
changed). The workers are joblib's loky processes; each exits when this process dies
(:func:`fmri_bench.prepare.parallel.exit_with_parent`).

They start with glibc's malloc told to keep freed memory (:data:`MALLOC_TUNABLES`, unless
``GLIBC_TUNABLES`` is set): torch and numpy allocate and free large buffers at every step,
and by default glibc hands them back to the kernel each time, so every new buffer is paid
again in page faults. Measured on the demo (2 cores): 46 million minor page faults and
119 s of system time without, 2.3 million and 23 s with (wall 360 -> 306 s); the
submissions are the same bytes. The cost is that a worker's memory stays at its peak.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fmri_bench.prepare.parallel import effective_jobs, exit_with_parent

#: glibc malloc settings of the workers: never give freed memory back, never mmap a buffer.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=2147483647"


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """``GLIBC_TUNABLES`` set while workers start (they copy this process's environment), then restored."""
    if "GLIBC_TUNABLES" in os.environ:
        yield
        return
    os.environ["GLIBC_TUNABLES"] = MALLOC_TUNABLES
    try:
        yield
    finally:
        os.environ.pop("GLIBC_TUNABLES", None)


def one_blas_thread(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` with one BLAS thread: the same bytes on any core count and in any worker.

    Parameters
    ----------
    function : callable
    *args
        Its arguments.

    Returns
    -------
    object
        What ``function`` returns.
    """
    from fmri_bench.threads import single_blas_thread

    with single_blas_thread():
        return function(*args)


def map_in_workers(function: Callable[..., Any], jobs: Sequence[tuple], n_jobs: int) -> list[Any]:
    """``function(*job)`` for every job, results in job order: here, or in up to ``n_jobs`` loky workers.

    Jobs are handed out in order to whichever worker is free, so put the longest first.

    Parameters
    ----------
    function : callable
        A module-level function (it is pickled to the workers).
    jobs : sequence of tuple
        The arguments of each call.
    n_jobs : int
        Workers (capped at the CPU count and the number of jobs; negative counts back from the CPUs).

    Returns
    -------
    list
        One result per job.
    """
    workers = min(effective_jobs(n_jobs), len(jobs))
    if workers <= 1:
        return [one_blas_thread(function, *job) for job in jobs]
    from joblib import Parallel, delayed

    with warnings.catch_warnings(), _worker_environment():
        # loky restarts a worker whose memory grew by 300 MB (the torch baselines' caches) and
        # warns that "a worker stopped"; the job's result was returned, nothing is lost.
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)
        with Parallel(n_jobs=workers, backend="loky", initializer=exit_with_parent, initargs=(os.getpid(),)) as par:
            return par(delayed(one_blas_thread)(function, *job) for job in jobs)
