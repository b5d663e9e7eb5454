"""The one-line install: the gateway serves the agent's packages and the install script, a join token comes with
the command that runs it (only when it can work), and that command, run with sh against stub tools and a
real HTTPS gateway, downloads over pinned TLS, installs, and enrolls with the token out of every command
line. What the script decides on the node is in test_agent_install_script.py."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.gateway.routes.agent_install import curl_tls_options, install_command, public_key_pin
from services.kit.pki import create_ca, issue_certificate
from tests.gateway.agent_install_support import (
    FAKE_PACKAGES,
    asgi_gateway,
    authed_gateway,
    fake_packages,
    https_gateway,
    node_env,
    openssl_pin,
    run_script,
    stub_tools,
    write_certificate,
)
from tests.support.stack import AuthStack
from tests.support.users import Users, http_auth


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    return fake_packages(tmp_path)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """The gateway's HTTPS certificate, from a private CA that no node trusts."""
    return write_certificate(
        tmp_path / "https", issue_certificate(create_ca("Gateway CA"), "gateway", sans=["127.0.0.1"])
    )


async def test_the_newest_package_of_each_family_and_machine_is_listed_with_its_digest(
    packages: Path,
) -> None:
    async with asgi_gateway(agent_packages_dir=packages) as client:
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
    async with asgi_gateway(agent_packages_dir=packages) as client:
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
    async with asgi_gateway(agent_packages_dir=tmp_path / "missing") as client:
        listed = await client.get("/api/v1/agent/packages")
        script = await client.get("/api/v1/agent/install.sh")
    assert listed.json() == []
    done = run_script(tmp_path, script.text, stub_tools(tmp_path / "bin", family="deb", machine="amd64"))
    assert done.returncode == 1
    assert "the gateway has no deb package for amd64" in done.stderr and "make agent-packages" in done.stderr


async def test_a_gateway_reached_directly_pins_its_public_key_in_the_script(
    packages: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    assert public_key_pin(cert) == openssl_pin(cert)
    async with asgi_gateway(agent_packages_dir=packages, https_cert=cert, https_key=key) as client:
        script = await client.get("https://gateway.test/api/v1/agent/install.sh")
        plain = await client.get("http://gateway.test/api/v1/agent/install.sh")
    assert f"CURL_TLS='--pinnedpubkey {openssl_pin(cert)} --insecure'" in script.text
    assert "GATEWAY=https://gateway.test " in script.text
    # Reached over plain HTTP (dev mode): there is no key to pin.
    assert "CURL_TLS='' " in plain.text


async def test_behind_a_public_url_curl_checks_the_nodes_cas_instead_of_a_pin(
    packages: Path, certificate: tuple[Path, Path]
) -> None:
    """A proxy in front may encrypt again towards the gateway: the key nodes see is the proxy's, never the
    gateway's, so a pin of the gateway's key would refuse every node."""
    cert, key = certificate
    settings = {"https_cert": cert, "https_key": key, "public_url": "https://convoy.example.com"}
    async with asgi_gateway(agent_packages_dir=packages, **settings) as client:
        script = await client.get("https://gateway.test/api/v1/agent/install.sh")
    assert "GATEWAY=https://convoy.example.com " in script.text
    assert "CURL_TLS='' " in script.text and "--pinnedpubkey" not in script.text
    gateway = GatewaySettings(env="dev", https_cert=cert, https_key=key)
    assert curl_tls_options("https://gateway.test", gateway)[0] == "--pinnedpubkey"
    assert curl_tls_options("https://convoy.example.com", gateway.model_copy(update=settings)) == []


async def test_outside_dev_mode_the_script_is_not_served_for_plain_http(
    packages: Path, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    prod = {"env": "prod", "pki_dir": tmp_path / "pki", "agent_packages_dir": packages}
    async with asgi_gateway(**prod) as client:
        refused = await client.get("http://gateway.test/api/v1/agent/install.sh")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "failed_precondition"
    assert "plain HTTP" in refused.json()["error"]["message"]
    assert "CONVOY_GATEWAY_PUBLIC_URL" in refused.json()["error"]["message"]
    async with asgi_gateway(**prod, https_cert=cert, https_key=key) as client:
        served = await client.get("https://gateway.test/api/v1/agent/install.sh")
    async with asgi_gateway(**prod, public_url="https://convoy.example.com") as client:
        proxied = await client.get("http://gateway.test/api/v1/agent/install.sh")
    assert served.status_code == 200 and proxied.status_code == 200
    assert "GATEWAY=https://convoy.example.com " in proxied.text


@pytest.fixture
def served(packages: Path, certificate: tuple[Path, Path]) -> Iterator[tuple[str, GatewaySettings]]:
    """A real gateway over HTTPS with a certificate of a private CA (the node does not trust it)."""
    cert, key = certificate
    settings = GatewaySettings(
        env="dev", console_dir=None, agent_packages_dir=packages, https_cert=cert, https_key=key
    )
    with https_gateway(create_app(settings), cert, key) as url:
        yield url, settings


def fetch_script(url: str, cert: Path) -> str:
    return subprocess.run(
        [
            "curl",
            "-fsSL",
            "--pinnedpubkey",
            openssl_pin(cert),
            "--insecure",
            f"{url}/api/v1/agent/install.sh",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_the_script_downloads_over_pinned_tls_checks_installs_and_enrolls(
    served: tuple[str, GatewaySettings], packages: Path, tmp_path: Path
) -> None:
    url, settings = served
    assert settings.https_cert is not None
    script = fetch_script(url, settings.https_cert)
    tools = stub_tools(tmp_path / "bin", family="deb", machine="arm64", record=tmp_path / "calls")
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


def test_curl_refuses_a_gateway_with_another_key(served: tuple[str, GatewaySettings], tmp_path: Path) -> None:
    url, _ = served
    other, _ = write_certificate(
        tmp_path / "other", issue_certificate(create_ca("Other CA"), "x", sans=["127.0.0.1"])
    )
    with pytest.raises(subprocess.CalledProcessError) as refused:
        fetch_script(url, other)
    assert refused.value.stdout == ""


def test_the_install_command_hands_the_token_to_the_script_in_the_environment() -> None:
    command = install_command(
        "https://convoy.example:8443",
        ["--pinnedpubkey", "sha256//AAAA", "--insecure"],
        "e:50058",
        "cvj_t",
        "sha256:ff",
    )
    assignment, shell, option, pipeline = shlex.split(command)
    assert (assignment, shell, option) == ("CONVOY_JOIN_TOKEN=cvj_t", "sh", "-c")
    fetch, run = pipeline.split(" | ")
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
        "--preserve-env=CONVOY_JOIN_TOKEN",
        "sh",
        "-s",
        "--",
        "--server",
        "e:50058",
        "--ca-fingerprint",
        "sha256:ff",
    ]
    assert "\n" not in command


def test_the_install_command_enrolls_with_the_token_out_of_every_command_line(
    served: tuple[str, GatewaySettings], tmp_path: Path
) -> None:
    """The whole command as the console shows it, run by sh with sudo as sudoers has it by default: no
    process of the node, sudo included, has the token on its command line while the install runs."""
    url, settings = served
    token = f"cvj_{uuid.uuid4().hex}"
    command = install_command(
        url, curl_tls_options(url, settings), "enroll.example:50058", token, "sha256:ab"
    )
    tools = stub_tools(tmp_path / "bin", family="rpm", machine="x86_64", record=tmp_path / "calls")
    # Typed into a shell, as an operator pastes it: the shell's own command line is just "sh".
    done = subprocess.run(
        ["sh"],
        input=command + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=node_env(tmp_path, tools),
    )
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0].startswith("rpm -Uvh --replacepkgs ")
    assert (
        calls[-1]
        == f"convoy-agent-enroll --server enroll.example:50058 --ca-fingerprint sha256:ab token={token}"
    )
    command_lines = (tmp_path / "calls.ps").read_text()
    assert "convoy-agent-enroll --server enroll.example:50058" in command_lines
    assert token not in command_lines
    assert token not in (tmp_path / "calls.sudo").read_text() + (tmp_path / "calls.all").read_text()


async def test_a_join_token_comes_with_the_install_command(
    auth_stack: AuthStack, users: Users, packages: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    over_https = {"https_cert": cert, "https_key": key, "public_url": "https://convoy.example:8443"}
    for settings, url in (({}, "http://gateway.test"), (over_https, "https://convoy.example:8443")):
        async with authed_gateway(
            auth_stack.target,
            auth_stack.pki_dir,
            env="dev",
            agent_enroll_address="enroll.example:50058",
            agent_packages_dir=packages,
            **settings,
        ) as client:
            response = await client.post("/api/v1/join-tokens", json={}, headers=http_auth(users.operator))
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["install_command"] == install_command(
            url, [], "enroll.example:50058", created["token"], created["ca_fingerprint"]
        )
        assert created["install_unavailable"] is None


async def test_a_join_token_has_no_install_command_where_it_could_not_work(
    auth_stack: AuthStack, users: Users, packages: Path, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """No packages on the gateway, or plain HTTP outside dev mode: no command that fails on the node (or
    runs a script as root that came unauthenticated), but the reason; the enroll command is there."""
    cert, key = certificate
    empty = tmp_path / "empty"
    empty.mkdir()
    https = {"https_cert": cert, "https_key": key}
    cases = (
        ("http", {"env": "dev", "agent_packages_dir": empty}, "make agent-packages"),
        ("http", {"env": "prod", "agent_packages_dir": packages}, "plain HTTP"),
        ("https", {"env": "prod", "agent_packages_dir": empty, **https}, "no agent packages"),
    )
    for scheme, settings, reason in cases:
        async with authed_gateway(auth_stack.target, auth_stack.pki_dir, **settings) as client:
            response = await client.post(
                f"{scheme}://gateway.test/api/v1/join-tokens", json={}, headers=http_auth(users.operator)
            )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["install_command"] is None, settings
        assert reason in created["install_unavailable"], settings
        assert created["command"].startswith("convoy-agent enroll ")
    async with authed_gateway(
        auth_stack.target,
        auth_stack.pki_dir,
        env="prod",
        agent_packages_dir=packages,
        public_url="https://c.example",
    ) as client:
        response = await client.post("/api/v1/join-tokens", json={}, headers=http_auth(users.operator))
    assert response.json()["install_command"].startswith("CONVOY_JOIN_TOKEN=")
