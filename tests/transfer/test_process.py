"""The transfer process as deployed: `migrate`, then `serve` over mTLS, swept at startup, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest

from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.transfer.storage import STAGING_DIR
from tests.support.auth_process import REPO, SERVING, health_status, process_env, tls_files
from tests.support.metrics import sample_value
from tests.support.packages import build_tarball
from tests.support.stack import AuthStack, fresh_database, superuser_connection
from tests.support.transfer import upload_file

pytestmark = pytest.mark.asyncio(loop_scope="session")

TRANSFER_SERVICE = "convoy.transfer.v1.TransferService"


def run_cli(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.transfer", *command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def wait_until_serving(process: subprocess.Popen[bytes], channel: grpc.aio.Channel, log: Path) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        assert process.poll() is None, f"transfer exited early:\n{log.read_text()}"
        try:
            if await health_status(channel, TRANSFER_SERVICE) == SERVING:
                return
        except grpc.aio.AioRpcError:
            pass  # not listening yet
        assert asyncio.get_running_loop().time() < deadline, f"transfer never served:\n{log.read_text()}"
        await asyncio.sleep(0.1)


async def test_migrate_then_serve_then_stop(
    postgres: LocalPostgres, pki_dir: Path, auth_stack: AuthStack, tmp_path: Path
) -> None:
    url = await fresh_database(postgres, "transfer_cli", migrations=())
    root = tmp_path / "artifacts"
    stale, fresh = root / STAGING_DIR / "upload-crashed.part", root / STAGING_DIR / "upload-running.part"
    stale.parent.mkdir(parents=True)
    for path in (stale, fresh):
        path.write_bytes(b"left behind")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    port, metrics_port = free_port(), free_port()
    env = process_env(
        CONVOY_ENV="dev",
        CONVOY_DATABASE_URL=url,
        CONVOY_PKI_DIR=str(pki_dir),
        CONVOY_TRANSFER_LISTEN=f"127.0.0.1:{port}",
        CONVOY_TRANSFER_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
        CONVOY_TRANSFER_AUTH_TARGET=auth_stack.target,
        CONVOY_TRANSFER_STORAGE_ROOT=str(root),
        CONVOY_TRANSFER_DRAIN_SECONDS="0",
    )
    migrated = run_cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "schema transfer is up to date" in migrated.stdout
    async with superuser_connection(url) as db:
        tables = {
            row["tablename"]
            for row in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'transfer'")
        }
    assert tables == {"blobs", "blob_references", "alembic_version"}

    log = tmp_path / "transfer.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.transfer", "serve"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        async with grpc.aio.secure_channel(
            f"127.0.0.1:{port}", grpc.ssl_channel_credentials(*_client_credentials(pki_dir))
        ) as channel:
            await wait_until_serving(process, channel, log)
            tarball = build_tarball(tmp_path, "served", "1.0")
            reply = await upload_file(pb_grpc.TransferServiceStub(channel), tarball)
        assert reply.created
        assert not stale.exists() and fresh.exists()
        async with httpx.AsyncClient(timeout=5) as http:
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        uploaded = sample_value(metrics, "convoy_transfer_bytes_total", {"direction": "upload"})
        assert uploaded == tarball.stat().st_size
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 20) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait, 10)


def _client_credentials(pki_dir: Path) -> tuple[bytes, bytes, bytes]:
    files = tls_files(pki_dir, "catalog")
    cert, key, ca = files.read()
    return ca, key, cert
