"""One BLAS thread for small matrix work, without losing a Ctrl-C.

threadpoolctl finds the BLAS libraries with ``dl_iterate_phdr`` and a ctypes callback, on
every ``threadpool_limits(...)``; an exception that a signal handler raises inside a ctypes
callback is printed and swallowed ("Exception ignored on calling ctypes callback"), so a
Ctrl-C that landed there was lost and the run went on (seen once in the test suite: the
demo kept simulating and preparing). Here the libraries are found once per process, with a
Ctrl-C during the search noted and raised again right after it, and every later limit
reuses that controller.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

_controller: Any = None
_lock = threading.Lock()


def _find_libraries() -> Any:
    import numpy  # noqa: F401  the BLAS libraries to find are loaded first: numpy's and scipy's own
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    if threading.current_thread() is not threading.main_thread():
        return ThreadpoolController()  # Python runs signal handlers on the main thread only
    # Masking SIGINT would not do: the kernel hands a process's signal to any thread that does
    # not mask it, and the handler still runs on the main thread, inside the callback. So the
    # handler itself is swapped for one that only notes the signal, then re-raised after.
    noted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        return ThreadpoolController()
    finally:
        signal.signal(signal.SIGINT, previous)
        if noted:
            signal.raise_signal(signal.SIGINT)


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (threadpoolctl), restoring it after.

    Used where the matrices are small (per-run GLMs, the simulator's products), where BLAS
    threads only spin and contend, and where a fixed summation order keeps bytes identical.

    Yields
    ------
    None
    """
    global _controller
    with _lock:
        if _controller is None:
            _controller = _find_libraries()
    with _controller.limit(limits=1, user_api="blas"):
        yield


#: glibc malloc settings of the workers: never give freed memory back, never mmap a buffer.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=2147483647"


@contextlib.contextmanager
def worker_environment() -> Iterator[None]:
    """``GLIBC_TUNABLES`` set to :data:`MALLOC_TUNABLES` while worker processes start, then restored.

    Worker processes copy this process's environment when they start. torch and numpy
    allocate and free large buffers at every step, and by default glibc hands them back to
    the kernel each time, so every new buffer is paid again in page faults. Measured on the
    demo (2 cores, every process with these settings): 46 million minor page faults and
    119 s of system time without, 2.3 million and 23 s with (wall 360 -> 306 s); the
    submissions are the same bytes. The cost: a worker's memory stays at its peak. A
    ``GLIBC_TUNABLES`` already set is left as it is.

    Yields
    ------
    None
    """
    if "GLIBC_TUNABLES" in os.environ:
        yield
        return
    os.environ["GLIBC_TUNABLES"] = MALLOC_TUNABLES
    try:
        yield
    finally:
        os.environ.pop("GLIBC_TUNABLES", None)


@contextlib.contextmanager
def one_cpu_thread() -> Iterator[None]:
    """torch and BLAS on one CPU thread inside the block, restoring both after.

    Scoring runs under it: torch's resizes and convolutions and BLAS split their sums by
    thread, so the same submission scored with 1 or 2 threads differed by up to 2e-6 (SSIM)
    per image, and the recorded six-decimal scores changed with the core count and the
    number of workers. The cost, measured on 2 cores for a process scoring one subject's 50
    images (PixCorr, SSIM, feature MSE; imports included): 11.8-12.7 s wall / 10.6-11.2 s
    CPU with one thread, 10.2-12.5 s / 11.1-13.6 s with two. On a many-core machine the
    large backbones (CLIP ViT-L/14, Inception v3) lose their threads.

    Yields
    ------
    None
    """
    with torch_cpu_threads(1), single_blas_thread():
        yield


@contextlib.contextmanager
def torch_cpu_threads(threads: int) -> Iterator[None]:
    """torch on ``threads`` CPU threads inside the block, restoring the setting after.

    Parameters
    ----------
    threads : int
        CPU threads for torch's intra-op work.

    Yields
    ------
    None
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
