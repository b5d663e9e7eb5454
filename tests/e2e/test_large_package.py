"""A 200 MiB package goes up and comes back through the running stack while gateway and transfer stay small."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_port
from tests.support.devstack import EXIT_TIMEOUT, UP_TIMEOUT, devstack_up, peak_rss_bytes, service_pids
from tests.support.packages import build_deb

PASSWORD = "e2e-Large-package-pw-5521"
PAYLOAD = 200 * 1024 * 1024
# Far below the file size: a process that held the file, or a good part of it, would blow through this.
PEAK_GROWTH_LIMIT = 64 * 1024 * 1024
MEASURED = ("gateway", "transfer")


def upload(client: httpx.Client, path: Path) -> dict[str, object]:
    with path.open("rb") as file:
        response = client.post(
            "/api/v1/packages", files={"file": (path.name, file, "application/octet-stream")}
        )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def download_sha256(client: httpx.Client, package_id: object, offset: int = 0) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", f"/api/v1/packages/{package_id}/content", headers=headers) as response:
        assert response.status_code == (206 if offset else 200), response.read()
        for piece in response.iter_bytes():
            digest.update(piece)
            size += len(piece)
    return size, digest.hexdigest()


@pytest.mark.timeout(UP_TIMEOUT + EXIT_TIMEOUT + 240)
def test_a_200_mib_package_streams_through_with_bounded_memory(tmp_path: Path) -> None:
    big = build_deb(tmp_path, "big-payload", "1.0", payload_bytes=PAYLOAD, compression="none")
    data_sha = hashlib.sha256(big.read_bytes()).hexdigest()
    small = build_deb(tmp_path, "warm-up", "1.0")
    with devstack_up(tmp_path / "state", f"127.0.0.1:{free_port()}", PASSWORD) as (launcher, url):
        with httpx.Client(base_url=url, timeout=120.0) as client:
            login = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            warm = upload(client, small)  # first-use allocations belong to the baseline, not to the file
            download_sha256(client, warm["id"])
            pids = service_pids(launcher)
            before = {name: peak_rss_bytes(pids[name]) for name in MEASURED}

            package = upload(client, big)
            assert package["artifact_sha256"] == data_sha and package["software_name"] == "big-payload"
            assert download_sha256(client, package["id"]) == (big.stat().st_size, data_sha)
            offset = big.stat().st_size // 3
            size, _ = download_sha256(client, package["id"], offset)
            assert size == big.stat().st_size - offset

            growth = {name: peak_rss_bytes(pids[name]) - before[name] for name in MEASURED}
        print(f"peak RSS growth for a {big.stat().st_size} byte package: {growth}")
        for name in MEASURED:
            assert growth[name] < PEAK_GROWTH_LIMIT, f"{name} peak RSS grew by {growth[name]} bytes"
        assert launcher.interrupt() == 0, launcher.transcript()
