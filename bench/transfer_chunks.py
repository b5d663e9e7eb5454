"""Download throughput and server CPU of the transfer service per chunk size (picks CONVOY_TRANSFER_CHUNK_BYTES).

Runs a throwaway PostgreSQL, auth and one `python -m services.transfer serve` per chunk size (mTLS, loopback),
uploads one blob, and downloads it several times with the synchronous gRPC client, as an agent would.

    .venv/bin/python -m bench.transfer_chunks [--mib 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.auth.config import AuthSettings
from services.auth.models import SCHEMA as AUTH_SCHEMA
from services.auth.server import build as build_auth
from services.auth.signing import create_key_file
from services.kit.migrations import migrate
from services.kit.pki import write_pki_dir
from services.kit.settings import TlsFiles
from services.kit.tls import MESSAGE_OPTIONS
from services.transfer.models import SCHEMA as TRANSFER_SCHEMA

REPO = Path(__file__).resolve().parents[1]
CHUNK_SIZES = (64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024)


def _channel(target: str, pki: Path) -> grpc.Channel:
    cert, key, ca = TlsFiles(pki / "scheduler.pem", pki / "scheduler-key.pem", pki / "ca.pem").read()
    credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    return grpc.secure_channel(target, credentials, options=list(MESSAGE_OPTIONS))


def _upload_requests(size: int) -> Iterator[pb.UploadRequest]:
    """A tar package: install.sh, then a large random member, streamed without holding it all."""
    yield pb.UploadRequest(metadata=pb.UploadMetadata(filename="bench.tar"))
    script, payload = b"#!/bin/sh\ntrue\n", hashlib.shake_256(b"bench").digest(1024 * 1024)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("install.sh")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
        info = tarfile.TarInfo("payload.bin")
        info.size = size
        tar.addfile(info)  # header only; the payload follows in pieces
    # install.sh (header + one block) and payload.bin's header; tarfile's end-of-archive padding is dropped.
    yield pb.UploadRequest(chunk=buffer.getvalue()[: 3 * tarfile.BLOCKSIZE])
    for _ in range(size // len(payload)):
        yield pb.UploadRequest(chunk=payload)
    yield pb.UploadRequest(chunk=b"\0" * 2 * tarfile.BLOCKSIZE)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _download(stub: pb_grpc.TransferServiceStub, sha256: str) -> int:
    received = 0
    for message in stub.Download(pb.DownloadRequest(sha256=sha256), timeout=600):
        if message.WhichOneof("payload") == "chunk":
            received += len(message.chunk)
    return received


def _wait_serving(channel: grpc.Channel, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("transfer exited early")
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.2)
    raise SystemExit("transfer did not become ready")


def _measure(env: dict[str, str], pki: Path, chunk: int, blob_mib: int, rounds: int, sha: str) -> str:
    port = free_port()
    env = {**env, "CONVOY_TRANSFER_LISTEN": f"127.0.0.1:{port}", "CONVOY_TRANSFER_CHUNK_BYTES": str(chunk)}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.transfer", "serve"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with _channel(f"127.0.0.1:{port}", pki) as channel:
            _wait_serving(channel, process)
            stub = pb_grpc.TransferServiceStub(channel)
            if not sha:
                sha = stub.Upload(_upload_requests(blob_mib * 1024 * 1024), timeout=600).blob.sha256
            _download(stub, sha)  # warm the page cache
            cpu, started = _cpu_seconds(process.pid), time.perf_counter()
            total = sum(_download(stub, sha) for _ in range(rounds))
            elapsed, cpu = time.perf_counter() - started, _cpu_seconds(process.pid) - cpu
    finally:
        process.terminate()
        process.wait(30)
    gib = total / 1024**3
    return (
        f"{chunk // 1024:>5} KiB  {total / elapsed / 1e6:8.0f} MB/s  {cpu / gib:6.2f} server CPU s/GiB|{sha}"
    )


async def _with_auth(work: Path, url: str, pki: Path) -> tuple[object, str]:
    key = work / "jwt.pem"
    create_key_file(key)
    settings = AuthSettings(env="dev", database_url=url, pki_dir=pki, listen="127.0.0.1:0", jwt_key_file=key)
    auth = build_auth(settings)
    port = await auth.server.start()
    return auth, f"127.0.0.1:{port}"


async def main_async(blob_mib: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="convoy-bench-") as scratch:
        work = Path(scratch)
        pg = LocalPostgres(work / "pg", durable=False)
        pg.start()
        try:
            pg.create_database("bench")
            url = pg.url("bench")
            await asyncio.to_thread(migrate, url, "services.auth", AUTH_SCHEMA)
            await asyncio.to_thread(migrate, url, "services.transfer", TRANSFER_SCHEMA)
            pki = work / "pki"
            write_pki_dir(pki, ["auth", "transfer", "scheduler"])
            auth, auth_target = await _with_auth(work, url, pki)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("CONVOY_")},
                "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "gen")]),
                "CONVOY_ENV": "dev", "CONVOY_DATABASE_URL": url, "CONVOY_PKI_DIR": str(pki),
                "CONVOY_TRANSFER_AUTH_TARGET": auth_target, "CONVOY_TRANSFER_STORAGE_ROOT": str(work / "blobs"),
                "CONVOY_LOG_LEVEL": "WARNING",
            }  # fmt: skip
            print(f"download of a {blob_mib} MiB blob, {rounds} rounds, sync client, mTLS on loopback")
            sha = ""
            for chunk in CHUNK_SIZES:
                line, sha = (await asyncio.to_thread(_measure, env, pki, chunk, blob_mib, rounds, sha)).split(
                    "|"
                )
                print(line, flush=True)
            await auth.server.stop()  # type: ignore[attr-defined]
            await auth.db.close()  # type: ignore[attr-defined]
        finally:
            pg.stop(fast=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=256, help="size of the blob")
    parser.add_argument("--rounds", type=int, default=3, help="downloads per chunk size")
    args = parser.parse_args()
    asyncio.run(main_async(args.mib, args.rounds))


if __name__ == "__main__":
    main()
