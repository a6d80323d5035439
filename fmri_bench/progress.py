"""Logging and progress bars: library code reports, the caller decides what is shown.

Library functions never print. They log to the ``fmri_bench`` logger (silent unless the
caller configures logging, as the CLI does with :func:`configure_cli_output`) and show
progress bars only when progress was switched on with :func:`enable_progress` (the CLI
does; a notebook may) and ``FMRI_BENCH_NO_PROGRESS`` is not set.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

#: The package logger; every module logs through a child of it.
logger = logging.getLogger("fmri_bench")
logger.addHandler(logging.NullHandler())

console = Console(stderr=True)
_PROGRESS = {"enabled": False}


def get_logger(name: str) -> logging.Logger:
    """Return the logger of module ``name`` (a child of ``fmri_bench``).

    Parameters
    ----------
    name : str
        Usually ``__name__``.

    Returns
    -------
    logging.Logger
    """
    return logging.getLogger(name if name.startswith("fmri_bench") else f"fmri_bench.{name}")


def enable_progress(enabled: bool = True) -> None:
    """Show (or hide) progress bars of long steps, on stderr.

    Parameters
    ----------
    enabled : bool
        True to show them. ``FMRI_BENCH_NO_PROGRESS`` set in the environment hides them anyway.
    """
    _PROGRESS["enabled"] = bool(enabled)


def progress_enabled() -> bool:
    """Return True when progress bars are shown (see :func:`enable_progress`).

    Returns
    -------
    bool
        Progress was enabled and ``FMRI_BENCH_NO_PROGRESS`` is unset or empty.
    """
    return _PROGRESS["enabled"] and not os.environ.get("FMRI_BENCH_NO_PROGRESS")


def configure_cli_output(verbose: bool = False) -> None:
    """What the command line shows: progress bars, and INFO log lines on stderr.

    Parameters
    ----------
    verbose : bool
        Also show DEBUG lines.
    """
    from rich.logging import RichHandler

    enable_progress(True)
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        handler = RichHandler(console=console, show_time=False, show_path=False, show_level=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def make_progress() -> Progress:
    """Return a rich Progress on stderr, with elapsed and remaining time (disabled unless enabled).

    Returns
    -------
    rich.progress.Progress
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=not sys.stderr.isatty(),
        disable=not progress_enabled(),
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` while showing a progress bar (when progress is enabled).

    Parameters
    ----------
    items : iterable
        What to iterate over.
    description : str
        The bar's label.
    total : int, optional
        Number of items (default: ``len(items)`` when it has one).

    Yields
    ------
    object
        The items of ``items``.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress() as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)
