"""Packages through the REST API: upload real deb/rpm/tar/image artifacts, list, download with ranges, delete."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.catalog.v1 import catalog_pb2_grpc as catalog_grpc
from devstack.postgres import LocalPostgres
from tests.support.fullstack import FullStack, full_stack
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
from tests.support.transfer import staged_files, stored_blobs
from tests.support.users import Users, audit_by_request, http_auth, request_id

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
