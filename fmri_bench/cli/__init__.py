"""The ``fmri-bench`` command line.

Each area registers its commands on the shared typer app from its own module here
(``simulate``, ``data``, ``score``, ``baselines``, ``demo``). ``main`` turns every
:class:`~fmri_bench.errors.FmriBenchError` into one line on stderr and its exit code;
``--verbose`` (anywhere on the command line) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("--verbose", "-v") for a in args)
    args = [a for a in args if a not in ("--verbose", "-v")]
    from fmri_bench.progress import configure_cli_output

    configure_cli_output(verbose)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="fmri-bench", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # usage errors: typer's own short message
        show = getattr(exc, "show", None)
        show() if show else _error(exc.format_message())
        code = exc.exit_code
    except typer.Abort:
        _error("interrupted")
        code = 130
    except FmriBenchError as exc:
        if verbose:
            traceback.print_exc()
        _error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        code = 130
    except Exception as exc:  # an unexpected failure: still one line unless --verbose
        if verbose:
            traceback.print_exc()
        _error(f"{type(exc).__name__}: {exc} (run again with --verbose for the traceback)")
        code = 1
    if argv is None:
        sys.exit(code)
    return code
