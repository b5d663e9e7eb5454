"""Helpers of the install script's tests: stand-in package files, stub package tools that record what they are
asked, the script run with sh, and a real gateway over HTTPS in a thread."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from services.kit.pki import CertifiedKey

__all__ = ["FAKE_PACKAGES", "https_gateway", "openssl_pin", "run_script", "stub_tools", "write_certificate"]

# The route serves files by name and never looks inside: any bytes do.
FAKE_PACKAGES = {
    "convoy-agent_0.4.0-1_amd64.deb": b"deb for amd64",
    "convoy-agent_0.4.0-1_arm64.deb": b"deb for arm64",
    "convoy-agent-0.4.0-1.x86_64.rpm": b"rpm for x86_64",
    "convoy-agent-0.4.0-1.aarch64.rpm": b"rpm for aarch64",
}
JOIN_OPTIONS = ["--server", "enroll.example:50058", "--token", "cvj_x", "--ca-fingerprint", "sha256:ab"]
START_TIMEOUT = 20.0


def stub_tools(directory: Path, *, family: str, machine: str, record: Path | None = None) -> Path:
    """dpkg-query, dpkg, rpm, uname and the installers as a node of `family` ("" for neither) on `machine`
    would answer; installers and the enroll helper append their command line to `record`, and the package
    handed to an installer is copied to `record`.package."""
    directory.mkdir(parents=True, exist_ok=True)
    log = str(record or directory / "calls")
    tools = {
        "dpkg-query": f'[ "{family}" = deb ] && echo "install ok installed" || exit 1',
        "dpkg": f'case "$1" in --print-architecture) echo {machine} ;; *) echo "dpkg $*" >> {log}; '
        f'cp "$2" {log}.package ;; esac',
        "rpm": f'case "$1" in -q) [ "{family}" = rpm ] ;; *) echo "rpm $*" >> {log}; cp "$3" {log}.package ;; esac',
        "uname": f'[ "$1" = -m ] && echo {machine}',
        "convoy-agent-enroll": f'echo "convoy-agent-enroll $* token=${{CONVOY_JOIN_TOKEN:-}}" >> {log}',
    }
    for name in ("apt-get", "dnf", "yum"):
        tools[name] = f'echo "{name} $*" >> {log}'
    for name, body in tools.items():
        path = directory / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return directory


def run_script(
    workdir: Path, script: str, tools: Path, args: list[str] | None = None, *, dry_run: bool = True
) -> subprocess.CompletedProcess[str]:
    """The install script as `curl … | sh -s -- ARGS` runs it, with the stub tools first on PATH."""
    path = workdir / "install.sh"
    path.write_text(script)
    env = {key: value for key, value in os.environ.items() if key != "CONVOY_JOIN_TOKEN"}
    env["PATH"] = f"{tools}:{env.get('PATH', '/usr/bin:/bin')}"
    argv = ["sh", str(path), *(["--dry-run"] if dry_run else []), *(JOIN_OPTIONS if args is None else args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)


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
