"""The catalog as deployed: `python -m services.catalog migrate`, then `serve`, probed over mTLS, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest

from convoy.catalog.v1 import catalog_pb2 as pb
from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.kit.tls import open_channel
from tests.support.auth_process import REPO, SERVING, health_status, process_env, tls_files
from tests.support.stack import AuthStack, superuser_connection
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _wait_until_serving(process: subprocess.Popen[bytes], channel: grpc.aio.Channel, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        assert process.poll() is None, f"catalog exited early:\n{log.read_text(errors='replace')}"
        try:
            if await health_status(channel, "convoy.catalog.v1.CatalogService") == SERVING:
                return
        except grpc.aio.AioRpcError:
            pass  # not listening yet
        assert loop.time() < deadline, f"catalog did not serve in time:\n{log.read_text(errors='replace')}"
        await asyncio.sleep(0.1)


async def test_migrate_then_serve_then_stop(
    postgres: LocalPostgres, pki_dir: Path, auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    name = f"catalogproc_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(postgres.create_database, name)
    port = free_port()
    env = process_env(
        CONVOY_ENV="dev",
        CONVOY_DATABASE_URL=postgres.url(name),
        CONVOY_PKI_DIR=str(pki_dir),
        CONVOY_CATALOG_LISTEN=f"127.0.0.1:{port}",
        CONVOY_CATALOG_AUTH_TARGET=auth_stack.target,
        CONVOY_CATALOG_DRAIN_SECONDS="0",
    )
    command = [sys.executable, "-m", "services.catalog"]
    migrated = await asyncio.to_thread(
        subprocess.run, [*command, "migrate"], cwd=REPO, env=env, capture_output=True, timeout=60
    )
    assert migrated.returncode == 0, migrated.stderr.decode()
    async with superuser_connection(postgres.url(name)) as db:
        assert await db.fetchval("SELECT version_num FROM catalog.alembic_version") == "0001"

    log = tmp_path / "catalog.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "serve"], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        async with open_channel(f"127.0.0.1:{port}", tls_files(pki_dir, "gateway")) as channel:
            await _wait_until_serving(process, channel, log)
            stub = pb_grpc.CatalogServiceStub(channel)
            reply = await _list_when_keys_loaded(stub, users.viewer)
            assert reply.total_size == 0
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait, 10)


async def _list_when_keys_loaded(stub: pb_grpc.CatalogServiceStub, token: str) -> pb.ListSoftwareResponse:
    """The process serves at once and loads auth's keys in the background: retry until it knows them."""
    for _ in range(100):
        try:
            return await stub.ListSoftware(pb.ListSoftwareRequest(), metadata=grpc_auth(token), timeout=5)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
        await asyncio.sleep(0.1)
    raise AssertionError("the catalog never accepted a valid access token")
