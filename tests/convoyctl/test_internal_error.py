"""An answer convoyctl does not understand is an internal error (exit 70) in one line, never a traceback that
ends in 1, the code of a failed deployment; --debug or CONVOY_DEBUG=1 adds the traceback."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from convoyctl.cli import run
from convoyctl.credentials import CredentialStore, Session
from convoyctl.errors import EXIT_DEPLOYMENT_FAILED, EXIT_INTERNAL
from tests.convoyctl.scripted import Request, ScriptedGateway


def convoyctl(
    config_home: Path, *argv: str, env: Mapping[str, str] | None = None, stdin: str = ""
) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    environ = {"XDG_CONFIG_HOME": str(config_home), **(env or {})}
    code = run(argv, environ=environ, stdin=io.StringIO(stdin), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_a_login_answer_of_another_shape_is_an_internal_error(
    gateway: ScriptedGateway, config_home: Path, store: CredentialStore
) -> None:
    @gateway.route("POST", "/api/v1/auth/login")
    def changed(request: Request) -> None:
        request.reply(200, {"token": "a body of another version"})

    argv = ("login", "--server", gateway.url, "-u", "alice", "--password-stdin")
    code, stdout, stderr = convoyctl(config_home, *argv, stdin="pw\n")
    assert code == EXIT_INTERNAL == 70 != EXIT_DEPLOYMENT_FAILED
    assert stdout == ""
    [line] = stderr.splitlines()
    assert line.startswith("error: internal error (KeyError: ") and "CONVOY_DEBUG=1" in line, stderr
    assert store.current_server() is None, "nothing half-understood is saved"


@pytest.mark.parametrize(
    ("argv", "env", "traced"),
    [
        ((), {}, False),
        ((), {"CONVOY_DEBUG": "0"}, False),
        (("--debug",), {}, True),
        ((), {"CONVOY_DEBUG": "1"}, True),
    ],
)
def test_the_traceback_is_shown_only_when_debugging(
    gateway: ScriptedGateway,
    config_home: Path,
    logged_in: Callable[..., Session],
    argv: tuple[str, ...],
    env: dict[str, str],
    traced: bool,
) -> None:
    logged_in(gateway.url)

    @gateway.route("GET", "/api/v1/groups")
    def not_a_page(request: Request) -> None:
        request.reply(200, {"items": 5, "next_page_token": ""})

    code, _, stderr = convoyctl(config_home, *argv, "groups", "list", env=env)
    assert code == EXIT_INTERNAL
    assert ("Traceback (most recent call last)" in stderr) is traced, stderr
    assert stderr.splitlines()[-1].startswith("error: internal error ("), stderr
    assert len(stderr.splitlines()) > 1 if traced else len(stderr.splitlines()) == 1, stderr
