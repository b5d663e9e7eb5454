"""The gateway's request metrics name a method only when it is one HTTP defines for the API: invented
methods, which anyone may send without logging in, all count as OTHER instead of adding series."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings

pytestmark = pytest.mark.asyncio(loop_scope="session")

LOGIN = "/api/v1/auth/login"


@pytest.fixture
async def client(pki_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real app; no upstream is needed to refuse a method."""
    app = create_app(GatewaySettings(env="dev", pki_dir=pki_dir, auth_target="127.0.0.1:1"))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


def answered(method: str, status: str) -> float | None:
    labels = {"method": method, "route": LOGIN, "status": status}
    return REGISTRY.get_sample_value("convoy_http_requests_total", labels)


async def test_an_invented_method_counts_as_other(client: httpx.AsyncClient) -> None:
    others = answered("OTHER", "405") or 0.0

    for method in ("BREW", "X-PROBE-1", "PROPFIND"):
        assert (await client.request(method, LOGIN)).status_code == 405

    assert answered("OTHER", "405") == others + 3
    assert all(answered(method, "405") is None for method in ("BREW", "X-PROBE-1", "PROPFIND"))


async def test_a_known_method_keeps_its_name(client: httpx.AsyncClient) -> None:
    deletes = answered("DELETE", "405") or 0.0

    assert (await client.delete(LOGIN)).status_code == 405

    assert answered("DELETE", "405") == deletes + 1
