"""A software's versions newest first, the newest installable package, and the software overview."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from sqlalchemy import event

from convoy.catalog.v1 import catalog_pb2 as pb
from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from tests.support.catalog import CatalogStack, MemoryTransfer
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


async def _versions_page(
    client: Stub, users: Users, name: str, token: str = "", size: int = 3
) -> pb.ListVersionsResponse:
    request = pb.ListVersionsRequest(software_name=name, page_size=size, page_token=token)
    return await client.ListVersions(request, metadata=grpc_auth(users.viewer), timeout=10)


async def test_paging_versions_neither_repeats_nor_skips_when_versions_come_and_go(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    name = f"keyset-{uuid.uuid4().hex[:8]}"
    made = {
        v: await register(client, transfer, users, name, v)
        for v in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
    }
    first = await _versions_page(client, users, name, size=2)
    assert [p.version for p in first.packages] == ["1.5", "1.4"]
    # A release is published while the client reads the list.
    await register(client, transfer, users, name, "9.0")
    second = await _versions_page(client, users, name, first.next_page_token, size=2)
    assert [p.version for p in second.packages] == ["1.3", "1.2"]
    # Versions it has seen are deleted, the last one it saw among them.
    for version in ("1.5", "1.2"):
        await client.DeletePackage(
            pb.DeletePackageRequest(id=made[version].id), metadata=grpc_auth(users.admin)
        )
    third = await _versions_page(client, users, name, second.next_page_token, size=2)
    assert [p.version for p in third.packages] == ["1.1", "1.0"]
    assert not third.next_page_token


async def test_a_page_token_is_refused_with_other_filters(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    name = f"scoped-{uuid.uuid4().hex[:8]}"
    for version in ("1.0", "1.1", "1.2", "1.3"):
        await register(client, transfer, users, name, version)
    versions = await _versions_page(client, users, name)
    listed = await client.ListPackages(
        pb.ListPackagesRequest(software_name=name, page_size=1), metadata=grpc_auth(users.viewer)
    )
    for call in (
        _versions_page(client, users, f"{name}-other", versions.next_page_token),
        client.ListPackages(
            pb.ListPackagesRequest(software_name=name, format=TAR, page_token=listed.next_page_token),
            metadata=grpc_auth(users.viewer),
        ),
        client.ListPackages(
            pb.ListPackagesRequest(page_token=versions.next_page_token), metadata=grpc_auth(users.viewer)
        ),
    ):
        error = await _refused(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()


async def test_the_newest_of_equal_versions_stays_the_same_when_a_package_is_edited(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    """Which of equal versions is newest must not depend on the order rows happen to come in (an edit
    moves a row in the table): the one registered last wins."""
    name = f"equal-{uuid.uuid4().hex[:8]}"
    await register(client, transfer, users, name, "1.0", format=DEB)
    await register(client, transfer, users, name, "1.0", format=TAR)
    request = pb.GetLatestRequest(software_name=name, package_family=FAMILY_DEB, arch="x86_64")
    before = (await client.GetLatest(request, metadata=grpc_auth(users.viewer))).package
    edit = pb.UpdatePackageRequest(id=before.id, description="edited")
    await client.UpdatePackage(edit, metadata=grpc_auth(users.operator))
    after = (await client.GetLatest(request, metadata=grpc_auth(users.viewer))).package
    assert (before.format, after.id) == (TAR, before.id)


async def test_browsing_reads_whole_packages_only_for_those_it_returns(
    client: Stub, transfer: MemoryTransfer, users: Users, catalog: CatalogStack
) -> None:
    """Signatures (up to 64 KiB) and descriptions of every version of a software are not read to order
    them: only the order fields are, and whole rows only for the page, by id."""
    name = f"wide-{uuid.uuid4().hex[:8]}"
    for minor in range(12):
        await register(client, transfer, users, name, f"1.{minor}", signature="-----BEGIN PGP SIGNATURE-----")
    viewer = grpc_auth(users.viewer)
    with statements(catalog) as sql:
        await client.ListVersions(pb.ListVersionsRequest(software_name=name, page_size=2), metadata=viewer)
        latest = pb.GetLatestRequest(software_name=name, package_family=FAMILY_DEB, arch="x86_64")
        await client.GetLatest(latest, metadata=viewer)
        await client.ListSoftware(pb.ListSoftwareRequest(query=name), metadata=viewer)
    whole = [s for s in sql if "packages.signature" in s]
    assert whole and all("ANY" in s for s in whole), whole


@contextmanager
def statements(catalog: CatalogStack) -> Iterator[list[str]]:
    """The SQL statements catalog sends while the block runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = catalog.process.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
