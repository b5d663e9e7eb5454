"""Downloads: resume from the part file after interruptions, verification, refusals; and one against a
real transfer server over mTLS with the synchronous client the agent uses."""

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from convoy_agent.download import (
    RETRY_DELAY,
    DownloadCancelled,
    DownloadError,
    discard,
    download,
    grpc_stream,
)

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from services.kit.tls import channel_credentials
from tests.support.packages import build_deb
from tests.support.stack import AuthStack
from tests.support.transfer import start_transfer, transfer_database, transfer_settings, upload_file
from tests.support.users import Users, grpc_auth

CHUNK = 64 * 1024
DATA = hashlib.shake_256(b"convoy agent download").digest(CHUNK * 5 + 1234)
SHA = hashlib.sha256(DATA).hexdigest()


class Server:
    """Answers open_stream(offset) like transfer does: header, then chunks from the offset. Can break the
    stream after a number of bytes, corrupt a byte, or refuse; records every offset asked for."""

    def __init__(self, data: bytes = DATA, *, break_after: list[int] | None = None) -> None:
        self.data = data
        self.break_after = list(break_after or [])
        self.offsets: list[int] = []
        self.corrupt_at: int | None = None
        self.refuse: grpc.RpcError | None = None

    def __call__(self, offset: int) -> Iterator[pb.DownloadResponse]:
        self.offsets.append(offset)
        if self.refuse is not None:
            raise self.refuse
        return self._stream(offset, self.break_after.pop(0) if self.break_after else None)

    def _stream(self, offset: int, limit: int | None) -> Iterator[pb.DownloadResponse]:
        sha = hashlib.sha256(self.data).hexdigest()
        yield pb.DownloadResponse(
            header=pb.DownloadHeader(sha256=sha, total_size=len(self.data), chunk_size=CHUNK, offset=offset)
        )
        sent = 0
        for start in range(offset, len(self.data), CHUNK):
            chunk = bytearray(self.data[start : start + CHUNK])
            if self.corrupt_at is not None and start <= self.corrupt_at < start + len(chunk):
                chunk[self.corrupt_at - start] ^= 0xFF
            if limit is not None and sent + len(chunk) > limit:
                yield pb.DownloadResponse(chunk=bytes(chunk[: limit - sent]))
                raise ConnectionResetError("the link went down")
            sent += len(chunk)
            yield pb.DownloadResponse(chunk=bytes(chunk))


def no_sleep(seconds: float) -> None:
    pass


def test_download_whole(tmp_path: Path) -> None:
    server = Server()
    seen: list[tuple[int, int]] = []
    path = download(server, SHA, len(DATA), str(tmp_path), lambda done, total: seen.append((done, total)))
    assert Path(path) == tmp_path / "downloads" / f"{SHA}.done"
    assert Path(path).read_bytes() == DATA
    assert server.offsets == [0]
    assert seen[-1] == (len(DATA), len(DATA))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert not (tmp_path / "downloads" / f"{SHA}.part").exists()
    # A second call finds the finished file and asks for nothing.
    assert download(server, SHA, len(DATA), str(tmp_path)) == path
    assert server.offsets == [0]


def test_broken_streams_resume_where_they_stopped(tmp_path: Path) -> None:
    server = Server(break_after=[CHUNK + 100, 2 * CHUNK, 10])
    path = download(server, SHA, len(DATA), str(tmp_path), sleep=no_sleep)
    assert Path(path).read_bytes() == DATA
    assert server.offsets == [0, CHUNK + 100, 3 * CHUNK + 100, 3 * CHUNK + 110]


def test_a_restarted_agent_resumes_from_the_part_file(tmp_path: Path) -> None:
    """The first process dies mid-way (simulated by cancelling); the next one sends only the rest."""
    first = Server()
    received: list[int] = []

    def cancel_after_two_chunks() -> bool:
        return len(received) >= 2

    with pytest.raises(DownloadCancelled):
        download(
            first,
            SHA,
            len(DATA),
            str(tmp_path),
            lambda done, total: received.append(done),
            cancel_after_two_chunks,
        )
    part = tmp_path / "downloads" / f"{SHA}.part"
    assert part.stat().st_size == 2 * CHUNK
    second = Server()
    path = download(second, SHA, len(DATA), str(tmp_path))
    assert second.offsets == [2 * CHUNK]
    assert Path(path).read_bytes() == DATA


def test_a_part_with_wrong_bytes_is_thrown_away_and_fetched_again(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / f"{SHA}.part").write_bytes(b"\0" * (CHUNK + 5))  # a torn write: right size, wrong bytes
    server = Server()
    path = download(server, SHA, len(DATA), str(tmp_path), sleep=no_sleep)
    assert server.offsets == [CHUNK + 5, 0]
    assert Path(path).read_bytes() == DATA


def test_a_part_longer_than_the_blob_is_discarded(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / f"{SHA}.part").write_bytes(DATA + b"extra")
    server = Server()
    assert Path(download(server, SHA, len(DATA), str(tmp_path))).read_bytes() == DATA
    assert server.offsets == [0]


def test_bytes_that_never_match_fail_and_leave_nothing(tmp_path: Path) -> None:
    server = Server()
    server.corrupt_at = 3 * CHUNK + 1
    with pytest.raises(DownloadError, match="do not match sha256"):
        download(server, SHA, len(DATA), str(tmp_path), sleep=no_sleep)
    assert server.offsets == [0, 0]
    assert os.listdir(tmp_path / "downloads") == []


def test_a_wrong_size_or_blob_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="the assignment 10"):
        download(Server(), SHA, 10, str(tmp_path))
    other = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(DownloadError, match="instead of"):
        download(Server(), other, len(DATA), str(tmp_path), sleep=no_sleep)
    with pytest.raises(DownloadError, match="is not a sha256"):
        download(Server(), "../../etc/passwd", 1, str(tmp_path))


class Refusal(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "the grant does not cover this blob"


def test_refusals_are_not_retried_and_outages_are_bounded(tmp_path: Path) -> None:
    server = Server()
    server.refuse = Refusal(grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(DownloadError, match=r"refused the download \(PERMISSION_DENIED\): the grant"):
        download(server, SHA, len(DATA), str(tmp_path), sleep=no_sleep)
    assert server.offsets == [0]

    server = Server()
    server.refuse = Refusal(grpc.StatusCode.UNAVAILABLE)
    delays: list[float] = []
    with pytest.raises(DownloadError, match="kept failing"):
        download(server, SHA, len(DATA), str(tmp_path), retries=3, sleep=delays.append)
    assert len(server.offsets) == 4
    # Each wait in a row doubles, drawn from the upper half of its ceiling.
    ceilings = [RETRY_DELAY * 2**failures for failures in range(3)]
    assert len(delays) == 3
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), (delays, ceilings)


def test_discard(tmp_path: Path) -> None:
    path = download(Server(), SHA, len(DATA), str(tmp_path))
    discard(str(tmp_path), SHA)
    assert not os.path.exists(path)


@pytest.mark.asyncio(loop_scope="session")
async def test_real_transfer_server_with_resume(
    postgres: LocalPostgres,
    pki_dir: Path,
    auth_stack: AuthStack,
    users: Users,
    tmp_path: Path,
) -> None:
    """The sync client in a worker thread (as the agent runs it) against the real server: an interrupted
    download resumes from the part file and the result is the uploaded file."""
    settings = transfer_settings(
        await transfer_database(postgres),
        pki_dir,
        tmp_path / "artifacts",
        auth_stack.target,
        chunk_bytes=CHUNK,
    )
    deb = build_deb(tmp_path, "bulk", "1.0", payload_bytes=700_000)
    async with start_transfer(settings) as stack:
        async with stack.channel() as channel:
            reply = await upload_file(
                pb_grpc.TransferServiceStub(channel), deb, metadata=grpc_auth(users.operator)
            )
        sha256, size = reply.blob.sha256, reply.blob.size
        state = tmp_path / "state"

        def fetch(stop_after: int | None) -> str:
            credentials = channel_credentials(stack.settings.tls_files("scheduler"))
            options = [("grpc.ssl_target_name_override", "transfer")]
            with grpc.secure_channel(stack.target, credentials, options=options) as sync_channel:
                stub = pb_grpc.TransferServiceStub(sync_channel)
                opener = grpc_stream(stub, pb.DownloadRequest, sha256, grant="", timeout=60)
                got: list[int] = []
                return download(
                    opener,
                    sha256,
                    size,
                    str(state),
                    lambda done, total: got.append(done),
                    (lambda: bool(got) and got[-1] >= stop_after) if stop_after else None,
                )

        with pytest.raises(DownloadCancelled):
            await asyncio.to_thread(fetch, 3 * CHUNK)
        part = state / "downloads" / f"{sha256}.part"
        assert 3 * CHUNK <= part.stat().st_size < size
        path = await asyncio.to_thread(fetch, None)
        assert Path(path).read_bytes() == deb.read_bytes()


def test_an_outage_is_retried_until_the_deadline_not_a_number_of_times(tmp_path: Path) -> None:
    server = Server()
    server.refuse = Refusal(grpc.StatusCode.UNAVAILABLE)
    delays: list[float] = []

    def give_up_at() -> float:
        # The deadline is far while fewer than 20 attempts failed, then it has passed.
        return float("inf") if len(delays) < 20 else 0.0

    with pytest.raises(DownloadError, match="kept failing until the deadline"):
        download(server, SHA, len(DATA), str(tmp_path), retries=3, sleep=delays.append, give_up_at=give_up_at)
    assert len(server.offsets) == 21 and len(delays) == 20


def test_discard_refuses_what_is_not_a_sha256(tmp_path: Path) -> None:
    victim = tmp_path / "victim.part"
    victim.write_text("keep me")
    (tmp_path / "state" / "downloads").mkdir(parents=True)
    for name in ("../../victim", "../victim", SHA + "\n", SHA[:-1]):
        with pytest.raises(ValueError, match="is not a sha256"):
            discard(str(tmp_path / "state"), name)
    assert victim.read_text() == "keep me"
