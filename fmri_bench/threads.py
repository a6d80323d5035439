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
