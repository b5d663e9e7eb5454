"""Packages through the REST API: upload real deb/rpm/tar/image artifacts, list, download with ranges, delete."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import generate_latest

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.catalog.v1 import catalog_pb2_grpc as catalog_grpc
from convoy.transfer.v1 import transfer_pb2_grpc as transfer_grpc
from devstack.postgres import LocalPostgres
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from tests.support.fullstack import FullStack, full_stack
from tests.support.metrics import sample_value
from tests.support.mistakes import wrong_bodies
from tests.support.packages import (
    MALICIOUS_CASES,
    build_deb,
    build_image_archive,
    build_malicious_tar,
    build_rpm,
    build_tarball,
)
from tests.support.stack import AuthStack
from tests.support.transfer import (
    staged_files,
    stored_blobs,
    upload_bytes,
)
from tests.support.users import Users, audit_by_request, grpc_auth, http_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def stack(
    postgres: LocalPostgres, auth_stack: AuthStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FullStack]:
    async with full_stack(postgres, auth_stack, tmp_path_factory.mktemp("packages")) as running:
        yield running


async def upload(
    client: httpx.AsyncClient, token: str, path: Path, rid: str = "", **fields: str
) -> httpx.Response:
    with path.open("rb") as file:
        return await client.post(
            "/api/v1/packages",
            headers=http_auth(token, rid),
            data=fields,
            files={"file": (path.name, file, "application/octet-stream")},
        )


def assert_store_empty_of(stack: FullStack, sha256: str) -> None:
    assert not [p for p in stored_blobs(stack.storage_root) if p.name == sha256]
    assert staged_files(stack.storage_root) == []


async def test_a_deb_uploads_inspected_and_downloads_whole_and_from_an_offset(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    deb = build_deb(
        tmp_path, "web-front", "1:2.1-3", arch="amd64", depends="libc6 (>= 2.31)", payload_bytes=300_000
    )
    response = await upload(stack.client, users.operator, deb)
    assert response.status_code == 201, response.text
    package = response.json()
    assert (package["software_name"], package["version"], package["arch"]) == (
        "web-front",
        "1:2.1-3",
        "x86_64",
    )
    assert (package["format"], package["os_families"], package["created_by"]) == (
        "deb",
        ["deb"],
        users.operator_name,
    )
    data = deb.read_bytes()
    assert package["artifact_sha256"] == hashlib.sha256(data).hexdigest()
    assert package["artifact_size"] == len(data)

    url = f"/api/v1/packages/{package['id']}/content"
    whole = await stack.client.get(url, headers=http_auth(users.viewer))
    assert whole.status_code == 200 and whole.content == data
    assert (
        whole.headers["accept-ranges"] == "bytes"
        and whole.headers["etag"] == f'"{package["artifact_sha256"]}"'
    )
    offset = 123_457
    rest = await stack.client.get(url, headers={**http_auth(users.viewer), "Range": f"bytes={offset}-"})
    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes {offset}-{len(data) - 1}/{len(data)}"
    assert rest.content == data[offset:]
    assert hashlib.sha256(data[:offset] + rest.content).hexdigest() == package["artifact_sha256"]
    middle = await stack.client.get(url, headers={**http_auth(users.viewer), "Range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.content == data[10:20]
    beyond = await stack.client.get(url, headers={**http_auth(users.viewer), "Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    head = await stack.client.head(url, headers=http_auth(users.viewer))
    assert (
        head.status_code == 200 and head.headers["content-length"] == str(len(data)) and head.content == b""
    )


async def test_an_rpm_a_script_tarball_and_an_image_come_back_with_their_own_names(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    rpm = await upload(stack.client, users.operator, build_rpm(tmp_path, "agentd", "1.0", release="2"))
    assert rpm.status_code == 201, rpm.text
    assert [rpm.json()[k] for k in ("software_name", "version", "release", "arch", "format")] == [
        "agentd", "1.0", "2", "noarch", "rpm",
    ]  # fmt: skip
    tar = await upload(stack.client, users.operator, build_tarball(tmp_path, "ops-tool", "3.2.0"))
    assert tar.status_code == 201, tar.text
    assert [tar.json()[k] for k in ("software_name", "version", "format", "os_families")] == [
        "ops-tool", "3.2.0", "tar", ["deb", "rpm"],
    ]  # fmt: skip
    image = await upload(
        stack.client, users.operator, build_image_archive(tmp_path, "registry:5000/team/api:1.4")
    )
    assert image.status_code == 201, image.text
    assert [image.json()[k] for k in ("software_name", "version", "format", "arch")] == [
        "api", "1.4", "container", "x86_64",
    ]  # fmt: skip


async def test_a_tarball_without_manifest_takes_its_name_from_the_form(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    bare = build_tarball(tmp_path, "unused", "0", manifest=False)
    missing = await upload(stack.client, users.operator, bare)
    assert missing.status_code == 400 and "software_name and version" in missing.json()["error"]["message"]
    named = await upload(stack.client, users.operator, bare, software_name="bare-tool", version="1.0~rc1",
                         os_families="rpm")  # fmt: skip
    assert named.status_code == 201, named.text
    assert (named.json()["software_name"], named.json()["os_families"]) == ("bare-tool", ["rpm"])


async def test_the_same_bytes_are_stored_once_and_go_with_their_last_package(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    bare = build_tarball(tmp_path, "x", "0", manifest=False, files={"install.sh": "#!/bin/sh\necho shared\n"})
    sha = hashlib.sha256(bare.read_bytes()).hexdigest()
    first = await upload(stack.client, users.operator, bare, software_name="shared-a", version="1.0")
    second = await upload(stack.client, users.operator, bare, software_name="shared-b", version="1.0")
    assert first.status_code == second.status_code == 201
    again = await upload(stack.client, users.operator, bare, software_name="shared-a", version="1.0")
    assert again.status_code == 409 and first.json()["id"] in again.json()["error"]["message"]
    assert len([p for p in stored_blobs(stack.storage_root) if p.name == sha]) == 1

    for package, left in ((first, 1), (second, 0)):
        gone = await stack.client.delete(
            f"/api/v1/packages/{package.json()['id']}", headers=http_auth(users.operator)
        )
        assert gone.status_code == 204
        assert len([p for p in stored_blobs(stack.storage_root) if p.name == sha]) == left


async def test_a_deb_declared_as_rpm_is_refused_and_leaves_nothing(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "liar", "1.0")
    response = await upload(stack.client, users.operator, deb, format="rpm")
    assert response.status_code == 400
    assert "declared rpm but the content is a deb" in response.json()["error"]["message"]
    assert_store_empty_of(stack, hashlib.sha256(deb.read_bytes()).hexdigest())


async def test_a_form_that_contradicts_the_package_is_refused_and_leaves_nothing(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "honest", "1.0")
    response = await upload(stack.client, users.operator, deb, software_name="other")
    assert response.status_code == 400 and "contradicts the package" in response.json()["error"]["message"]
    assert_store_empty_of(stack, hashlib.sha256(deb.read_bytes()).hexdigest())


@pytest.mark.parametrize("case", sorted(MALICIOUS_CASES))
async def test_a_malicious_tarball_is_refused_with_its_reason_and_leaves_nothing(
    stack: FullStack, users: Users, tmp_path: Path, case: str
) -> None:
    tarball = build_malicious_tar(tmp_path, case)
    response = await upload(stack.client, users.operator, tarball, software_name="evil", version="1.0")
    assert response.status_code == 400, response.text
    assert MALICIOUS_CASES[case] in response.json()["error"]["message"]
    assert_store_empty_of(stack, hashlib.sha256(tarball.read_bytes()).hexdigest())


async def test_random_bytes_and_malformed_requests_are_client_errors(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00not a package\xff" * 1000)
    refused = await upload(stack.client, users.operator, junk)
    assert (
        refused.status_code == 400
        and "not a deb, rpm, tar or container" in refused.json()["error"]["message"]
    )
    no_file = await stack.client.post(
        "/api/v1/packages", headers=http_auth(users.operator), files={"software_name": (None, "x")}
    )
    assert no_file.status_code == 400 and "field 'file'" in no_file.json()["error"]["message"]
    as_json = await stack.client.post(
        "/api/v1/packages", headers=http_auth(users.operator), json={"file": "x"}
    )
    assert as_json.status_code == 415
    unknown = await upload(stack.client, users.operator, build_deb(tmp_path, "typo", "1.0"), colour="red")
    assert unknown.status_code == 400 and "unknown form field" in unknown.json()["error"]["message"]
    for path, status in (
        ("/api/v1/packages/not-a-uuid", 400),
        (f"/api/v1/packages/{'0' * 8}-0000-4000-8000-{'0' * 12}", 404),
    ):
        assert (await stack.client.get(path, headers=http_auth(users.viewer))).status_code == status


async def test_an_upload_over_the_gateway_limit_is_a_413(
    postgres: LocalPostgres, auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    async with full_stack(postgres, auth_stack, tmp_path / "small", max_upload_bytes=64 * 1024) as small:
        big = build_deb(tmp_path, "too-big", "1.0", payload_bytes=512 * 1024)
        response = await upload(small.client, users.operator, big)
        assert response.status_code == 413 and "limit" in response.json()["error"]["message"]
        assert stored_blobs(small.storage_root) == [] and staged_files(small.storage_root) == []


async def test_a_streamed_upload_without_a_length_is_cut_off_at_the_limit(
    postgres: LocalPostgres, auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    limit = 64 * 1024
    boundary = "convoy-test-boundary"

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.deb"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(32):  # 512 KiB in all, with no Content-Length to refuse it early
            yield b"\0" * 16 * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    async with full_stack(postgres, auth_stack, tmp_path / "chunked", max_upload_bytes=limit) as small:
        response = await small.client.post(
            "/api/v1/packages",
            content=body(),
            headers={
                **http_auth(users.operator),
                "content-type": f"multipart/form-data; boundary={boundary}",
            },
        )
        assert response.status_code == 413, response.text
        # The gateway cancelled its call to transfer, which then drops the partial file.
        async with asyncio.timeout(10):
            while staged_files(small.storage_root):
                await asyncio.sleep(0.05)
        assert stored_blobs(small.storage_root) == []


async def test_a_viewer_reads_but_may_not_upload_and_the_refusal_is_audited(
    stack: FullStack, auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    rid = request_id("pkg")
    refused = await upload(stack.client, users.viewer, build_deb(tmp_path, "nope", "1.0"), rid=rid)
    assert refused.status_code == 403
    records = await audit_by_request(auth_stack, users.admin, rid)
    assert [(r.action, r.result) for r in records] == [("package.create", 2)]  # AUDIT_RESULT_DENIED
    listed = await stack.client.get("/api/v1/packages", headers=http_auth(users.viewer))
    assert listed.status_code == 200


async def test_versions_sort_by_the_formats_own_rules(stack: FullStack, users: Users, tmp_path: Path) -> None:
    versions = ["1.0", "1:1.0", "1.9", "2.0", "1.0~rc1", "1.10"]
    for version in versions:
        response = await upload(stack.client, users.operator, build_deb(tmp_path, "ordered", version))
        assert response.status_code == 201, response.text
    listed = await stack.client.get("/api/v1/software/ordered/versions", headers=http_auth(users.viewer))
    assert [p["version"] for p in listed.json()["items"]] == ["1:1.0", "2.0", "1.10", "1.9", "1.0", "1.0~rc1"]
    software = await stack.client.get(
        "/api/v1/software", params={"q": "ordered"}, headers=http_auth(users.viewer)
    )
    assert [(s["name"], s["latest_version"], s["version_count"]) for s in software.json()["items"]] == [
        ("ordered", "1:1.0", 6)
    ]


async def test_a_referenced_package_cannot_be_deleted_and_its_profile_can_change(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    created = await upload(stack.client, users.operator, build_deb(tmp_path, "pinned", "1.0"))
    package_id = created.json()["id"]
    profile = {
        "restart_service": "pinned.service",
        "health_check": {"http_url": "http://127.0.0.1:8080/healthz", "timeout_seconds": 30},
    }
    patched = await stack.client.patch(
        f"/api/v1/packages/{package_id}", headers=http_auth(users.operator), json={"deploy_profile": profile}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["deploy_profile"]["health_check"]["http_url"] == profile["health_check"]["http_url"]
    bad = await stack.client.patch(
        f"/api/v1/packages/{package_id}", headers=http_auth(users.operator),
        json={"deploy_profile": {"health_check": {"command": ["true"], "http_url": "http://127.0.0.1/"}}},
    )  # fmt: skip
    assert bad.status_code == 400

    holder = "scheduler.deployment:7"
    async with stack.catalog.channel("scheduler") as channel:
        await catalog_grpc.CatalogServiceStub(channel).AddReference(
            catalog_pb.AddReferenceRequest(package_id=package_id, holder=holder), timeout=10
        )
    refused = await stack.client.delete(f"/api/v1/packages/{package_id}", headers=http_auth(users.operator))
    assert refused.status_code == 409 and holder in refused.json()["error"]["message"]
    async with stack.catalog.channel("scheduler") as channel:
        await catalog_grpc.CatalogServiceStub(channel).RemoveReference(
            catalog_pb.RemoveReferenceRequest(package_id=package_id, holder=holder), timeout=10
        )
    deleted = await stack.client.delete(f"/api/v1/packages/{package_id}", headers=http_auth(users.operator))
    assert deleted.status_code == 204
    assert (
        await stack.client.get(f"/api/v1/packages/{package_id}", headers=http_auth(users.viewer))
    ).status_code == 404


async def test_no_malformed_package_request_is_a_server_error(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    created = await upload(stack.client, users.operator, build_deb(tmp_path, "fuzzed", "1.0"))
    url = f"/api/v1/packages/{created.json()['id']}"
    valid = {"description": "d", "deploy_profile": {"restart_service": "x.service"}, "signature": ""}
    faults = []
    for body in wrong_bodies(valid):
        response = await stack.client.patch(
            url, content=body, headers={**http_auth(users.operator), "content-type": "application/json"}
        )
        if response.status_code >= 500:
            faults.append(f"PATCH {body[:80]} -> {response.status_code}")
    for params in ({"format": "zip"}, {"os_family": "win"}, {"page_size": "-1"}, {"page_token": "%%%"},
                   {"q": "\x00"}, {"arch": "x" * 5000}, {"software_name": "a\x00b"}):  # fmt: skip
        response = await stack.client.get("/api/v1/packages", params=params, headers=http_auth(users.viewer))
        if response.status_code >= 500:
            faults.append(f"GET {params} -> {response.status_code}")
    assert faults == []


# Hand-written bodies and raw ASGI calls: what a hostile or broken client can send, and a client that
# goes away, which an HTTP client library cannot act out.

BOUNDARY = "convoy-edge-boundary"
FORM_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CLOSING = f"--{BOUNDARY}--\r\n".encode()
NEXT_PART = f"--{BOUNDARY}\r\n".encode()


def form_part(name: str, data: bytes, filename: str | None = None, *, disposition: str = "") -> bytes:
    disposition = disposition or f'form-data; name="{name}"' + (
        f'; filename="{filename}"' if filename is not None else ""
    )
    return NEXT_PART + f"Content-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


async def post_form(stack: FullStack, token: str, body: bytes | AsyncIterator[bytes]) -> httpx.Response:
    headers = {**http_auth(token), "content-type": FORM_TYPE}
    return await stack.client.post("/api/v1/packages", content=body, headers=headers)


def stored(stack: FullStack, data: bytes) -> bool:
    sha = hashlib.sha256(data).hexdigest()
    return any(path.name == sha for path in stored_blobs(stack.storage_root))


async def wait_until_staging_is_empty(stack: FullStack) -> None:
    """Transfer drops a cancelled upload's temp file when the cancellation reaches it."""
    async with asyncio.timeout(10):
        while staged_files(stack.storage_root):
            await asyncio.sleep(0.05)


@asynccontextmanager
async def raw_gateway(stack: FullStack, **settings: Any) -> AsyncIterator[FastAPI]:
    """The gateway app itself, its lifespan running, in front of `stack` (for raw ASGI calls)."""
    targets = {"transfer_target": stack.transfer.target, "catalog_target": stack.catalog.target}
    app = create_app(
        GatewaySettings(
            env="dev", pki_dir=stack.auth.pki_dir, auth_target=stack.auth.target, **{**targets, **settings}
        )
    )
    async with app.router.lifespan_context(app):
        async with asyncio.timeout(10):
            while app.state.upstreams.verifier is None:
                await asyncio.sleep(0.05)
        yield app


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def asgi_call(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    receive: Receive,
    *,
    spec: str = "2.3",
    on_send: Send | None = None,
) -> list[dict[str, Any]]:
    """The messages the app sends for one request whose body (and disconnect) `receive` acts out."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if on_send is not None:
            await on_send(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 40001),
        "server": ("gateway.test", 80),
    }
    await app(scope, receive, send)
    return sent


def body_then(pieces: list[bytes], last: bytes | None, pause: float) -> Receive:
    """Delivers `pieces`, waits `pause` (long enough for transfer to store a finished file), then either
    the `last` piece or, when it is None, a disconnect: the client went away."""
    queue = list(pieces)

    async def receive() -> dict[str, Any]:
        if queue:
            return {"type": "http.request", "body": queue.pop(0), "more_body": True}
        await asyncio.sleep(pause)
        if last is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": last, "more_body": False}

    return receive


def after_boundary(part: bytes) -> bytes:
    """A part without its opening boundary line, to follow a piece that ends with that line."""
    return part.removeprefix(NEXT_PART)


@pytest.mark.parametrize(
    ("case", "head", "tail", "status"),
    [
        ("disconnect", b"", None, 499),  # the client goes away before the closing boundary
        ("second-file", b"", after_boundary(form_part("file", b"second", "b.deb")) + CLOSING, 400),
        (
            "field-twice",
            form_part("version", b"1.0"),
            after_boundary(form_part("version", b"1")) + CLOSING,
            400,
        ),
        ("unknown-field", b"", after_boundary(form_part("colour", b"red")) + CLOSING, 400),
        ("malformed", b"", b"broken header\r\n\r\n", 400),
    ],
    ids=["disconnect", "second-file", "field-twice", "unknown-field", "malformed"],
)
async def test_a_form_that_fails_after_its_file_part_leaves_nothing_behind(
    stack: FullStack, users: Users, tmp_path: Path, case: str, head: bytes, tail: bytes | None, status: int
) -> None:
    deb = build_deb(tmp_path, f"late-{case}", "1.0").read_bytes()
    # The file part and the next part's boundary: the file is complete, the form is not.
    first = head + form_part("file", deb, "late.deb") + NEXT_PART
    async with raw_gateway(stack) as app:
        headers = {**http_auth(users.operator), "content-type": FORM_TYPE}
        sent = await asgi_call(app, "POST", "/api/v1/packages", headers, body_then([first], tail, 0.5))
    assert sent[0]["status"] == status
    await wait_until_staging_is_empty(stack)
    assert not stored(stack, deb)


async def test_a_body_cut_after_a_part_boundary_is_refused_and_leaves_nothing(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "cut-short", "1.0").read_bytes()
    # The next part's boundary line, then nothing: the file part itself is whole.
    response = await post_form(stack, users.operator, form_part("file", deb, "a.deb") + NEXT_PART)
    assert response.status_code == 400 and "closing boundary" in response.json()["error"]["message"]
    await wait_until_staging_is_empty(stack)
    assert not stored(stack, deb)


async def test_leading_blank_lines_an_epilogue_and_odd_file_parts_are_accepted(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    star = build_deb(tmp_path, "named-by-star", "1.0").read_bytes()
    rfc5987 = "form-data; name=\"file\"; filename*=UTF-8''%E8%BD%AF%E4%BB%B6.deb"
    no_filename = build_deb(tmp_path, "no-filename", "1.0").read_bytes()
    odd_name = build_deb(tmp_path, "odd-name", "1.0").read_bytes()
    bodies = {
        "filename*": form_part("file", star, disposition=rfc5987) + CLOSING,
        "no filename": b"\r\n" + form_part("file", no_filename) + CLOSING + b"epilogue, ignored",
        # Transfer refuses names it cannot show (too long, control characters); the gateway tidies them.
        "long name": form_part("file", odd_name, "\u8f6f\t" * 200 + ".deb") + CLOSING,
    }
    for what, body in bodies.items():
        response = await post_form(stack, users.operator, body)
        assert response.status_code == 201, (what, response.text)


async def test_a_file_arriving_in_one_piece_larger_than_a_grpc_message_uploads(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    big = build_tarball(
        tmp_path, "one-piece", "1.0", files={"install.sh": "#!/bin/sh\n", "data.bin": os.urandom(9 << 20)}
    )
    # httpx hands bytes content to the app as one piece: 9 MiB, above gRPC's 4 MiB default message size.
    response = await post_form(stack, users.operator, form_part("file", big.read_bytes(), big.name) + CLOSING)
    assert response.status_code == 201, response.text
    assert response.json()["artifact_size"] == big.stat().st_size


@pytest.mark.parametrize(
    ("field", "fragment"),
    [(b"colour", "unknown form field 'colour'"), (b"format", "format must be one of")],
)
async def test_a_bad_field_before_the_file_is_refused_before_the_file_is_read(
    stack: FullStack, users: Users, field: bytes, fragment: str
) -> None:
    pieces = {"sent": 0}

    async def body() -> AsyncIterator[bytes]:
        yield form_part(field.decode(), b"zip")
        yield NEXT_PART + b'Content-Disposition: form-data; name="file"; filename="x.deb"\r\n\r\n'
        for _ in range(64):
            pieces["sent"] += 1
            yield b"\0" * 64 * 1024
        yield b"\r\n" + CLOSING

    response = await post_form(stack, users.operator, body())
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    assert pieces["sent"] < 8


async def test_many_small_fields_are_refused_at_the_first_unknown_one(stack: FullStack, users: Users) -> None:
    fields = b"".join(form_part(f"field{i}", b"x" * 8000) for i in range(2000))  # 16 MB of fields
    consumed = {"bytes": 0}

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(fields), 64 * 1024):
            consumed["bytes"] = start
            yield fields[start : start + 64 * 1024]

    response = await post_form(stack, users.operator, body())
    assert response.status_code == 400 and "field0" in response.json()["error"]["message"]
    assert consumed["bytes"] < 1024 * 1024


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "multipart/form-data; boundary=" + "b" * 300}, 400),
        ({"content-type": FORM_TYPE, "content-length": "\u00b2"}, 400),
        ({"content-type": FORM_TYPE, "content-length": "9" * 5000}, 413),
    ],
    ids=["long-boundary", "superscript-length", "huge-length"],
)
async def test_hostile_headers_are_client_errors(
    stack: FullStack, users: Users, headers: dict[str, str], status: int
) -> None:
    async with raw_gateway(stack) as app:
        all_headers = {**http_auth(users.operator), **headers}
        body = body_then([], CLOSING, 0)
        sent = await asgi_call(app, "POST", "/api/v1/packages", all_headers, body)
    assert sent[0]["status"] == status
    assert b'"error":{"code"' in sent[1]["body"]


async def test_an_epilogue_without_end_is_cut_off_at_the_limit(
    postgres: LocalPostgres, auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "endless", "1.0").read_bytes()
    sent = {"pieces": 0}

    async def body() -> AsyncIterator[bytes]:
        yield form_part("file", deb, "a.deb") + CLOSING
        for _ in range(1000):  # 64 MiB of epilogue the parser would silently skip
            sent["pieces"] += 1
            yield b"x" * 64 * 1024

    async with full_stack(postgres, auth_stack, tmp_path / "s", max_upload_bytes=256 * 1024) as small:
        response = await post_form(small, users.operator, body())
        assert response.status_code == 413
        assert sent["pieces"] < 20
        await wait_until_staging_is_empty(small)
        assert not stored(small, deb)


async def test_transfers_own_lower_limit_is_a_client_error_with_its_reason(
    postgres: LocalPostgres,
    auth_stack: AuthStack,
    users: Users,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    big = build_deb(tmp_path, "over-transfer", "1.0", payload_bytes=2 << 20)
    async with full_stack(postgres, auth_stack, tmp_path, transfer={"max_upload_bytes": 64 * 1024}) as small:
        for _ in range(5):  # whether grpc's reader is parked on the queue depends on timing
            response = await upload(small.client, users.operator, big)
            assert response.status_code == 400, response.text
            assert "exceeds the limit of 65536 bytes" in response.json()["error"]["message"]
        await wait_until_staging_is_empty(small)
        assert stored_blobs(small.storage_root) == []
    # Nothing of the refused calls is left waiting: a request stream still parked on its queue would be
    # reported by asyncio as an error when it is collected.
    gc.collect()
    assert not [r for r in caplog.records if "destroyed but it is pending" in r.getMessage()]


async def test_registration_accepts_the_packages_own_epoch_arch_and_name_spellings(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    rpm = build_rpm(tmp_path, "EpochTool", "2.0", release="3", arch="noarch", epoch=1)
    response = await upload(stack.client, users.operator, rpm, software_name="epochtool", version="2.0-3")
    assert response.status_code == 201, response.text
    package = response.json()
    assert [package[k] for k in ("software_name", "version", "release")] == ["epochtool", "1:2.0", "3"]
    deb = build_deb(tmp_path, "aliased-arch", "1.0", arch="amd64")
    response = await upload(stack.client, users.operator, deb, arch="amd64", version="0:1.0")
    assert response.status_code == 201, response.text
    assert (response.json()["arch"], response.json()["version"]) == ("x86_64", "1.0")
    wrong = await upload(
        stack.client, users.operator, build_rpm(tmp_path, "epochless", "2.0"), version="1:2.0"
    )
    assert wrong.status_code == 400 and "contradicts the package" in wrong.json()["error"]["message"]


async def test_a_blob_this_upload_did_not_create_stays_when_registration_fails(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    data = build_deb(tmp_path, "pre-stored", "1.0").read_bytes()
    async with stack.transfer.channel("gateway") as channel:
        stub = transfer_grpc.TransferServiceStub(channel)
        await upload_bytes(stub, data, "pre.deb", metadata=grpc_auth(users.operator))
    response = await post_form(
        stack,
        users.operator,
        form_part("software_name", b"other") + form_part("file", data, "a.deb") + CLOSING,
    )
    assert response.status_code == 400 and "contradicts" in response.json()["error"]["message"]
    assert stored(stack, data)


@asynccontextmanager
async def blackhole() -> AsyncIterator[tuple[str, list[asyncio.StreamWriter]]]:
    """A TCP address that accepts connections and never answers (a catalog that hangs), and the
    connections it accepted."""
    connections: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda _, writer: connections.append(writer), "127.0.0.1", 0)
    async with server:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}", connections
        for writer in connections:
            writer.close()


@pytest.mark.parametrize("moment", ["blob-stored", "registering"])
async def test_a_request_cancelled_after_transfer_stored_the_blob_deletes_it(
    stack: FullStack, users: Users, tmp_path: Path, moment: str
) -> None:
    """Cancelled (server stopping, client gone) while transfer answers or while catalog registers."""
    data = build_deb(tmp_path, f"cancelled-{moment}", "1.0").read_bytes()
    body = form_part("file", data, "a.deb") + CLOSING
    async with blackhole() as (target, connections), raw_gateway(stack, catalog_target=target) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            headers = {**http_auth(users.operator), "content-type": FORM_TYPE}
            request = asyncio.ensure_future(client.post("/api/v1/packages", content=body, headers=headers))
            async with asyncio.timeout(10):
                # The file appears just before transfer commits and answers; the catalog connection
                # opens with CreatePackage.
                while not (connections if moment == "registering" else stored(stack, data)):
                    await asyncio.sleep(0.001)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
        # Inside: the gateway's channels close with its lifespan, which would cut the delete short.
        async with asyncio.timeout(10):
            while stored(stack, data):
                await asyncio.sleep(0.05)


async def test_a_registration_catalog_refuses_for_being_down_leaves_nothing(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "catalog-down", "1.0")
    async with raw_gateway(stack, catalog_target="127.0.0.1:1") as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            response = await upload(client, users.operator, deb)
    assert response.status_code == 503 and set(response.json()["error"]) == {"code", "message", "request_id"}
    assert not stored(stack, deb.read_bytes())


async def uploaded_deb(
    stack: FullStack, users: Users, tmp_path: Path, name: str, version: str = "1.0"
) -> dict[str, Any]:
    response = await upload(
        stack.client, users.operator, build_deb(tmp_path, name, version, payload_bytes=4096)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_range_forms_if_range_and_head(stack: FullStack, users: Users, tmp_path: Path) -> None:
    package = await uploaded_deb(stack, users, tmp_path, "ranges", "1:2.0-1")
    url = f"/api/v1/packages/{package['id']}/content"
    size, etag = package["artifact_size"], f'"{package["artifact_sha256"]}"'
    whole = (await stack.client.get(url, headers=http_auth(users.viewer))).content

    async def get(method: str = "GET", **headers: str) -> httpx.Response:
        return await stack.client.request(method, url, headers={**http_auth(users.viewer), **headers})

    cases = {
        "bytes=0-0": (206, whole[:1]),
        "bytes=-10": (206, whole[-10:]),
        f"bytes={size - 5}-": (206, whole[-5:]),
        "Bytes = 2 - 3": (206, whole[2:4]),
        "bytes=0-1,4-5": (200, whole),
        "bytes=5-2": (200, whole),
        "pages=1-2": (200, whole),
        f"bytes=0-{'9' * 5000}": (206, whole),
    }
    for header, (status, content) in cases.items():
        response = await get(range=header)
        assert (header, response.status_code, response.content) == (header, status, content)
    assert (await get(range=f"bytes={'9' * 5000}-")).status_code == 416
    # If-Range with another validator: the whole body, even for a range that would be a 416.
    other = await get(range=f"bytes={size + 10}-", **{"if-range": '"other"'})
    assert other.status_code == 200 and other.content == whole
    same = await get(range="bytes=0-0", **{"if-range": etag})
    assert same.status_code == 206 and same.content == whole[:1]
    weak = await get(range="bytes=0-0", **{"if-range": f"W/{etag}"})
    assert weak.status_code == 200
    # Range is defined for GET only (RFC 9110 §14.2): HEAD describes the whole body.
    head = await get("HEAD", range="bytes=0-0")
    assert head.status_code == 200 and head.headers["content-length"] == str(size) and head.content == b""
    disposition = head.headers["content-disposition"]
    assert (
        disposition
        == "attachment; filename=\"ranges_2.0-1_noarch.deb\"; filename*=UTF-8''ranges_2.0-1_noarch.deb"
    )


async def test_a_blob_missing_from_transfer_is_a_server_error_in_the_usual_shape(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    package = await uploaded_deb(stack, users, tmp_path, "lost-bytes")
    for path in stored_blobs(stack.storage_root):
        if path.name == package["artifact_sha256"]:
            path.unlink()
    response = await stack.client.get(
        f"/api/v1/packages/{package['id']}/content", headers=http_auth(users.viewer)
    )
    assert response.status_code == 503
    assert set(response.json()["error"]) == {"code", "message", "request_id"}


def _transfer_sample(name: str) -> float:
    labels = {"direction": "download"}
    return sample_value(generate_latest().decode(), name, labels) or 0.0


@pytest.mark.parametrize("spec", ["2.3", "2.4"])  # 2.4 servers report a gone client by a failing send
async def test_a_client_leaving_mid_download_cancels_transfers_stream(
    stack: FullStack, users: Users, tmp_path: Path, spec: str, caplog: pytest.LogCaptureFixture
) -> None:
    size = 32 << 20
    tarball = build_tarball(
        tmp_path,
        f"leaving-{spec}",
        "1.0",
        files={"install.sh": "#!/bin/sh\n", "d": os.urandom(size)},
        gzip=False,
    )
    with tarball.open("rb") as file:
        created = await stack.client.post(
            "/api/v1/packages", headers=http_auth(users.operator), files={"file": (tarball.name, file)}
        )
    sent_before = _transfer_sample("convoy_transfer_bytes_total")
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def leave_after_first_chunk(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            if gone.is_set() and spec == "2.4":
                raise OSError("connection reset by peer")
            gone.set()
            await asyncio.sleep(0.01)

    path = f"/api/v1/packages/{created.json()['id']}/content"
    async with raw_gateway(stack) as app:
        with contextlib.suppress(OSError):  # what a 2.4 server sees of the reset; it closes the connection
            await asgi_call(
                app, "GET", path, http_auth(users.viewer), receive, spec=spec, on_send=leave_after_first_chunk
            )
    async with asyncio.timeout(10):
        while _transfer_sample("convoy_transfer_active_streams") > 0:
            await asyncio.sleep(0.05)
    assert _transfer_sample("convoy_transfer_bytes_total") - sent_before < size / 2
    # A client hanging up is not a server fault: nothing is logged as an unhandled error.
    assert not [r for r in caplog.records if r.getMessage().startswith("unhandled error")]
