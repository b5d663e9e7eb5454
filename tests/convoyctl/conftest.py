"""Fixtures of the convoyctl tests: scripted gateways (plain and HTTPS) and a credentials store in tmp."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from convoyctl.credentials import CredentialStore, Session
from services.kit.pki import write_pki_dir
from tests.convoyctl.scripted import ScriptedGateway, serve


@pytest.fixture
def gateway() -> Iterator[ScriptedGateway]:
    with serve() as served:
        yield served


@pytest.fixture
def tls_gateway(tmp_path: Path) -> Iterator[tuple[ScriptedGateway, Path]]:
    """Over HTTPS with a certificate from a private CA; (gateway, the CA's file)."""
    pki = tmp_path / "pki"
    write_pki_dir(pki, ["gateway"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "gateway.pem", pki / "gateway-key.pem")
    with serve(context) as served:
        yield served, pki / "ca.pem"


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    return tmp_path / "config"


@pytest.fixture
def store(config_home: Path) -> CredentialStore:
    return CredentialStore(config_home / "convoy")


@pytest.fixture
def logged_in(store: CredentialStore) -> Callable[..., Session]:
    """`logged_in(server, token="old", expires=None)`: a session saved as if `convoyctl login` had run."""

    def save(server: str, token: str = "old", expires: str | None = None) -> Session:
        session = Session(server, "alice", token, f"refresh-{token}", expires or "2099-01-01T00:00:00Z")
        store.save(session)
        return session

    return save
