"""torch helpers of the baselines: device choice, local seeding, CPU threads.

Seeding never leaks: :func:`torch_seeded` forks torch's global generator, seeds the fork,
asks for deterministic kernels, and gives the caller its generator state and flags back.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from fmri_bench.errors import FmriBenchError
from fmri_bench.threads import torch_cpu_threads

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; refuse ``cuda`` without a GPU.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        The requested device.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda"``.
    """
    if device not in DEVICES:
        raise FmriBenchError(f"unknown device {device!r}; expected auto, cpu or cuda")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise FmriBenchError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    return device


@contextlib.contextmanager
def torch_seeded(seed: int, device: str = "cpu") -> Iterator[None]:
    """Run the block with torch's generators seeded by ``seed`` and deterministic kernels.

    The global generators (CPU, and CUDA when used) and the deterministic-algorithms
    flags are restored afterwards, so the caller's random state is untouched.

    Parameters
    ----------
    seed : int
        The seed.
    device : str
        ``"cpu"`` or ``"cuda"`` (on CUDA the current device's generator is saved too, and
        ``CUBLAS_WORKSPACE_CONFIG`` is set if unset; it stays set afterwards).

    Yields
    ------
    None
        While the seeded, deterministic state is in force.
    """
    import torch

    flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])


@contextlib.contextmanager
def torch_threads(device: str, threads: int = 1) -> Iterator[None]:
    """Run torch on ``threads`` CPU threads (on the CPU device), then restore the setting.

    The baselines' networks are small: their ops are too short to gain from OpenMP, and two
    threads on a busy 2-core machine were measured 5-10x slower than one (spin-waiting).
    One thread also keeps the float reductions in one order (same bytes for a seed).

    Parameters
    ----------
    device : str
        ``"cpu"`` or ``"cuda"`` (nothing changes on CUDA).
    threads : int
        CPU threads to use; 0 or less leaves the setting alone.

    Yields
    ------
    None
        While the thread count is in force.
    """
    if device != "cpu" or threads <= 0:
        yield
        return
    with torch_cpu_threads(threads):
        yield
