"""The ``fmri-bench`` command line.

Each area registers its commands on the shared typer app from its own module here
(``simulate``, ``data``, ``score``, ``baselines``, ``demo``). ``main`` turns every
:class:`~fmri_bench.errors.FmriBenchError` into one line on stderr and its exit code;
``--verbose`` (anywhere on the command line) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import signal
import sys
import threading
import traceback

import typer

from fmri_bench.cli._app import app
from fmri_bench.errors import FmriBenchError

_COMMAND_MODULES = ("simulate", "data", "score", "compare", "baselines", "demo", "info")


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        module = f"fmri_bench.cli.{name}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


_load_commands()


def _error(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


class Interrupted(BaseException):
    """Ctrl-C, raised by our SIGINT handler.

    Not a KeyboardInterrupt: typer 0.29 swallows those and returns 130 without a word, and
    not an Exception, so that no ``except Exception`` on the way turns it into another
    error. Context managers still clean up (atomic writes remove their temporary files).
    """


def _on_sigint(signum: int, frame: object) -> None:
    raise Interrupted()


def _run(command: typer.core.TyperGroup, args: list[str], verbose: bool) -> int:
    try:
        result = command.main(args=args, prog_name="fmri-bench", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # usage errors: typer's own short message
        show = getattr(exc, "show", None)
        show() if show else _error(exc.format_message())
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt, Interrupted):
        code = 130
    except FmriBenchError as exc:
        if verbose:
            traceback.print_exc()
        _error(str(exc))
        code = exc.exit_code
    except Exception as exc:  # an unexpected failure: still one line unless --verbose
        if verbose:
            traceback.print_exc()
        _error(f"{type(exc).__name__}: {exc} (run again with --verbose for the traceback)")
        code = 1
    if code == 130:  # also what typer returns when a KeyboardInterrupt reached it
        _error("interrupted")
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``); ``--verbose`` anywhere shows tracebacks.

    Returns
    -------
    int
        The exit code: 0, 1 (an error the user can fix), 2 (a bad submission or usage), 130 (Ctrl-C).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("--verbose", "-v") for a in args)
    args = [a for a in args if a not in ("--verbose", "-v")]
    from fmri_bench.progress import configure_cli_output

    configure_cli_output(verbose)
    command = typer.main.get_command(app)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _on_sigint) if main_thread else None
    try:
        code = _run(command, args, verbose)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    if argv is None:
        sys.exit(code)
    return code
