"""`python -m devstack up` brings the stack up, serves a login, stops cleanly on Ctrl-C, and restarts."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_port
from tests.support.devstack import EXIT_TIMEOUT, UP_TIMEOUT, devstack_up, postgres_running

PASSWORD = "e2e-Devstack-pw-7361"
SERVICES = ("auth", "inventory", "catalog", "transfer")


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
        assert "healthy   auth, inventory, transfer, catalog, gateway" in launcher.transcript()
        assert launcher.interrupt() == 0, launcher.transcript()
        assert not postgres_running(state_dir), "PostgreSQL of the state dir still running after Ctrl-C"

    # Second start on the same state: no password in the environment any more, so this also shows that the
    # admin user and its password file survived, and that the launcher reads the password from that file.
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
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=5.0)  # not trusted without our CA
        assert launcher.interrupt() == 0, launcher.transcript()
        assert not postgres_running(state_dir)
