"""The gateway serves the built console at `/` without ever shadowing the API or the probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings

pytestmark = pytest.mark.asyncio(loop_scope="session")

INDEX = "<!doctype html><title>Convoy console</title>"
ASSET = "console.log('built')"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A tiny stand-in for `npm run build`: an index page, one hashed asset, and a secret beside it."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-3f2a.js").write_text(ASSET)
    (tmp_path / "secret.txt").write_text("outside the build")
    return root


@asynccontextmanager
async def gateway(console_dir: Path | None) -> AsyncIterator[httpx.AsyncClient]:
    """The real app without upstreams: these requests never reach a service."""
    app = create_app(GatewaySettings(env="dev", console_dir=console_dir))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/servers", "/deployments/42/nodes"])
async def test_pages_of_the_console_return_its_index(dist: Path, path: str) -> None:
    async with gateway(dist) as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"


async def test_built_assets_are_served_as_files_cached_for_good(dist: Path) -> None:
    async with gateway(dist) as client:
        response = await client.get("/assets/index-3f2a.js")
        missing = await client.get("/assets/index-old.js")
    assert response.status_code == 200
    assert response.text == ASSET
    assert "immutable" in response.headers["cache-control"]
    assert missing.status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api", "/api/v2/servers"])
async def test_unknown_api_paths_stay_json_404s(dist: Path, path: str) -> None:
    async with gateway(dist) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_api_routes_probes_and_docs_keep_their_own_answers(dist: Path) -> None:
    async with gateway(dist) as client:
        wrong_method = await client.get("/api/v1/auth/login")
        posted_page = await client.post("/servers")
        health = await client.get("/healthz")
        docs = await client.get("/api/docs")
    assert wrong_method.status_code == 405
    assert posted_page.status_code == 404
    assert health.json() == {"status": "ok"}
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_no_file_outside_the_build_is_served(dist: Path) -> None:
    async with gateway(dist) as client:
        response = await client.get("/..%2Fsecret.txt")
        page = await client.get("/..%2F..%2Fetc")
    assert "outside the build" not in response.text
    assert response.status_code == 404
    assert page.text == INDEX


async def test_without_a_build_the_root_is_a_json_404(tmp_path: Path) -> None:
    async with gateway(tmp_path / "dist") as client:
        response = await client.get("/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
