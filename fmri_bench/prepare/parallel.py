"""Where the per-run work runs: in this process, in joblib workers, or on a Dask cluster.

``n_jobs`` is capped at the machine's CPU count (a thousand workers would only use memory).
joblib's loky workers outlive a killed parent (measured: still running 30 s after a SIGKILL
or SIGTERM of ``fmri-bench prepare``), so each worker watches its parent and exits when it is
gone: a killed prepare leaves no worker behind (``tests/test_prepare_safety.py`` kills one). With ``backend="dask"`` the runs are
submitted to a ``dask.distributed`` scheduler: ``scheduler`` (an address such as
``tcp://10.0.0.5:8786``) or, without one, a ``LocalCluster`` of ``n_jobs`` single-threaded
worker processes on the loopback, closed at the end. The workers read the BIDS files by
their paths: on a cluster, every worker must see the same file system.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator

from fmri_bench.errors import FmriBenchError
from fmri_bench.prepare.extract import RunResult, RunTask, process_run
from fmri_bench.progress import get_logger, track
from fmri_bench.threads import worker_environment

log = get_logger(__name__)
Runner = Callable[[list[RunTask], str], list[RunResult]]


def effective_jobs(n_jobs: int) -> int:
    """``n_jobs`` as a number of workers: negative counts back from the CPU count (joblib's rule); capped at it.

    Parameters
    ----------
    n_jobs : int
        Requested workers (not 0).

    Returns
    -------
    int
        Between 1 and the CPU count.
    """
    cpus = os.cpu_count() or 1
    if n_jobs == 0:
        raise FmriBenchError("--n-jobs must be a positive number, or negative to count back from all cores")
    wanted = n_jobs if n_jobs > 0 else cpus + 1 + n_jobs
    if wanted > cpus:
        log.warning("--n-jobs %d is more than the %d CPUs here: using %d", n_jobs, cpus, cpus)
    return max(1, min(wanted, cpus))


def check_backend(backend: str | None, scheduler: str | None = None) -> None:
    """Refuse an unknown backend, dask without dask.distributed, or a scheduler without dask, before any work.

    Parameters
    ----------
    backend : str or None
        ``loky``, ``threading``, ``multiprocessing`` (joblib) or ``dask``.
    scheduler : str or None
        A Dask scheduler address (only with ``dask``).
    """
    if scheduler is not None and backend != "dask":
        raise FmriBenchError("--scheduler needs --backend dask")
    if backend is None:
        return
    from joblib.parallel import BACKENDS

    known = sorted({*BACKENDS, "dask"} - {"sequential"})
    if backend not in known:
        raise FmriBenchError(f"unknown backend {backend!r}; expected one of: {', '.join(known)}")
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise FmriBenchError(
                "--backend dask needs dask.distributed: pip install 'fmri-bench[dask]' (or dask[distributed])"
            ) from None


@contextlib.contextmanager
def runner(n_jobs: int, backend: str | None, scheduler: str | None = None) -> Iterator[Runner]:
    """Yield a function that runs :func:`~fmri_bench.prepare.extract.process_run` on tasks, results in task order.

    Parameters
    ----------
    n_jobs : int
        Workers (capped at the CPU count; for ``dask`` without ``scheduler``, the local cluster's size).
    backend : str or None
        None (in this process when ``n_jobs`` is 1, else loky), a joblib backend, or ``dask``.
    scheduler : str or None
        A Dask scheduler address; None starts a ``LocalCluster``.

    Yields
    ------
    callable
        ``run(tasks, description) -> list of RunResult``.
    """
    check_backend(backend, scheduler)
    jobs = effective_jobs(n_jobs)
    if backend == "dask":
        with _dask_client(jobs, scheduler) as client:
            yield lambda tasks, description: _run_dask(client, tasks, description)
        return
    if jobs == 1 and backend is None:
        yield lambda tasks, description: [process_run(t) for t in track(tasks, description)]
        return
    from joblib import Parallel, delayed

    extra = {"initializer": exit_with_parent, "initargs": (os.getpid(),)} if backend in (None, "loky") else {}
    with worker_environment(), Parallel(n_jobs=jobs, backend=backend, return_as="generator", **extra) as parallel:
        yield lambda tasks, description: list(
            track(parallel(delayed(process_run)(t) for t in tasks), description, total=len(tasks))
        )


def exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """In a worker process: start a daemon thread that ends the process once ``parent`` is gone.

    Parameters
    ----------
    parent : int
        The pid of the process that started the worker.
    every_s : float
        How often to look.
    """

    adopter = os.getppid()  # the worker's parent now; a change means it was re-parented

    def watch() -> None:
        while True:
            try:
                os.kill(parent, 0)  # signal 0: only asks whether the process exists
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # a pid taken over by another user's process: ours is gone
                os._exit(1)
            if os.getppid() != adopter:  # re-parented (to init or a subreaper): the parent died
                os._exit(1)
            time.sleep(every_s)

    threading.Thread(target=watch, name="fmri-bench-parent-watch", daemon=True).start()


@contextlib.contextmanager
def _dask_client(jobs: int, scheduler: str | None) -> Iterator[object]:
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise FmriBenchError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        log.info("running on the Dask cluster at %s", scheduler)
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    log.info("running on a local Dask cluster of %d workers (%s)", jobs, cluster.scheduler_address)
    with cluster, Client(cluster) as client:
        yield client


def _run_dask(client, tasks: list[RunTask], description: str) -> list[RunResult]:
    from distributed import as_completed

    futures = client.map(process_run, tasks, pure=False)
    position = {future.key: k for k, future in enumerate(futures)}
    results: list[RunResult | None] = [None] * len(tasks)
    try:
        for future in track(as_completed(futures), description, total=len(tasks)):
            results[position[future.key]] = future.result()  # re-raises a worker's DataError here
    finally:
        client.cancel(futures)
    return results  # type: ignore[return-value]
