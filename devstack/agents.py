"""Demo nodes for `make up`: real agents on this machine, each confined to a sandbox root of its own.

Each demo node has `<state>/agents/<name>/root` (a dpkg or rpm database the agent installs into, never the
host's) and `<state>/agents/<name>/state` (key, certificate, journal). The first start enrolls it with a
join token made through the REST API, into the group "demo"; later starts only point its configuration at
this run's ports. A node whose certificate has expired, or that was revoked, is enrolled again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature

REPO_ROOT = Path(__file__).resolve().parent.parent
AGENT_DIR = REPO_ROOT / "agent"
GROUP = "demo"
# (name, package family, reported address): documentation addresses (RFC 5737), never contacted; every node
# needs an address of its own in inventory.
DEMO_NODES = (
    ("demo-deb-1", "deb", "192.0.2.11"),
    ("demo-deb-2", "deb", "192.0.2.12"),
    ("demo-rpm-1", "rpm", "192.0.2.21"),
)
ENROLL_TIMEOUT = 60.0
# Agent settings of the demo nodes: a change made by hand in a node's sandbox root shows within a minute even
# when the package database check misses it (the agent's own default is five minutes).
DEMO_TUNING = {"inventory_interval_seconds": 60.0}
# The environment a demo agent runs with, besides PYTHONPATH.
_AGENT_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")

__all__ = ["DemoAgentError", "DemoAgents", "demo_agent_count"]


class DemoAgentError(Exception):
    """A demo node could not be prepared or enrolled; the message says why."""


def demo_agent_count() -> int:
    """CONVOY_DEMO_AGENTS (0 to 3, default 3)."""
    text = os.environ.get("CONVOY_DEMO_AGENTS", str(len(DEMO_NODES)))
    if not text.isdigit() or int(text) > len(DEMO_NODES):
        raise DemoAgentError(f"CONVOY_DEMO_AGENTS must be a number from 0 to {len(DEMO_NODES)}, not {text!r}")
    return int(text)


class DemoAgents:
    def __init__(
        self,
        root: Path,
        logs: Path,
        *,
        url: str,
        password: str,
        enroll_address: str,
        agent_port: str,
        node_ca: Path,
        tuning: Mapping[str, float] = DEMO_TUNING,
    ) -> None:
        self.root, self.logs, self.url, self.password = root, logs, url, password
        self.tuning = dict(tuning)
        self.enroll_address, self.agent_port, self.node_ca = enroll_address, agent_port, node_ca
        # What a node's agent gets to see: none of the services' settings (database, PKI, passwords).
        self.env = {key: os.environ[key] for key in _AGENT_ENVIRONMENT if key in os.environ}
        self.env["PYTHONPATH"] = str(AGENT_DIR)
        self._client: httpx.Client | None = None

    def prepare(self, count: int) -> Iterator[tuple[str, list[str]]]:
        """(name, `convoy-agent run` command line) of each demo node, enrolled and ready to run."""
        if count == 0:
            return
        # The sandbox helpers belong to the agent; the stack imports them from its tree.
        if str(AGENT_DIR) not in sys.path:
            sys.path.insert(0, str(AGENT_DIR))
        try:
            for name, family, address in DEMO_NODES[:count]:
                if family == "rpm" and shutil.which("rpm") is None:
                    print(f"warning: no rpm on this machine; demo node {name} is left out", file=sys.stderr)
                    continue
                config = self._ready(name, family, address)
                yield name, [sys.executable, "-m", "convoy_agent", "run", "--config", str(config)]
        finally:
            if self._client is not None:
                self._client.close()

    def _ready(self, name: str, family: str, address: str) -> Path:
        home = self.root / name
        sandbox, state = home / "root", home / "state"
        config = state / "agent.json"
        self._prepare_root(sandbox, family)
        node_id = json.loads(config.read_text()).get("node_id", "") if config.exists() else ""
        status = self._server_status(node_id) if node_id else None
        if status not in (None, "revoked") and _certificate_usable(state / "node.pem", self.node_ca):
            self._configure(config, server=self.enroll_address, agent_address=f":{self.agent_port}")
            return config
        print(f"enrolling demo node {name} ({family})…")
        for stale in (config, state / "node.pem", state / "node-key.pem"):
            stale.unlink(missing_ok=True)
        # A node whose certificate only ran out keeps its server record (and address) by enrolling into it.
        token, fingerprint = self._join_token(node_id if status not in (None, "revoked") else "")
        command = [
            sys.executable, "-m", "convoy_agent", "enroll",
            "--server", self.enroll_address, "--ca-fingerprint", fingerprint,
            "--state-dir", str(state), "--config", str(config), "--sandbox-root", str(sandbox),
            "--hostname", name, "--address", address,
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, env={**self.env, "CONVOY_JOIN_TOKEN": token}, cwd=REPO_ROOT, capture_output=True,
                text=True, timeout=ENROLL_TIMEOUT, stdin=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise DemoAgentError(f"enrolling {name} took longer than {ENROLL_TIMEOUT:.0f} s") from exc
        with (self.logs / f"agent-{name}.log").open("a") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise DemoAgentError(f"enrolling {name} failed: {(done.stderr or done.stdout).strip()[-2000:]}")
        self._configure(config)
        return config

    def _prepare_root(self, sandbox: Path, family: str) -> None:
        from convoy_agent import sandbox as agent_sandbox  # the agent's own tree, see prepare()

        try:
            if family == "deb":
                agent_sandbox.prepare_deb_root(str(sandbox))
            else:
                agent_sandbox.prepare_rpm_root(str(sandbox))
        except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
            raise DemoAgentError(f"cannot prepare the {family} sandbox root {sandbox}: {exc}") from exc

    def _configure(self, config: Path, **values: object) -> None:
        """The demo tuning and `values` (the ports change from run to run; the node's identity does not)."""
        merged = {**json.loads(config.read_text()), **self.tuning, **values}
        temporary = config.with_suffix(".tmp")
        temporary.write_text(json.dumps(merged, indent=2))
        temporary.replace(config)

    def _server_status(self, node_id: str) -> str | None:
        """The server's status in inventory, None when it is gone."""
        response = self._api().get(f"/api/v1/servers/{node_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise DemoAgentError(
                f"cannot read server {node_id}: {response.status_code} {response.text[:200]}"
            )
        return str(response.json().get("status", ""))

    def _join_token(self, server_id: str = "") -> tuple[str, str]:
        body: dict[str, object] = {"group_ids": [self._group_id()]}
        if server_id:
            body["server_id"] = server_id
        reply = self._api().post("/api/v1/join-tokens", json=body)
        if reply.status_code != 201:
            raise DemoAgentError(f"could not create a join token: {reply.status_code} {reply.text}")
        body = reply.json()
        return body["token"], body["ca_fingerprint"]

    def _group_id(self) -> str:
        api = self._api()
        found = api.get("/api/v1/groups", params={"q": GROUP, "page_size": 100})
        for group in found.json().get("items", []) if found.status_code == 200 else []:
            if group["name"] == GROUP:
                return str(group["id"])
        created = api.post(
            "/api/v1/groups",
            json={"name": GROUP, "description": "Demo nodes started by make up", "category": "general"},
        )
        if created.status_code != 201:
            raise DemoAgentError(
                f"could not create the group {GROUP!r}: {created.status_code} {created.text}"
            )
        return str(created.json()["id"])

    def _api(self) -> httpx.Client:
        if self._client is None:
            client = httpx.Client(base_url=self.url, timeout=30.0, verify=False)
            login = client.post("/api/v1/auth/login", json={"username": "admin", "password": self.password})
            if login.status_code != 200:
                client.close()
                raise DemoAgentError(f"cannot sign in as admin to enroll the demo nodes: {login.status_code}")
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            self._client = client
        return self._client


def _certificate_usable(path: Path, node_ca: Path) -> bool:
    """Issued by this stack's node CA and good for at least another hour."""
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        authority = x509.load_pem_x509_certificate(node_ca.read_bytes())
        certificate.verify_directly_issued_by(authority)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return certificate.not_valid_after_utc > datetime.now(UTC) + timedelta(hours=1)
