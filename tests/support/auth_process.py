"""Runs `python -m services.auth serve` as a real process on a fresh database, and probes its health."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.auth.signing import create_key_file
from services.kit.settings import TlsFiles
from tests.support.stack import fresh_database

__all__ = [
    "REPO",
    "SERVING",
    "NOT_SERVING",
    "DRAIN_SECONDS",
    "process_env",
    "RunningAuth",
    "running_auth",
    "tls_files",
    "health_status",
    "wait_until_serving",
]

REPO = Path(__file__).resolve().parents[2]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DRAIN_SECONDS = 3


def process_env(**values: str) -> dict[str, str]:
    """The test's environment without the developer's own CONVOY_* settings, plus `values`."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("CONVOY_")}
    return {**inherited, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "gen")]), **values}


@dataclass
class RunningAuth:
    process: subprocess.Popen[bytes]
    target: str
    metrics_port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@asynccontextmanager
async def running_auth(
    postgres: LocalPostgres, pki_dir: Path, workdir: Path, **extra_env: str
) -> AsyncIterator[RunningAuth]:
    """`python -m services.auth serve` on a fresh database; killed on the way out whatever happened."""
    key_file = workdir / "jwt.pem"
    create_key_file(key_file)
    port, metrics_port = free_port(), free_port()
    env = process_env(
        CONVOY_ENV="dev",
        CONVOY_DATABASE_URL=await fresh_database(postgres, "auth"),
        CONVOY_PKI_DIR=str(pki_dir),
        CONVOY_AUTH_LISTEN=f"127.0.0.1:{port}",
        CONVOY_AUTH_JWT_KEY_FILE=str(key_file),
        CONVOY_AUTH_DRAIN_SECONDS=str(DRAIN_SECONDS),
        CONVOY_AUTH_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
        **extra_env,
    )
    log = workdir / "auth.log"
    with log.open("wb") as sink:
        command = [sys.executable, "-m", "services.auth", "serve"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield RunningAuth(process, f"127.0.0.1:{port}", metrics_port, log)
    finally:
        if process.poll() is None:
            process.kill()
        await asyncio.to_thread(process.wait, 10)


def tls_files(pki_dir: Path, name: str) -> TlsFiles:
    return TlsFiles(pki_dir / f"{name}.pem", pki_dir / f"{name}-key.pem", pki_dir / "ca.pem")


async def health_status(channel: grpc.aio.Channel, service: str = "") -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    reply = await health_pb2_grpc.HealthStub(channel).Check(request, timeout=2)
    return reply.status


async def wait_until_serving(auth: RunningAuth, channel: grpc.aio.Channel, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        assert auth.process.poll() is None, f"auth exited early:\n{auth.output()}"
        try:
            if await health_status(channel) == SERVING:
                return
        except grpc.aio.AioRpcError:
            pass  # not listening yet
        assert loop.time() < deadline, f"auth did not report SERVING within {timeout}s:\n{auth.output()}"
        await asyncio.sleep(0.1)
