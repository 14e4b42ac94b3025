"""The `golden` command: one thin function per command, errors for people.

Exit codes: 0 success, 2 bad input, 3 host problem, 4 failed or hung install.
Errors print `error:` and `hint:` lines; tracebacks only with --debug.
"""

from __future__ import annotations

import os
import sys

import typer

from builder import __version__
from builder.errors import EXIT_HOST, EXIT_INPUT, GoldenError

app = typer.Typer(
    name="golden",
    help="Build virtual-machine golden images from declarative OS profiles.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool):
    if value:
        typer.echo(f"golden {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logging."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
):
    if debug:
        os.environ["GOLDEN_DEBUG"] = "1"
    _reap_leftovers()


def _reap_leftovers() -> None:
    """Undo what a killed golden run left before this command starts; a failed reap never fails the command."""
    import logging
    from builder import owners
    try:
        owners.reap(on_event=lambda msg: typer.echo(msg, err=True))
    except Exception as exc:
        logging.getLogger("golden.owners").warning("reaping leftovers of interrupted golden runs failed: %s", exc)


def _register() -> None:
    # Importing the command modules attaches their commands to `app`.
    from builder.cli import profiles  # noqa: F401
    for module in ("host", "install", "media", "network", "image", "windows", "pipeline", "report", "diagnose",
                   "ship", "storage", "migrate"):
        try:
            __import__(f"builder.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"builder.cli.{module}":
                raise


def print_error(exc: GoldenError) -> None:
    lines = exc.lines() if hasattr(exc, "lines") else [str(exc)]
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    if exc.hint:
        typer.echo(f"hint: {exc.hint}", err=True)


def main(argv: list[str] | None = None) -> None:
    _register()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("GOLDEN_DEBUG") == "1"
    command = typer.main.get_command(app)
    try:
        # Without standalone mode, click returns the code a command exits with.
        rc = command.main(args=args, prog_name="golden", standalone_mode=False)
    except GoldenError as exc:
        if debug:
            import traceback
            traceback.print_exc()
        print_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(getattr(exc, "exit_code", getattr(exc, "code", 1)))
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        # Usage errors from Typer's click know how to show themselves.
        if hasattr(exc, "show") and hasattr(exc, "exit_code") and not debug:
            exc.show()
            sys.exit(EXIT_INPUT)
        if isinstance(exc, PermissionError) and not debug:
            typer.echo(f"error: permission denied: {exc.filename or exc}", err=True)
            typer.echo("hint: run golden as root or fix the path's permissions", err=True)
            sys.exit(EXIT_HOST)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)
