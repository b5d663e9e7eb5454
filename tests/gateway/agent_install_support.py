"""Helpers of the install script's tests: stand-in package files, stub package tools (and sudo) that record
what they are asked, the script run with sh, a real gateway over HTTPS in a thread, and the gateway app
with its lifespan on a real auth server in any mode."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.kit.pki import CertifiedKey

__all__ = [
    "pipe_script",
    "FAKE_PACKAGES",
    "JOIN_OPTIONS",
    "asgi_gateway",
    "authed_gateway",
    "fake_packages",
    "https_gateway",
    "node_env",
    "openssl_pin",
    "run_script",
    "stub_tools",
    "write_certificate",
]

# The route serves files by name and never looks inside: any bytes do.
FAKE_PACKAGES = {
    "convoy-agent_0.4.0-1_amd64.deb": b"deb for amd64",
    "convoy-agent_0.4.0-1_arm64.deb": b"deb for arm64",
    "convoy-agent-0.4.0-1.x86_64.rpm": b"rpm for x86_64",
    "convoy-agent-0.4.0-1.aarch64.rpm": b"rpm for aarch64",
}
JOIN_OPTIONS = ["--server", "enroll.example:50058", "--token", "cvj_x", "--ca-fingerprint", "sha256:ab"]
# The options of the one-line command, whose token comes from the environment instead.
PIPED_OPTIONS = ["--server", "enroll.example:50058", "--ca-fingerprint", "sha256:ab"]
START_TIMEOUT = 20.0


def fake_packages(tmp_path: Path) -> Path:
    """A packages directory as `make agent-packages` leaves it, plus what must never be served."""
    directory = tmp_path / "dist-agent"
    directory.mkdir()
    for name, data in FAKE_PACKAGES.items():
        (directory / name).write_bytes(data)
    (directory / "convoy-agent_0.3.0-1_amd64.deb").write_bytes(b"an older deb")
    (directory / "notes.txt").write_text("not a package")
    (tmp_path / "secret.deb").write_text("outside the directory")
    (directory / "convoy-agent_9.9.9-1_arm64.deb").symlink_to(tmp_path / "secret.deb")
    return directory


@asynccontextmanager
async def asgi_gateway(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real app without upstreams (these routes never call a service), in dev mode unless told."""
    app = create_app(GatewaySettings(**{"env": "dev", "console_dir": None, **settings}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


def stub_tools(
    directory: Path,
    *,
    family: str,
    machine: str,
    record: Path | None = None,
    python3: bool = True,
    installed: str = "",
    served: Path | None = None,
) -> Path:
    """dpkg-query, dpkg, rpm, uname, id and the installers as a node of `family` ("" for neither) on
    `machine` would answer, with or without python3 in its package database and with convoy-agent
    `installed` in that version ("" for none); and sudo as sudoers has it by default (the environment reset
    but for PATH and what --preserve-env names). Every call is appended to `record`.all; installers and the
    enroll helper append their command line to `record` and where their stdin comes from to `record`.stdin,
    the package handed to an installer is copied to `record`.package, and while the enroll helper runs the
    command lines of all processes go to `record`.ps. With `served`, curl is a stub too that "downloads" the
    file a URL names from that directory (the test's gateway host names resolve nowhere)."""
    directory.mkdir(parents=True, exist_ok=True)
    log = str(record or directory / "calls")
    has_python = "1" if python3 else ""
    ran = f'echo "$0 $*" >> {log}.all\n'
    stdin = f"readlink /proc/$$/fd/0 >> {log}.stdin\n"
    tools = {
        "dpkg-query": f'[ "{family}" = deb ] || exit 1\ncase "$4" in\n    dpkg) echo "install ok installed" ;;\n'
        f'    python3) [ -n "{has_python}" ] && echo "install ok installed" ;;\n'
        f'    convoy-agent) [ -n "{installed}" ] || exit 1\n'
        f'        case "$3" in *Status*) echo "install ok installed {installed}" ;; *) echo "{installed}" ;; esac ;;\n'
        "    *) exit 1 ;;\nesac",
        "dpkg": f'case "$1" in\n    --print-architecture) echo {machine} ;;\n'
        f'    --compare-versions) exec {shutil.which("dpkg")} "$@" ;;\n'
        f'    *) {stdin}echo "dpkg $*" >> {log}; cp "$2" {log}.package ;;\nesac',
        "rpm": f'case "$1 $2 $3" in\n    "-q --quiet --whatprovides") [ "{family}" = rpm ] && [ -n "{has_python}" ] ;;\n'
        f'    "-q --qf "*) [ -n "{installed}" ] && printf %s "{installed}" ;;\n'
        f'    "-q --quiet convoy-agent") [ -n "{installed}" ] ;;\n'
        f'    "-q "*) [ "{family}" = rpm ] ;;\n'
        f'    *) {stdin}echo "rpm $*" >> {log}; cp "$3" {log}.package ;;\nesac',
        "uname": f'[ "$1" = -m ] && echo {machine}',
        "id": '[ "$1" = -u ] && echo 0',
        "convoy-agent-enroll": f'{stdin}echo "convoy-agent-enroll $* token=${{CONVOY_JOIN_TOKEN:-}}" >> {log}\n'
        f"for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\"; echo; done > {log}.ps 2>/dev/null || true",
        # TMPDIR too, unlike sudo: the script's downloads stay in the test's directory.
        "sudo": f'echo "sudo $*" >> {log}.sudo\nkeep=\n'
        'case "$1" in --preserve-env=*) keep=${1#--preserve-env=}; shift ;; esac\n'
        'if [ -n "$keep" ] && value=$(printenv "$keep"); then\n'
        '    exec env -i PATH="$PATH" TMPDIR="${TMPDIR:-/tmp}" "$keep=$value" "$@"\nfi\n'
        'exec env -i PATH="$PATH" TMPDIR="${TMPDIR:-/tmp}" "$@"',
    }
    for name in ("apt-get", "dnf", "yum"):
        tools[name] = f'{stdin}echo "{name} $*" >> {log}; cp "$3" {log}.package'
    if served is not None:
        tools["curl"] = (
            f'while [ "$#" -gt 1 ]; do [ "$1" = -o ] && out=$2; shift; done\ncp "{served}/${{1##*/}}" "$out"'
        )
    for name, body in tools.items():
        path = directory / name
        path.write_text(f"#!/bin/sh\n{ran}{body}\n")
        path.chmod(0o755)
    return directory


def run_script(
    workdir: Path, script: str, tools: Path, args: list[str] | None = None, *, dry_run: bool = True
) -> subprocess.CompletedProcess[str]:
    """The install script as `curl … | sh -s -- ARGS` runs it, with the stub tools first on PATH."""
    path = workdir / "install.sh"
    path.write_text(script)
    argv = ["sh", str(path), *(["--dry-run"] if dry_run else []), *(JOIN_OPTIONS if args is None else args)]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        env=node_env(workdir, tools),
        stdin=subprocess.DEVNULL,
    )


def pipe_script(workdir: Path, text: str, tools: Path, token: str) -> subprocess.CompletedProcess[str]:
    """`text` piped into `sh -s -- PIPED_OPTIONS` as the one-line command does, the token in the environment."""
    return subprocess.run(
        ["sh", "-s", "--", *PIPED_OPTIONS],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        env=node_env(workdir, tools, CONVOY_JOIN_TOKEN=token),
    )


def node_env(workdir: Path, tools: Path, **extra: str) -> dict[str, str]:
    """The environment of a shell on the node: the stub tools first on PATH, temporary files in workdir."""
    env = {key: value for key, value in os.environ.items() if key != "CONVOY_JOIN_TOKEN"}
    env["PATH"] = f"{tools}:{env.get('PATH', '/usr/bin:/bin')}"
    env["TMPDIR"] = str(workdir)
    return {**env, **extra}


def write_certificate(directory: Path, certified: CertifiedKey) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "gateway.pem", directory / "gateway-key.pem"
    cert.write_bytes(certified.cert_pem())
    key.write_bytes(certified.key_pem())
    return cert, key


def openssl_pin(cert: Path) -> str:
    """curl's pin of a certificate, computed the way curl's documentation does it: with openssl."""

    def openssl(*args: str, data: bytes | None = None) -> bytes:
        return subprocess.run(
            ["openssl", *args], input=data, capture_output=True, timeout=30, check=True
        ).stdout

    public_key = openssl("x509", "-in", str(cert), "-pubkey", "-noout")
    der = openssl("pkey", "-pubin", "-outform", "der", data=public_key)
    digest = openssl("dgst", "-sha256", "-binary", data=der)
    return "sha256//" + base64.b64encode(digest).decode()


@contextmanager
def https_gateway(app: FastAPI, cert: Path, key: Path) -> Iterator[str]:
    """The app served by uvicorn over HTTPS on a loopback port of its own; yields its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, ssl_certfile=str(cert), ssl_keyfile=str(key), lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the HTTPS gateway did not start")
            time.sleep(0.02)
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        listener.close()


@asynccontextmanager
async def authed_gateway(
    auth_target: str, pki_dir: Path, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway app, lifespan and all, on a real auth server, with any settings (dev mode or not)."""
    app = create_app(GatewaySettings(pki_dir=pki_dir, auth_target=auth_target, **settings))
    async with app.router.lifespan_context(app):
        deadline = time.monotonic() + START_TIMEOUT
        while app.state.upstreams.verifier is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway did not load the token keys from auth")
            await asyncio.sleep(0.05)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client
