"""`python -m devstack up` brings the stack up, serves a login, stops cleanly on Ctrl-C, and restarts."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_port
from tests.support.devstack import EXIT_TIMEOUT, UP_TIMEOUT, devstack_up, postgres_running

PASSWORD = "e2e-Devstack-pw-7361"
SERVICES = ("auth", "inventory", "catalog", "transfer", "scheduler")
DEMO_NODES = {"demo-deb-1": "deb", "demo-deb-2": "deb", "demo-rpm-1": "rpm"}


def demo_nodes(url: str, password: str, ca_file: Path | None = None) -> dict[str, tuple[str, str]]:
    """Hostname → (status, package family) of the servers, once every demo node is online (bounded)."""
    verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    with httpx.Client(base_url=url, timeout=10.0, verify=verify) as client:
        login = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        deadline = time.monotonic() + 60
        while True:
            servers = client.get("/api/v1/servers").json()["items"]
            found = {
                s["hostname"]: (s["status"], (s.get("os") or {}).get("package_family", "")) for s in servers
            }
            if all(status == "online" for status, _ in found.values()) or time.monotonic() > deadline:
                assert len(found) == len(servers), f"one server record per node, not {servers}"
                return found
            time.sleep(0.5)


def login_and_me(url: str, password: str, ca_file: Path | None = None) -> dict[str, object]:
    verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    with httpx.Client(base_url=url, timeout=10.0, verify=verify) as client:
        login = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        body: dict[str, object] = me.json()
        return body


@pytest.mark.timeout(2 * (UP_TIMEOUT + EXIT_TIMEOUT) + 60)
def test_up_login_stop_and_up_again(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    gateway_addr = f"127.0.0.1:{free_port()}"

    with devstack_up(state_dir, gateway_addr, PASSWORD) as (launcher, url):
        assert url == f"http://{gateway_addr}"
        assert PASSWORD in launcher.transcript()
        me = login_and_me(url, PASSWORD)
        assert (me["username"], me["role"]) == ("admin", "admin")
        # All five processes: the gateway answers, and each service behind it reports SERVING.
        ready = httpx.get(f"{url}/readyz", timeout=10.0).json()
        assert ready["status"] == "ready", ready
        assert {name: ready["checks"][name] for name in SERVICES} == dict.fromkeys(SERVICES, "ok")
        assert "healthy   auth, inventory, transfer, catalog, scheduler, gateway" in launcher.transcript()
        # Three demo nodes enrolled with join tokens, each in its sandbox root, connected.
        expected = {name: ("online", family) for name, family in DEMO_NODES.items()}
        assert demo_nodes(url, PASSWORD) == expected
        assert launcher.interrupt() == 0, launcher.transcript()
        assert not postgres_running(state_dir), "PostgreSQL of the state dir still running after Ctrl-C"

    # Second start on the same state: no password in the environment any more, so this also shows that the
    # admin user and its password file survived, and that the launcher reads the password from that file.
    # A demo node whose certificate is gone (as if it had expired) enrolls again into its own server record.
    (state_dir / "agents" / "demo-deb-2" / "state" / "node.pem").unlink()
    # This time the gateway serves HTTPS with a certificate of the stack's own CA.
    pki = state_dir / "pki"
    https = {
        "CONVOY_GATEWAY_HTTPS_CERT": str(pki / "gateway.pem"),
        "CONVOY_GATEWAY_HTTPS_KEY": str(pki / "gateway-key.pem"),
    }
    with devstack_up(state_dir, gateway_addr, None, **https) as (launcher, url):
        assert url == f"https://{gateway_addr}"
        assert PASSWORD in launcher.transcript()
        assert login_and_me(url, PASSWORD, ca_file=pki / "ca.pem")["username"] == "admin"
        # The same nodes come back on new ports; only the one without its certificate enrolled again.
        assert demo_nodes(url, PASSWORD, ca_file=pki / "ca.pem") == expected
        enrolled = [line for line in launcher.transcript().splitlines() if "enrolling demo node" in line]
        assert enrolled == ["enrolling demo node demo-deb-2 (deb)…"], launcher.transcript()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=5.0)  # not trusted without our CA
        assert launcher.interrupt() == 0, launcher.transcript()
        assert not postgres_running(state_dir)
