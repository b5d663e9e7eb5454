"""The one-line install: the gateway serves the agent's packages and the install script, and the script picks
the package for the node's package tool and machine (run with sh against stub dpkg/rpm/uname), downloads
it from a real HTTPS gateway with curl pinning its key, checks it, installs it and enrolls the node."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.gateway.routes.agent_install import public_key_pin
from services.kit.pki import create_ca, issue_certificate
from tests.gateway.agent_install_support import (
    FAKE_PACKAGES,
    https_gateway,
    openssl_pin,
    run_script,
    stub_tools,
    write_certificate,
)
from tests.support.stack import AuthStack, gateway_client
from tests.support.users import Users, http_auth


@pytest.fixture
def packages(tmp_path: Path) -> Path:
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
async def gateway(**settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """The real app without upstreams: these routes never call a service."""
    app = create_app(GatewaySettings(env="dev", console_dir=None, **settings))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


async def test_the_newest_package_of_each_family_and_machine_is_listed_with_its_digest(
    packages: Path,
) -> None:
    async with gateway(agent_packages_dir=packages) as client:
        listed = await client.get("/api/v1/agent/packages")
    assert listed.status_code == 200, listed.text
    assert [(item["family"], item["arch"], item["file"]) for item in listed.json()] == [
        ("deb", "amd64", "convoy-agent_0.4.0-1_amd64.deb"),
        ("deb", "arm64", "convoy-agent_0.4.0-1_arm64.deb"),
        ("rpm", "aarch64", "convoy-agent-0.4.0-1.aarch64.rpm"),
        ("rpm", "x86_64", "convoy-agent-0.4.0-1.x86_64.rpm"),
    ]
    for item in listed.json():
        data = FAKE_PACKAGES[item["file"]]
        assert (item["size"], item["sha256"], item["version"]) == (
            len(data),
            hashlib.sha256(data).hexdigest(),
            "0.4.0-1",
        )


async def test_a_package_downloads_and_nothing_else_of_the_disk_does(packages: Path) -> None:
    async with gateway(agent_packages_dir=packages) as client:
        deb = await client.get("/api/v1/agent/packages/convoy-agent_0.4.0-1_amd64.deb")
        rpm = await client.get("/api/v1/agent/packages/convoy-agent-0.4.0-1.aarch64.rpm")
        refused = {
            name: await client.get(f"/api/v1/agent/packages/{name}")
            for name in (
                "convoy-agent_0.3.0-1_amd64.deb",  # an older version: the script never offers it
                "convoy-agent_9.9.9-1_arm64.deb",  # a symlink out of the directory
                "notes.txt",
                "..%2Fsecret.deb",
                "%2E%2E%2Fsecret.deb",
                "convoy-agent_0.4.0-1_amd64.deb%00",
                "x" * 5000,
            )
        }
        traversal = await client.get("/api/v1/agent/packages/../../../etc/passwd")
    assert deb.status_code == 200 and deb.content == FAKE_PACKAGES["convoy-agent_0.4.0-1_amd64.deb"]
    assert deb.headers["content-type"] == "application/vnd.debian.binary-package"
    assert rpm.status_code == 200 and rpm.headers["content-type"] == "application/x-rpm"
    for name, response in refused.items():
        assert response.status_code == 404, name
        assert response.json()["error"]["code"] == "not_found", name
    assert traversal.status_code == 404


async def test_without_packages_the_script_says_how_to_build_them(tmp_path: Path) -> None:
    async with gateway(agent_packages_dir=tmp_path / "missing") as client:
        listed = await client.get("/api/v1/agent/packages")
        script = await client.get("/api/v1/agent/install.sh")
    assert listed.json() == []
    done = run_script(tmp_path, script.text, stub_tools(tmp_path / "bin", family="deb", machine="amd64"))
    assert done.returncode == 1
    assert "the gateway has no deb package for amd64" in done.stderr and "make agent-packages" in done.stderr


@pytest.mark.parametrize(
    ("family", "machine", "file"),
    [
        ("deb", "amd64", "convoy-agent_0.4.0-1_amd64.deb"),
        ("deb", "arm64", "convoy-agent_0.4.0-1_arm64.deb"),
        ("rpm", "x86_64", "convoy-agent-0.4.0-1.x86_64.rpm"),
        ("rpm", "aarch64", "convoy-agent-0.4.0-1.aarch64.rpm"),
    ],
)
async def test_the_script_picks_the_package_of_the_node(
    packages: Path, tmp_path: Path, family: str, machine: str, file: str
) -> None:
    async with gateway(agent_packages_dir=packages, public_url="http://convoy.example:8080") as client:
        script = await client.get("/api/v1/agent/install.sh")
    assert script.status_code == 200 and script.headers["cache-control"] == "no-store"
    done = run_script(tmp_path, script.text, stub_tools(tmp_path / "bin", family=family, machine=machine))
    assert done.returncode == 0, done.stderr
    said = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert (
        said["family"] == family
        and said["download"] == f"http://convoy.example:8080/api/v1/agent/packages/{file}"
    )
    assert said["sha256"] == hashlib.sha256(FAKE_PACKAGES[file]).hexdigest()
    assert said["install"] == ("dpkg -i " if family == "deb" else "rpm -Uvh --replacepkgs ") + file
    # The token is not in what the script prints or passes on the command line.
    assert said["enroll"] == "convoy-agent-enroll --server enroll.example:50058 --ca-fingerprint sha256:ab"
    assert "cvj_" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("family", "machine", "args", "says"),
    [
        ("deb", "riscv64", None, "no agent package for riscv64 (deb)"),
        ("", "x86_64", None, "neither dpkg nor rpm manages this system"),
        ("rpm", "x86_64", ["--server", "s:1", "--token", "cvj_x"], "--ca-fingerprint is missing"),
        (
            "rpm",
            "x86_64",
            ["--ca-fingerprint", "sha256:ab", "--token", "cvj_x"],
            "--server HOST:PORT is missing",
        ),
        ("rpm", "x86_64", ["--server", "s:1", "--ca-fingerprint", "sha256:ab"], "no join token"),
        ("rpm", "x86_64", ["--server"], "--server needs a value"),
        ("rpm", "x86_64", ["--colour", "red"], "unknown option: --colour"),
    ],
)
async def test_the_script_refuses_what_it_cannot_do_with_the_reason(
    packages: Path, tmp_path: Path, family: str, machine: str, args: list[str] | None, says: str
) -> None:
    async with gateway(agent_packages_dir=packages) as client:
        script = await client.get("/api/v1/agent/install.sh")
    done = run_script(
        tmp_path, script.text, stub_tools(tmp_path / "bin", family=family, machine=machine), args
    )
    assert done.returncode != 0
    assert says in done.stderr


async def test_an_https_gateway_pins_its_public_key_in_the_script(packages: Path, tmp_path: Path) -> None:
    cert, key = write_certificate(
        tmp_path, issue_certificate(create_ca("Gateway CA"), "gateway", sans=["127.0.0.1"])
    )
    assert public_key_pin(cert) == openssl_pin(cert)
    async with gateway(agent_packages_dir=packages, https_cert=cert, https_key=key) as client:
        script = await client.get("https://gateway.test/api/v1/agent/install.sh")
        plain = await client.get("http://gateway.test/api/v1/agent/install.sh")
    assert f"CURL_TLS='--pinnedpubkey {openssl_pin(cert)} --insecure'" in script.text
    assert "GATEWAY=https://gateway.test " in script.text
    # Reached over plain HTTP (a TLS proxy in front), curl checks the proxy's certificate as usual.
    assert "CURL_TLS='' " in plain.text


@pytest.fixture
def served(packages: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real gateway over HTTPS with a certificate of a private CA (the node does not trust it)."""
    cert, key = write_certificate(
        tmp_path, issue_certificate(create_ca("Gateway CA"), "gateway", sans=["127.0.0.1"])
    )
    settings = GatewaySettings(
        env="dev", console_dir=None, agent_packages_dir=packages, https_cert=cert, https_key=key
    )
    with https_gateway(create_app(settings), cert, key) as url:
        yield url, cert


def test_the_script_downloads_over_pinned_tls_checks_installs_and_enrolls(
    served: tuple[str, Path], packages: Path, tmp_path: Path
) -> None:
    url, _ = served
    tools = stub_tools(tmp_path / "bin", family="deb", machine="arm64", record=tmp_path / "calls")
    script = subprocess.run(
        [
            "curl",
            "-fsSL",
            "--pinnedpubkey",
            openssl_pin(served[1]),
            "--insecure",
            f"{url}/api/v1/agent/install.sh",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    args = ["--server", "enroll.example:50058", "--token", "cvj_secret", "--ca-fingerprint", "sha256:ab"]
    done = run_script(tmp_path, script, tools, [*args, "--hostname", "web-1"], dry_run=False)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    installed = [line for line in calls if line.startswith("dpkg -i ")]
    assert len(installed) == 1
    assert (tmp_path / "calls.package").read_bytes() == FAKE_PACKAGES["convoy-agent_0.4.0-1_arm64.deb"]
    assert calls[-1] == (
        "convoy-agent-enroll --server enroll.example:50058 --ca-fingerprint sha256:ab --hostname web-1 token=cvj_secret"
    )

    # A package whose bytes changed after the script announced its digest is not installed.
    (packages / "convoy-agent_0.4.0-1_arm64.deb").write_bytes(b"something else")
    (tmp_path / "calls").unlink()
    refused = run_script(tmp_path, script, tools, args, dry_run=False)
    assert refused.returncode == 1 and "does not have the SHA-256 the gateway announced" in refused.stderr
    assert not (tmp_path / "calls").exists()  # neither installed nor enrolled


def test_curl_refuses_a_gateway_with_another_key(served: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = served
    other, _ = write_certificate(
        tmp_path / "other", issue_certificate(create_ca("Other CA"), "x", sans=["127.0.0.1"])
    )
    done = subprocess.run(
        [
            "curl",
            "-fsSL",
            "--pinnedpubkey",
            openssl_pin(other),
            "--insecure",
            f"{url}/api/v1/agent/install.sh",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and done.stdout == ""


def test_the_install_command_is_one_line_that_runs_the_script_with_the_join_options() -> None:
    from services.gateway.routes.agent_install import install_command

    command = install_command(
        "https://convoy.example:8443",
        ["--pinnedpubkey", "sha256//AAAA", "--insecure"],
        "e:50058",
        "cvj_t",
        "sha256:ff",
    )
    fetch, run = command.split(" | ")
    assert shlex.split(fetch) == [
        "curl",
        "-fsSL",
        "--pinnedpubkey",
        "sha256//AAAA",
        "--insecure",
        "https://convoy.example:8443/api/v1/agent/install.sh",
    ]
    assert shlex.split(run) == [
        "sudo",
        "sh",
        "-s",
        "--",
        "--server",
        "e:50058",
        "--token",
        "cvj_t",
        "--ca-fingerprint",
        "sha256:ff",
    ]
    assert os.linesep not in command


async def test_a_join_token_comes_with_the_install_command(
    auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    cert, key = write_certificate(
        tmp_path, issue_certificate(create_ca("Gateway CA"), "gateway", sans=["127.0.0.1"])
    )
    over_https = {"https_cert": str(cert), "https_key": str(key), "public_url": "https://convoy.example:8443"}
    for settings, url, tls in (
        ({}, "http://gateway.test", ""),
        (over_https, "https://convoy.example:8443", f"--pinnedpubkey {openssl_pin(cert)} --insecure "),
    ):
        async with gateway_client(
            auth_stack.target, auth_stack.pki_dir, agent_enroll_address="enroll.example:50058", **settings
        ) as client:
            response = await client.post("/api/v1/join-tokens", json={}, headers=http_auth(users.operator))
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["install_command"] == (
            f"curl -fsSL {tls}{url}/api/v1/agent/install.sh | sudo sh -s -- --server enroll.example:50058 "
            f"--token {created['token']} --ca-fingerprint {created['ca_fingerprint']}"
        )
