"""The command line: global options, the commands, and each failure turned into its exit code."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import TextIO

from rich.text import Text

from convoyctl import __version__
from convoyctl.commands import catalog, deployments, inventory, session
from convoyctl.context import Context
from convoyctl.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, CliError, Interrupted
from convoyctl.output import FORMATS, make_console

__all__ = ["build_parser", "run"]

# CONVOY_DEBUG values that turn --debug on.
_TRUE = frozenset({"1", "true", "yes", "on"})
# An exception's text can be long (a whole response body): the line keeps its start.
_MAX_DETAIL = 300

EPILOG = """\
exit codes: 0 done (a watched deployment succeeded); 1 the deployment failed or was cancelled, or paused
with failed nodes; 2 usage error (also the server's 400); 3 not logged in, session over, wrong password or
not allowed; 4 not found; 5 conflict or another refusal; 6 server unavailable or unreachable; 70 internal
error (a bug, or an answer convoyctl does not understand); 130 Ctrl-C.

environment: CONVOY_SERVER (the server's URL), CONVOY_CA_FILE (its CA), CONVOY_DEBUG=1 (as --debug),
XDG_CONFIG_HOME (where convoy/credentials.json is kept).
"""


def _output_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        default=default if default is not None else argparse.SUPPRESS,
        help="table for people (default), json for scripts: the API's objects, nothing else on stdout",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convoyctl",
        description="Deploy software to Convoy's servers and follow it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"convoyctl {__version__}")
    parser.add_argument(
        "--server", dest="server_url", metavar="URL", help="the Convoy server (CONVOY_SERVER)"
    )
    parser.add_argument(
        "--ca-file", metavar="FILE", help="CA certificate(s) to trust for it (CONVOY_CA_FILE)"
    )
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify its certificate (never on a real network)"
    )
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an internal error (CONVOY_DEBUG=1)"
    )
    _output_option(parser, "table")
    # -o is taken after the command too (`convoyctl servers list -o json`) without overriding one before it.
    common = argparse.ArgumentParser(add_help=False)
    _output_option(common, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (session, inventory, catalog, deployments):
        module.register(commands, common)
    return parser


def run(
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] = os.environ,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    """Runs one command; its exit code (argparse's own 2 for a bad command line)."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _run(args, environ, stdin, stdout, stderr)
    except Exception as exc:  # noqa: BLE001 - a crash must end in its own code, not in 1 ("deployment failed")
        debug = args.debug or environ.get("CONVOY_DEBUG", "").lower() in _TRUE
        return _internal_error(exc, stderr, debug=debug)


def _run(
    args: argparse.Namespace, environ: Mapping[str, str], stdin: TextIO, stdout: TextIO, stderr: TextIO
) -> int:
    """The command, with each expected failure turned into its message and exit code."""
    ctx = Context(args, environ, stdin, stdout, stderr)
    try:
        return int(args.run(ctx, args))
    except Interrupted as exc:
        ctx.printer.err.print(exc.message)
        return exc.exit_code
    except CliError as exc:
        ctx.printer.error(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        ctx.printer.err.print("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): what it wanted it has; the rest is not worth an error.
        _quiet_stdout(stdout)
        return EXIT_OK
    finally:
        ctx.close()


def _internal_error(exc: Exception, stderr: TextIO, *, debug: bool) -> int:
    """One line saying what broke (the traceback too when debugging); EXIT_INTERNAL."""
    if debug:
        traceback.print_exception(exc, file=stderr)
    what = " ".join(f"{type(exc).__name__}: {exc}".split())[:_MAX_DETAIL]
    hint = "" if debug else "; --debug or CONVOY_DEBUG=1 shows the traceback"
    make_console(stderr).print(Text(f"error: internal error ({what}){hint}", style="red"))
    return EXIT_INTERNAL


def _quiet_stdout(stdout: TextIO) -> None:
    """Points stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
    except (OSError, ValueError):
        pass
