"""Output a script can parse: with -o json, stdout holds exactly one JSON document (the API's objects
unchanged) and everything else goes to stderr; tables show each value readably."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

from convoyctl.cli import run
from convoyctl.credentials import Session
from convoyctl.output import Column, Printer, field, show
from tests.convoyctl.scripted import Request, ScriptedGateway

SERVER = {
    "id": "0b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "hostname": "web-01",
    "ip_address": "10.0.0.11",
    "category": None,
    "labels": {"env": "prod", "zone": "东区"},
    "os": {"pretty_name": "Debian GNU/Linux 12", "package_family": "deb"},
    "status": "online",
    "group_ids": [],
}


def test_json_mode_prints_one_document_and_notes_go_to_stderr() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    printer = Printer("json", stdout, stderr)
    printer.note("created")
    printer.items([SERVER], [Column("HOSTNAME", field("hostname"))])
    printer.warn("careful")
    assert json.loads(stdout.getvalue()) == [SERVER]
    assert "东区" in stdout.getvalue(), "text is written as it is, not escaped"
    assert stderr.getvalue() == "created\nwarning: careful\n"


def test_table_mode_shows_values_readably() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    printer = Printer("table", stdout, stderr)
    printer.items([SERVER], [Column("HOSTNAME", field("hostname")), Column("LABELS", field("labels"))])
    printer.record(SERVER, [Column("os", field("os", "pretty_name")), Column("category", field("category"))])
    lines = stdout.getvalue().splitlines()
    assert lines[0].split() == ["HOSTNAME", "LABELS"]
    assert lines[2].split() == ["web-01", "env=prod,zone=东区"]
    assert lines[3].split() == ["os", "Debian", "GNU/Linux", "12"]
    assert lines[4].split() == ["category", "-"]
    assert stderr.getvalue() == ""


def test_show() -> None:
    assert [show(v) for v in (None, "", True, False, [1, "a"], {"k": "v"}, 0)] == [
        "-",
        "-",
        "yes",
        "no",
        "1, a",
        "k=v",
        "0",
    ]


def test_server_text_is_not_taken_for_markup() -> None:
    stdout = io.StringIO()
    Printer("table", stdout, io.StringIO()).note("[bold]dpkg[/bold] said [red]no")
    assert stdout.getvalue() == "[bold]dpkg[/bold] said [red]no\n"


def test_a_command_in_json_mode_prints_exactly_the_api_object(
    gateway: ScriptedGateway, config_home: Path, logged_in: Callable[..., Session]
) -> None:
    logged_in(gateway.url)

    @gateway.route("GET", f"/api/v1/servers/{SERVER['id']}")
    def get(request: Request) -> None:
        request.reply(200, SERVER)

    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["servers", "get", str(SERVER["id"]), "-o", "json"]
    assert run(argv, environ={"XDG_CONFIG_HOME": str(config_home)}, stdout=stdout, stderr=stderr) == 0
    assert json.loads(stdout.getvalue()) == SERVER
    assert stderr.getvalue() == ""
