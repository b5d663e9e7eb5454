"""A software's versions newest first, the newest installable package, and the software overview."""

from __future__ import annotations

import uuid

import grpc
import pytest

from convoy.catalog.v1 import catalog_pb2 as pb
from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from tests.support.catalog import MemoryTransfer
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

Stub = pb_grpc.CatalogServiceStub
DEB, RPM, TAR = pb.FORMAT_DEB, pb.FORMAT_RPM, pb.FORMAT_TAR
FAMILY_DEB, FAMILY_RPM = pb.PACKAGE_FAMILY_DEB, pb.PACKAGE_FAMILY_RPM


async def register(
    client: Stub, transfer: MemoryTransfer, users: Users, name: str, version: str, **fields: object
) -> pb.Package:
    values: dict[str, object] = {"format": DEB, "arch": "x86_64", **fields}
    request = pb.CreatePackageRequest(
        software_name=name,
        version=version,
        artifact_sha256=transfer.put(),
        **values,  # type: ignore[arg-type]
    )
    return (await client.CreatePackage(request, metadata=grpc_auth(users.operator), timeout=10)).package


def full(package: pb.Package) -> str:
    return f"{package.version}-{package.release}" if package.HasField("release") else package.version


async def test_versions_come_newest_first_by_debian_rules(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    name = f"deb-{uuid.uuid4().hex[:8]}"
    for version in ("1.0", "1.10", "1.0~rc1", "1:1.0", "1.9", "2.0"):
        await register(client, transfer, users, name, version)
    versions, token = [], ""
    while True:
        request = pb.ListVersionsRequest(software_name=name, page_size=4, page_token=token)
        page = await client.ListVersions(request, metadata=grpc_auth(users.viewer), timeout=10)
        versions += [package.version for package in page.packages]
        token = page.next_page_token
        if not token:
            break
    assert versions == ["1:1.0", "2.0", "1.10", "1.9", "1.0", "1.0~rc1"]


async def test_rpm_versions_order_by_epoch_version_and_release(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    name = f"rpm-{uuid.uuid4().hex[:8]}"
    for version, release in (("1.0", "1"), ("1.0", "2"), ("1.0a", "1"), ("1.0~rc1", "1"), ("1.0^git1", "1")):
        await register(client, transfer, users, name, version, release=release, format=RPM)
    page = await client.ListVersions(
        pb.ListVersionsRequest(software_name=name), metadata=grpc_auth(users.viewer)
    )
    assert [full(p) for p in page.packages] == ["1.0a-1", "1.0^git1-1", "1.0-2", "1.0-1", "1.0~rc1-1"]


async def test_version_filters_treat_noarch_as_installable_everywhere(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    name = f"mix-{uuid.uuid4().hex[:8]}"
    await register(client, transfer, users, name, "1.0", arch="x86_64")
    await register(client, transfer, users, name, "1.1", arch="aarch64")
    await register(client, transfer, users, name, "0.9", arch="noarch")
    await register(client, transfer, users, name, "1.2", release="1", format=RPM)

    async def versions(**fields: object) -> list[str]:
        request = pb.ListVersionsRequest(software_name=name, **fields)  # type: ignore[arg-type]
        page = await client.ListVersions(request, metadata=grpc_auth(users.viewer), timeout=10)
        return [p.version for p in page.packages]

    assert await versions(arch="aarch64") == ["1.1", "0.9"]
    assert await versions(package_family=FAMILY_RPM) == ["1.2"]
    assert await versions(format=DEB, arch="x86_64") == ["1.0", "0.9"]
    error = await _refused(client.ListVersions(pb.ListVersionsRequest(), metadata=grpc_auth(users.viewer)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def _refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_latest_is_the_newest_package_a_node_can_install(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    name = f"fleet-{uuid.uuid4().hex[:8]}"
    await register(client, transfer, users, name, "1.0", arch="x86_64")
    await register(client, transfer, users, name, "2.0", arch="noarch")
    await register(client, transfer, users, name, "1.5", release="1", format=RPM, arch="x86_64")
    await register(client, transfer, users, name, "3.0", release="1", format=RPM, arch="aarch64")
    await register(client, transfer, users, name, "2.5", format=TAR, arch="noarch")

    async def latest(family: int, arch: str, format: int = pb.FORMAT_UNSPECIFIED) -> str:
        request = pb.GetLatestRequest(software_name=name, package_family=family, arch=arch, format=format)
        return full((await client.GetLatest(request, metadata=grpc_auth(users.viewer), timeout=10)).package)

    assert await latest(FAMILY_DEB, "x86_64") == "2.5"
    assert await latest(FAMILY_DEB, "x86_64", DEB) == "2.0"
    assert await latest(FAMILY_DEB, "amd64", DEB) == "2.0"
    assert await latest(FAMILY_RPM, "x86_64") == "2.5"
    assert await latest(FAMILY_RPM, "x86_64", RPM) == "1.5-1"
    assert await latest(FAMILY_RPM, "aarch64") == "3.0-1"
    assert await latest(FAMILY_DEB, "loongarch64") == "2.5"

    missing = pb.GetLatestRequest(software_name=name, package_family=FAMILY_RPM, arch="ppc64le", format=RPM)
    error = await _refused(client.GetLatest(missing, metadata=grpc_auth(users.viewer)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert name in error.details() and "ppc64le" in error.details()
    no_family = pb.GetLatestRequest(software_name=name, arch="x86_64")
    error = await _refused(client.GetLatest(no_family, metadata=grpc_auth(users.viewer)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_latest_prefers_the_exact_arch_among_equal_versions(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    name = f"tie-{uuid.uuid4().hex[:8]}"
    await register(client, transfer, users, name, "1.0", arch="noarch")
    exact = await register(client, transfer, users, name, "1.0", arch="aarch64")
    request = pb.GetLatestRequest(software_name=name, package_family=FAMILY_DEB, arch="aarch64")
    assert (await client.GetLatest(request, metadata=grpc_auth(users.viewer))).package.id == exact.id


async def test_software_overview_counts_versions_and_names_the_latest(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    tag = uuid.uuid4().hex[:8]
    for version in ("1.0", "1.0~rc1", "1.10", "1.9"):
        await register(client, transfer, users, f"{tag}-alpha", version)
    await register(client, transfer, users, f"{tag}-alpha", "1.10", arch="aarch64")
    await register(client, transfer, users, f"{tag}-alpha", "1.2", release="3", format=RPM)
    await register(client, transfer, users, f"{tag}-beta", "0.1", format=TAR, arch="noarch")

    request = pb.ListSoftwareRequest(query=tag.upper(), page_size=1)
    first = await client.ListSoftware(request, metadata=grpc_auth(users.viewer), timeout=10)
    assert first.total_size == 2 and first.next_page_token
    request.page_token = first.next_page_token
    second = await client.ListSoftware(request, metadata=grpc_auth(users.viewer), timeout=10)
    assert not second.next_page_token
    alpha, beta = first.software[0], second.software[0]
    assert (alpha.name, alpha.version_count, alpha.latest_version) == (f"{tag}-alpha", 5, "1.10")
    assert list(alpha.formats) == [DEB, RPM]
    assert (beta.name, beta.version_count, beta.latest_version, list(beta.formats)) == (
        f"{tag}-beta",
        1,
        "0.1",
        [TAR],
    )
    assert alpha.updated_at.seconds > 0
