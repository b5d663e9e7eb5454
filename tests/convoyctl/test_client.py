"""The client over real HTTP(S) on loopback: statuses become exit codes, a 401 is refreshed once, a private
CA is trusted only when given, and JSON output is the one document on stdout."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from convoyctl.cli import run
from convoyctl.credentials import CredentialStore, Session
from convoyctl.errors import (
    EXIT_AUTH,
    EXIT_CLIENT,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    error_for_status,
)
from tests.convoyctl.scripted import Request, ScriptedGateway

SERVER_ID = "0b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
USER = {"id": "u1", "username": "alice", "display_name": "", "role": "operator", "disabled": False}


def convoyctl(config_home: Path, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    environ = {"XDG_CONFIG_HOME": str(config_home)}
    code = run(argv, environ=environ, stdin=io.StringIO(stdin), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def tokens(access: str, expires: str = "2099-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 900,
        "access_expires_at": expires,
        "refresh_token": f"refresh-{access}",
        "refresh_expires_at": "2099-01-08T00:00:00Z",
        "user": USER,
    }


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (400, "invalid_argument", EXIT_USAGE),
        (401, "unauthenticated", EXIT_AUTH),
        (403, "permission_denied", EXIT_AUTH),
        (404, "not_found", EXIT_NOT_FOUND),
        (409, "already_exists", EXIT_CLIENT),
        (429, "resource_exhausted", EXIT_CLIENT),
        (500, "internal", EXIT_UNAVAILABLE),
        (503, "unavailable", EXIT_UNAVAILABLE),
    ],
)
def test_each_status_has_its_exit_code(
    gateway: ScriptedGateway,
    config_home: Path,
    logged_in: Callable[..., Session],
    status: int,
    code: str,
    exit_code: int,
) -> None:
    logged_in(gateway.url)

    @gateway.route("GET", f"/api/v1/servers/{SERVER_ID}")
    def refuse(request: Request) -> None:
        request.error(status, code, "the reason the server gives")

    @gateway.route("POST", "/api/v1/auth/refresh")
    def refresh_refused(request: Request) -> None:
        request.error(401, "unauthenticated", "refresh token is invalid or expired")

    found, stdout, stderr = convoyctl(config_home, "servers", "get", SERVER_ID, "-o", "json")
    assert found == exit_code == error_for_status(status).exit_code
    assert stdout == "", "nothing but the result goes to stdout"
    assert stderr.startswith("error: ") and ("the reason the server gives" in stderr or status == 401), stderr


def test_a_401_is_refreshed_once_and_the_new_tokens_saved(
    gateway: ScriptedGateway, config_home: Path, store: CredentialStore, logged_in: Callable[..., Session]
) -> None:
    logged_in(gateway.url, token="old")

    @gateway.route("GET", "/api/v1/auth/me")
    def me(request: Request) -> None:
        if request.headers.get("authorization") == "Bearer new":
            request.reply(200, USER)
        else:
            request.error(401, "unauthenticated", "token expired")

    @gateway.route("POST", "/api/v1/auth/refresh")
    def refresh(request: Request) -> None:
        assert request.json() == {"refresh_token": "refresh-old"}
        request.reply(200, tokens("new"))

    assert convoyctl(config_home, "whoami", "-o", "json")[:2] == (EXIT_OK, json.dumps(USER, indent=2) + "\n")
    assert len(gateway.requests("POST", "/api/v1/auth/refresh")) == 1
    assert [r.headers["authorization"] for r in gateway.requests("GET", "/api/v1/auth/me")] == [
        "Bearer old",
        "Bearer new",
    ]
    saved = store.session(gateway.url)
    assert saved is not None and (saved.access_token, saved.refresh_token) == ("new", "refresh-new")


def test_a_refused_refresh_asks_for_a_new_login(
    gateway: ScriptedGateway, config_home: Path, logged_in: Callable[..., Session]
) -> None:
    logged_in(gateway.url)

    @gateway.route("GET", "/api/v1/auth/me")
    def me(request: Request) -> None:
        request.error(401, "unauthenticated", "token expired")

    @gateway.route("POST", "/api/v1/auth/refresh")
    def refresh(request: Request) -> None:
        request.error(401, "unauthenticated", "the session was ended; log in again")

    code, stdout, stderr = convoyctl(config_home, "whoami")
    assert code == EXIT_AUTH and stdout == ""
    assert "log in again: convoyctl login" in stderr
    assert len(gateway.requests("GET", "/api/v1/auth/me")) == 1, "no second try without new tokens"


def test_an_expired_token_is_refreshed_before_it_is_sent(
    gateway: ScriptedGateway, config_home: Path, logged_in: Callable[..., Session]
) -> None:
    logged_in(gateway.url, token="old", expires="2001-01-01T00:00:00Z")
    gateway.routes[("POST", "/api/v1/auth/refresh")] = lambda request: request.reply(200, tokens("new"))
    gateway.routes[("GET", "/api/v1/auth/me")] = lambda request: request.reply(200, USER)
    assert convoyctl(config_home, "whoami")[0] == EXIT_OK
    assert [r.headers["authorization"] for r in gateway.requests("GET", "/api/v1/auth/me")] == ["Bearer new"]


def test_not_logged_in_is_an_auth_error(gateway: ScriptedGateway, config_home: Path) -> None:
    code, _, stderr = convoyctl(config_home, "--server", gateway.url, "servers", "list")
    assert code == EXIT_AUTH and f"not logged in to {gateway.url}" in stderr
    assert gateway.seen == []


def test_login_saves_the_session_and_the_password_comes_from_stdin(
    gateway: ScriptedGateway, config_home: Path, store: CredentialStore
) -> None:
    @gateway.route("POST", "/api/v1/auth/login")
    def login(request: Request) -> None:
        ok = request.json() == {"username": "alice", "password": "s3cret pw"}
        request.reply(200, tokens("first")) if ok else request.error(401, "unauthenticated", "wrong")

    argv = ("login", "--server", gateway.url + "/", "-u", "alice", "--password-stdin")
    code, stdout, _ = convoyctl(config_home, *argv, stdin="s3cret pw\n")
    assert code == EXIT_OK and f"logged in to {gateway.url} as alice" in stdout
    assert store.current_server() == gateway.url
    assert convoyctl(config_home, *argv, stdin="wrong\n")[0] == EXIT_AUTH


def test_a_list_walks_every_page(
    gateway: ScriptedGateway, config_home: Path, logged_in: Callable[..., Session]
) -> None:
    logged_in(gateway.url)
    pages = {"": (["a", "b"], "t2"), "t2": (["c"], "t3"), "t3": (["d"], "")}

    @gateway.route("GET", "/api/v1/groups")
    def groups(request: Request) -> None:
        names, following = pages[request.query.get("page_token", [""])[0]]
        items = [{"id": name, "name": name} for name in names]
        request.reply(200, {"items": items, "next_page_token": following, "total": 4})

    code, stdout, _ = convoyctl(config_home, "groups", "list", "-o", "json")
    assert code == EXIT_OK and [g["name"] for g in json.loads(stdout)] == ["a", "b", "c", "d"]
    code, stdout, _ = convoyctl(config_home, "-o", "json", "groups", "list", "--limit", "3")
    assert [g["name"] for g in json.loads(stdout)] == ["a", "b", "c"]
    sizes = [r.query["page_size"] for r in gateway.requests("GET", "/api/v1/groups")[-2:]]
    assert sizes == [["3"], ["1"]], "never asks for more than the limit"


def test_an_unreachable_server_exits_6(config_home: Path, logged_in: Callable[..., Session]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    logged_in(url)
    code, stdout, stderr = convoyctl(config_home, "servers", "list")
    assert code == EXIT_UNAVAILABLE and stdout == "" and f"cannot reach {url}" in stderr


def test_a_private_ca_is_trusted_only_when_given(
    tls_gateway: tuple[ScriptedGateway, Path], config_home: Path, logged_in: Callable[..., Session]
) -> None:
    gateway, ca_file = tls_gateway
    logged_in(gateway.url)
    gateway.routes[("GET", "/api/v1/auth/me")] = lambda request: request.reply(200, USER)
    code, _, stderr = convoyctl(config_home, "whoami")
    assert code == EXIT_UNAVAILABLE and "--ca-file" in stderr
    assert convoyctl(config_home, "--ca-file", str(ca_file), "whoami")[0] == EXIT_OK
    assert convoyctl(config_home, "--insecure", "whoami")[0] == EXIT_OK
    missing = convoyctl(config_home, "--ca-file", str(ca_file.with_name("nope.pem")), "whoami")
    assert missing[0] == EXIT_USAGE and "cannot use the CA file" in missing[2]
