"""The inventory as deployed: `python -m services.inventory migrate|serve`, its own schema, health, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.kit.tls import open_channel
from tests.support.auth_process import REPO, SERVING, health_status, process_env, tls_files
from tests.support.stack import AuthStack, fresh_database, superuser_connection
from tests.support.users import grpc_auth, make_users

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICE = "convoy.inventory.v1.InventoryService"


async def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.inventory", command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_migrate_creates_only_the_inventory_schema_and_is_repeatable(postgres: LocalPostgres) -> None:
    url = await fresh_database(postgres, "invmig", migrations=())
    env = process_env(CONVOY_ENV="dev", CONVOY_DATABASE_URL=url)
    for _ in range(2):
        finished = await run("migrate", env)
        assert finished.returncode == 0, finished.stderr
        assert "schema inventory is up to date" in finished.stdout
    async with superuser_connection(url) as db:
        tables = await db.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        version = await db.fetchval("SELECT version_num FROM inventory.alembic_version")
    assert {row["table_schema"] for row in tables} == {"inventory"}
    assert {row["table_name"] for row in tables} == {
        "servers",
        "groups",
        "memberships",
        "installed",
        "alembic_version",
    }
    assert version == "0001"


async def test_serve_answers_over_mtls_and_stops_cleanly_on_sigterm(
    postgres: LocalPostgres, pki_dir: Path, auth_stack: AuthStack, tmp_path: Path
) -> None:
    url = await fresh_database(postgres, "invproc", migrations=(("services.inventory", "inventory"),))
    port = free_port()
    env = process_env(
        CONVOY_ENV="dev",
        CONVOY_DATABASE_URL=url,
        CONVOY_PKI_DIR=str(pki_dir),
        CONVOY_INVENTORY_LISTEN=f"127.0.0.1:{port}",
        CONVOY_INVENTORY_AUTH_TARGET=auth_stack.target,
        CONVOY_INVENTORY_DRAIN_SECONDS="0",
    )
    users = await make_users(auth_stack)
    log = tmp_path / "inventory.log"
    with log.open("wb") as sink:
        command = [sys.executable, "-m", "services.inventory", "serve"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        async with open_channel(f"127.0.0.1:{port}", tls_files(pki_dir, "gateway")) as channel:
            await _wait_until_answering(channel, process, log, users.viewer)
            assert await health_status(channel, SERVICE) == SERVING
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 20) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait, 10)


async def _wait_until_answering(
    channel: grpc.aio.Channel, process: subprocess.Popen[bytes], log: Path, token: str
) -> None:
    """Serving, with token keys loaded: a viewer's list call succeeds."""
    stub = inv_grpc.InventoryServiceStub(channel)
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        assert process.poll() is None, f"inventory exited early:\n{log.read_text()}"
        try:
            reply = await stub.ListServers(inv_pb.ListServersRequest(), metadata=grpc_auth(token), timeout=2)
            assert reply.total_size == 0
            return
        except grpc.aio.AioRpcError:
            assert asyncio.get_running_loop().time() < deadline, log.read_text()
            await asyncio.sleep(0.1)
