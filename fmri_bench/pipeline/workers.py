"""Run independent jobs of the orchestrator in worker processes: subjects of a baseline, baselines of the demo.

Every job runs with one BLAS thread (here and in the workers), and the torch baselines with
one torch thread, so a job's result is the same bytes in a worker as in this process,
whatever the core count (tested: with the BLAS's own thread count, pca-ridge's bytes
changed). The workers are joblib's loky processes; each exits when this process dies
(:func:`fmri_bench.prepare.parallel.exit_with_parent`).

They start with glibc's malloc told to keep freed memory
(:func:`fmri_bench.threads.worker_environment`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from fmri_bench.prepare.parallel import effective_jobs, exit_with_parent
from fmri_bench.threads import worker_environment


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

    with warnings.catch_warnings(), worker_environment():
        # loky restarts a worker whose memory grew by 300 MB (the torch baselines' caches) and
        # warns that "a worker stopped"; the job's result was returned, nothing is lost.
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)
        with Parallel(n_jobs=workers, backend="loky", initializer=exit_with_parent, initargs=(os.getpid(),)) as par:
            return par(delayed(one_blas_thread)(function, *job) for job in jobs)
