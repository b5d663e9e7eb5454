"""The auth process as deployed: `python -m services.auth serve`, probed over mTLS, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.kit.pki import create_ca, issue_certificate
from services.kit.settings import TlsFiles
from services.kit.tls import open_channel
from tests.support.auth_process import (
    NOT_SERVING,
    REPO,
    SERVING,
    RunningAuth,
    health_status,
    process_env,
    running_auth,
    tls_files,
    wait_until_serving,
)
from tests.support.metrics import sample_value

pytestmark = pytest.mark.asyncio(loop_scope="session")

AUTH_SERVICE = "convoy.auth.v1.AuthService"


@pytest.fixture(scope="module")
async def auth(
    postgres: LocalPostgres, pki_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningAuth]:
    """One serving auth process shared by the probes that leave it running."""
    async with running_auth(postgres, pki_dir, tmp_path_factory.mktemp("auth-process")) as running:
        async with open_channel(running.target, tls_files(pki_dir, "gateway")) as channel:
            await wait_until_serving(running, channel)
        yield running


@pytest.fixture
async def gateway_channel(auth: RunningAuth, pki_dir: Path) -> AsyncIterator[grpc.aio.Channel]:
    async with open_channel(auth.target, tls_files(pki_dir, "gateway")) as channel:
        yield channel


async def test_health_reports_the_server_and_auth_service_serving(gateway_channel: grpc.aio.Channel) -> None:
    assert await health_status(gateway_channel) == SERVING
    assert await health_status(gateway_channel, AUTH_SERVICE) == SERVING


async def test_the_metrics_port_counts_grpc_calls(
    auth: RunningAuth, gateway_channel: grpc.aio.Channel
) -> None:
    await health_status(gateway_channel)
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"http://127.0.0.1:{auth.metrics_port}/metrics")
    assert response.status_code == 200
    assert "convoy_grpc_server_handled_total" in response.text
    checks = {"service": "grpc.health.v1.Health", "method": "Check", "code": "OK"}
    assert (sample_value(response.text, "convoy_grpc_server_handled_total", checks) or 0) >= 1


async def test_reflection_lists_the_auth_services(gateway_channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(gateway_channel)
    requests = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    names = set()
    async for reply in stub.ServerReflectionInfo(requests, timeout=5):
        names.update(service.name for service in reply.list_services_response.service)
    assert {AUTH_SERVICE, "convoy.auth.v1.AuditService", "grpc.health.v1.Health"} <= names


async def test_the_token_keys_are_published(gateway_channel: grpc.aio.Channel) -> None:
    reply = await auth_grpc.AuthServiceStub(gateway_channel).GetJwks(auth_pb.GetJwksRequest(), timeout=5)
    assert reply.issuer == "convoy" and '"kty": "OKP"' in reply.jwks_json


def foreign_client_files(pki_dir: Path, workdir: Path) -> TlsFiles:
    """A "gateway" certificate from another CA; the client still trusts the real CA for the server."""
    sans = ["gateway", "localhost", "127.0.0.1"]
    intruder = issue_certificate(create_ca("Intruder CA"), "gateway", sans=sans)
    cert, key = workdir / "intruder.pem", workdir / "intruder-key.pem"
    cert.write_bytes(intruder.cert_pem())
    key.write_bytes(intruder.key_pem())
    return TlsFiles(cert, key, pki_dir / "ca.pem")


async def test_a_client_certificate_from_another_ca_is_refused(
    auth: RunningAuth, pki_dir: Path, tmp_path: Path
) -> None:
    async with open_channel(auth.target, foreign_client_files(pki_dir, tmp_path)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_status(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_client_without_a_certificate_is_refused(auth: RunningAuth, pki_dir: Path) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=(pki_dir / "ca.pem").read_bytes())
    async with grpc.aio.secure_channel(auth.target, credentials) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_status(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def wait_for_not_serving(channel: grpc.aio.Channel, timeout: float) -> None:
    """Polls health; the port closing before NOT_SERVING was seen fails the test (no drain happened)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            status = await health_status(channel)
        except grpc.aio.AioRpcError as exc:
            pytest.fail(f"the server stopped answering ({exc.code().name}) before reporting NOT_SERVING")
        if status == NOT_SERVING:
            return
        assert loop.time() < deadline, f"still SERVING {timeout}s after SIGTERM"
        await asyncio.sleep(0.05)


async def test_sigterm_drains_as_not_serving_then_exits_cleanly(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    async with running_auth(postgres, pki_dir, tmp_path) as auth:
        async with open_channel(auth.target, tls_files(pki_dir, "gateway")) as channel:
            await wait_until_serving(auth, channel)
            auth.process.send_signal(signal.SIGTERM)
            await wait_for_not_serving(channel, timeout=10)
            assert await health_status(channel, AUTH_SERVICE) == NOT_SERVING
            # Balancers are told to go away, but calls that still arrive during the drain are answered.
            jwks = await auth_grpc.AuthServiceStub(channel).GetJwks(auth_pb.GetJwksRequest(), timeout=2)
            assert jwks.jwks_json
        returncode = await asyncio.to_thread(auth.process.wait, 20)
        assert returncode == 0, auth.output()


async def run_auth_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "services.auth", "serve"]
    return await asyncio.to_thread(
        subprocess.run, command, cwd=REPO, env=env, capture_output=True, text=True, timeout=30
    )


async def test_prod_refuses_a_placeholder_database_password(pki_dir: Path) -> None:
    env = process_env(
        CONVOY_ENV="prod",
        CONVOY_DATABASE_URL="postgresql+asyncpg://convoy:changeme@127.0.0.1:5432/convoy",
        CONVOY_PKI_DIR=str(pki_dir),
        CONVOY_AUTH_LISTEN=f"127.0.0.1:{free_port()}",
    )
    finished = await run_auth_command(env)
    assert finished.returncode != 0
    assert "placeholder" in finished.stderr


async def test_a_refused_configuration_does_not_print_the_database_password() -> None:
    password = uuid.uuid4().hex[:10]
    url = f"postgresql+asyncpg://convoy:{password}@db/convoy"
    env = process_env(CONVOY_ENV="prod", CONVOY_DATABASE_URL=url)
    finished = await run_auth_command(env)
    assert finished.returncode != 0
    assert "TLS is required" in finished.stderr
    assert password not in finished.stderr + finished.stdout
