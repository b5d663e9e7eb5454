"""What commands print: the API's own objects as one JSON document (`-o json`), or tables for people.
Results go to stdout; notes go to stdout for tables and to stderr with JSON, so stdout stays parseable."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["FORMATS", "Column", "Printer", "field", "show", "make_console"]

FORMATS = ("table", "json")
# Wide enough that a table piped to a file or to grep is not folded at 80 columns.
PIPE_WIDTH = 400


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[dict[str, Any]], Any]


def field(*path: str) -> Callable[[dict[str, Any]], Any]:
    """A getter of a nested field; None when any step is missing."""

    def get(item: dict[str, Any]) -> Any:
        value: Any = item
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        return value

    return get


def show(value: Any) -> str:
    """A value as a table cell: "-" for nothing, yes/no, lists joined, maps as k=v."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(show(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key}={show(item)}" for key, item in value.items())
    return str(value)


def make_console(stream: TextIO) -> Console:
    """A console that prints text as given (no markup or highlighting of server-sent words)."""
    interactive = stream.isatty()
    return Console(
        file=stream,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=not interactive,
        width=None if interactive else PIPE_WIDTH,
    )


class Printer:
    def __init__(self, fmt: str, stdout: TextIO, stderr: TextIO) -> None:
        self.json = fmt == "json"
        self.stdout, self.stderr = stdout, stderr
        self.out, self.err = make_console(stdout), make_console(stderr)

    @property
    def notes(self) -> Console:
        """Where progress and notes go: beside a table, or out of the way of a JSON document."""
        return self.err if self.json else self.out

    def document(self, value: Any) -> None:
        json.dump(value, self.stdout, indent=2, ensure_ascii=False)
        self.stdout.write("\n")
        self.stdout.flush()

    def items(self, items: Sequence[dict[str, Any]], columns: Sequence[Column]) -> None:
        """A list: a JSON array of the API's items, or a table."""
        if self.json:
            self.document(list(items))
            return
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for column in columns:
            table.add_column(column.header, overflow="fold")
        for item in items:
            table.add_row(*(show(column.value(item)) for column in columns))
        self.out.print(table)

    def record(self, item: dict[str, Any], fields: Iterable[Column]) -> None:
        """One object: the API's JSON, or one line per field."""
        if self.json:
            self.document(item)
            return
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for column in fields:
            table.add_row(column.header, show(column.value(item)))
        self.out.print(table)

    def note(self, text: str, style: str = "") -> None:
        self.notes.print(Text(text, style=style))

    def warn(self, text: str) -> None:
        self.err.print(Text(f"warning: {text}", style="yellow"))

    def error(self, text: str) -> None:
        self.err.print(Text(f"error: {text}", style="red"))
