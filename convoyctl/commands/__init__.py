"""The commands, one module per resource; each registers its subcommands on the parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from convoyctl.context import Context

__all__ = ["Run", "Subcommands", "leaf", "group"]

Run = Callable[[Context, argparse.Namespace], int]
Subcommands = argparse._SubParsersAction  # the type add_subparsers() returns


def leaf(
    commands: Subcommands, name: str, common: argparse.ArgumentParser, run: Run, summary: str
) -> argparse.ArgumentParser:
    """A command that does something: it takes the options every command takes (`-o`) and its runner."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, parents=[common], help=summary, description=summary
    )
    parser.set_defaults(run=run)
    return parser


def group(commands: Subcommands, name: str, summary: str) -> Subcommands:
    """A resource whose commands follow its name (`convoyctl groups create …`)."""
    parser = commands.add_parser(name, help=summary, description=summary)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")
