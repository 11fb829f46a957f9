"""The ``poolscan`` command line: parse, call the library, format. No scanning logic lives here.

Each command group is a module of this package (``probe``, ``scan``, ``sweep``, ``lab``, ``export`` ...)
that registers itself on :data:`cli`. Exit codes: 0 ran (whatever it found), 1 the run failed,
2 bad input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import importlib
import sys

import click

from scanner import __version__
from scanner.errors import PoolscanError

# Modules that add commands to the group; a missing one (feature not installed yet) is skipped.
COMMAND_MODULES = ("probe", "scan", "sweep", "lab", "classify", "export", "campaign", "db")  # classify adds unknowns


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             invoke_without_command=True)
@click.version_option(__version__, prog_name="poolscan")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Find cryptocurrency mining pools by scanning for them.

    \b
    Stages: sweep (open ports) -> probe (real pool handshakes) -> classify (fingerprints)
            -> enrich -> store (SQLite) -> export (IOCs).
    \b
    Ad hoc:   poolscan probe HOST[:PORT]            (e.g. the lab: poolscan probe 127.0.0.1:3333)
    Scan:     poolscan scan --targets CIDR|FILE --ports pool
    Nightly:  poolscan campaign run campaigns/example.toml
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


#: The module that defines each command, for :func:`_load_commands` (the word after ``poolscan``).
COMMAND_OF = {"probe": "probe", "scan": "scan", "sweep": "sweep", "lab": "lab", "classify": "classify",
              "unknowns": "classify", "export": "export", "campaign": "campaign", "db": "db"}


def _load_commands(argv: list[str] | None = None) -> None:
    """Import the command modules: only the invoked command's module when ``argv`` starts with a command
    name (``poolscan classify ...`` imports ``scanner.cli.classify``, not the scan pipeline, asyncio, rich and
    the exporters: start-up of ``poolscan classify --db`` 0.33 -> 0.23 s, 2 cores, 2026-11-29), every module
    otherwise (top-level ``--help``, ``--version``, an unknown command: click lists or suggests the
    commands, so the output is unchanged)."""
    first = argv[0] if argv else None
    names = [COMMAND_OF[first]] if first in COMMAND_OF else COMMAND_MODULES
    for name in names:
        try:
            importlib.import_module(f"scanner.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"scanner.cli.{name}":
                raise


def fail(message: str, code: int = 2) -> "click.exceptions.Exit":
    """Print one error line to stderr and return an Exit to raise (``raise fail(...)``)."""
    click.echo(f"poolscan: error: {message}", err=True)
    return click.exceptions.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``poolscan`` script. Maps poolscan errors to one line and an exit code."""
    _load_commands(sys.argv[1:] if argv is None else argv)
    try:
        # Outside standalone mode click returns (rather than raises) the code of click.exceptions.Exit.
        rc = cli.main(args=argv, prog_name="poolscan", standalone_mode=False)
    except PoolscanError as exc:
        click.echo(f"poolscan: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        # Bad flags or arguments: one line, exit 2 (click's own usage errors).
        click.echo(f"poolscan: error: {exc.format_message()}", err=True)
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Abort:
        click.echo("poolscan: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("poolscan: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rc if isinstance(rc, int) else 0)
