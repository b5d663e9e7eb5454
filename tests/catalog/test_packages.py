"""Registering, reading, changing and deleting packages through the real catalog over gRPC."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest

from convoy.catalog.v1 import catalog_pb2 as pb
from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from tests.support.catalog import (
    MemoryTransfer,
    catalog_database,
    memory_transfer,
    start_catalog,
)
from tests.support.stack import AuthStack
from tests.support.users import Users, audit_by_request, grpc_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

Stub = pb_grpc.CatalogServiceStub


def unique_name(prefix: str = "app") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def request_for(transfer: MemoryTransfer, **fields: object) -> pb.CreatePackageRequest:
    values: dict[str, object] = {
        "software_name": unique_name(),
        "version": "1.2.3",
        "format": pb.FORMAT_DEB,
        "arch": "x86_64",
        "description": "A demo application",
        "depends": ["libc6 (>= 2.31)"],
    }
    values.update(fields)
    if "artifact_sha256" not in values:
        values["artifact_sha256"] = transfer.put()
    return pb.CreatePackageRequest(**values)  # type: ignore[arg-type]


async def create(client: Stub, token: str, request: pb.CreatePackageRequest, rid: str = "") -> pb.Package:
    reply = await client.CreatePackage(request, metadata=grpc_auth(token, rid), timeout=10)
    return reply.package


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_an_operator_registers_a_package_and_everyone_can_read_it(
    client: Stub, transfer: MemoryTransfer, users: Users, auth_stack: AuthStack
) -> None:
    content = b"not really a deb, but transfer vouches for it" * 10
    sha = transfer.put(content)
    profile = pb.DeployProfile(
        pre_hook="hooks/pre.sh",
        post_hook="hooks/post.sh",
        restart_service="demo.service",
        health_check=pb.HealthCheck(http_url="http://127.0.0.1:8080/healthz", timeout_seconds=30),
    )
    rid = request_id("test")
    request = request_for(
        transfer, software_name="Demo-App", artifact_sha256=sha.upper(), deploy_profile=profile
    )
    package = await create(client, users.operator, request, rid)

    assert package.software_name == "demo-app"
    assert (package.version, package.HasField("release")) == ("1.2.3", False)
    assert package.artifact_sha256 == sha and package.artifact_size == len(content)
    assert list(package.package_families) == [pb.PACKAGE_FAMILY_DEB]
    assert package.created_by == users.operator_name
    assert package.deploy_profile == profile
    assert list(package.depends) == ["libc6 (>= 2.31)"]
    holder = f"catalog.package:{package.id}"
    assert transfer.holders[sha] == {holder}
    (call,) = [c for c in transfer.calls if c.holder == holder]
    assert (call.method, call.caller, call.request_id) == ("AddReference", "catalog", rid)

    got = await client.GetPackage(pb.GetPackageRequest(id=package.id), metadata=grpc_auth(users.viewer))
    assert got.package == package
    (record,) = await audit_by_request(auth_stack, users.admin, rid)
    assert (record.action, record.target, record.actor) == (
        "package.create",
        f"package:{package.id}",
        f"user:{users.operator_name}",
    )


async def test_a_second_registration_of_the_same_identity_names_the_first(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    first = await create(client, users.operator, request_for(transfer, version="2.0", release="1"))
    again = request_for(transfer, software_name=first.software_name, version="2.0", release="1")
    error = await refused(create(client, users.admin, again))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first.id in error.details()
    # Nothing of the refused attempt is left in the store.
    assert transfer.holders[again.artifact_sha256] == set()
    other_arch = request_for(
        transfer, software_name=first.software_name, version="2.0", release="1", arch="aarch64"
    )
    assert (await create(client, users.operator, other_arch)).arch == "aarch64"


async def test_an_artifact_that_was_never_uploaded_is_a_failed_precondition(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    missing = "ab" * 32
    error = await refused(create(client, users.operator, request_for(transfer, artifact_sha256=missing)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == f"artifact {missing} is not in the store; upload it first"


INVALID = [
    ({"software_name": "Bad Name!"}, "software_name"),
    ({"software_name": ""}, "software_name"),
    ({"version": ""}, "version is required"),
    ({"version": "abc"}, "must start with a digit"),
    ({"version": "1.0 beta"}, "not a valid Debian version"),
    ({"format": pb.FORMAT_TAR, "version": "v1.0"}, "tar versions follow Debian ordering"),
    ({"format": pb.FORMAT_RPM, "version": "1.0-1", "release": "1"}, "cannot contain '-'"),
    ({"format": pb.FORMAT_RPM, "version": "1.0"}, "needs a release"),
    ({"format": pb.FORMAT_RPM, "version": "1.0", "release": "1-2"}, "rpm release"),
    ({"format": pb.FORMAT_UNSPECIFIED}, "format must be one of"),
    ({"arch": "x86-64"}, "arch must be"),
    ({"arch": ""}, "arch must be"),
    ({"package_families": [pb.PACKAGE_FAMILY_RPM]}, "only be installed by the deb family"),
    ({"artifact_sha256": "xyz"}, "artifact_sha256"),
    ({"deploy_profile": pb.DeployProfile(pre_hook="../evil.sh")}, "pre_hook"),
    ({"deploy_profile": pb.DeployProfile(post_hook="/usr/bin/evil")}, "post_hook"),
    ({"deploy_profile": pb.DeployProfile(restart_service="bad unit!")}, "restart_service"),
    (
        {"deploy_profile": pb.DeployProfile(health_check=pb.HealthCheck(http_url="http://example.com/up"))},
        "must point at the node itself",
    ),
    ({"deploy_profile": pb.DeployProfile(health_check=pb.HealthCheck())}, "either a command"),
    (
        {
            "deploy_profile": pb.DeployProfile(
                health_check=pb.HealthCheck(command=pb.CommandProbe(argv=["true"]), timeout_seconds=601)
            )
        },
        "timeout_seconds",
    ),
]


@pytest.mark.parametrize(("fields", "message"), INVALID, ids=[m for _, m in INVALID])
async def test_invalid_packages_are_refused_with_the_reason(
    client: Stub, transfer: MemoryTransfer, users: Users, fields: dict[str, object], message: str
) -> None:
    error = await refused(create(client, users.operator, request_for(transfer, **fields)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()


async def test_architectures_and_families_are_normalised(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    deb = await create(client, users.operator, request_for(transfer, arch="amd64"))
    assert deb.arch == "x86_64"
    rpm = request_for(transfer, format=pb.FORMAT_RPM, version="2:1.0", release="1.el9", arch="loongarch64")
    rpm_package = await create(client, users.operator, rpm)
    assert (rpm_package.arch, list(rpm_package.package_families)) == ("loongarch64", [pb.PACKAGE_FAMILY_RPM])
    tar = await create(client, users.operator, request_for(transfer, format=pb.FORMAT_TAR, arch="all"))
    assert tar.arch == "noarch"
    assert list(tar.package_families) == [pb.PACKAGE_FAMILY_DEB, pb.PACKAGE_FAMILY_RPM]
    image = request_for(transfer, format=pb.FORMAT_CONTAINER, package_families=[pb.PACKAGE_FAMILY_RPM])
    assert list((await create(client, users.operator, image)).package_families) == [pb.PACKAGE_FAMILY_RPM]


async def test_a_viewer_cannot_register_and_the_denial_is_audited(
    client: Stub, transfer: MemoryTransfer, users: Users, auth_stack: AuthStack
) -> None:
    rid = request_id("test")
    request = request_for(transfer)
    error = await refused(create(client, users.viewer, request, rid))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    (record,) = await audit_by_request(auth_stack, users.admin, rid)
    assert (record.action, record.actor) == ("package.create", f"user:{users.viewer_name}")
    assert record.result == 2  # AUDIT_RESULT_DENIED
    listed = await client.ListPackages(
        pb.ListPackagesRequest(software_name=request.software_name), metadata=grpc_auth(users.viewer)
    )
    assert listed.total_size == 0
    assert transfer.holders[request.artifact_sha256] == set()


async def test_the_gateway_without_a_user_token_is_nobody(
    client: Stub, service: Stub, transfer: MemoryTransfer
) -> None:
    error = await refused(client.ListSoftware(pb.ListSoftwareRequest(), timeout=10))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = await refused(client.CreatePackage(request_for(transfer), timeout=10))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    # Another service reads for itself, without a user token.
    await service.ListSoftware(pb.ListSoftwareRequest(page_size=1), timeout=10)


async def test_update_changes_what_is_known_but_never_the_identity(
    client: Stub, transfer: MemoryTransfer, users: Users, auth_stack: AuthStack
) -> None:
    package = await create(client, users.operator, request_for(transfer))
    profile = pb.DeployProfile(health_check=pb.HealthCheck(command=pb.CommandProbe(argv=["demo", "--check"])))
    rid = request_id("test")
    request = pb.UpdatePackageRequest(
        id=package.id,
        description="Now with a health check",
        deploy_profile=profile,
        signature="-----BEGIN-----",
    )
    updated = (await client.UpdatePackage(request, metadata=grpc_auth(users.operator, rid))).package
    assert (updated.description, updated.signature) == ("Now with a health check", "-----BEGIN-----")
    assert updated.deploy_profile == profile
    assert (updated.version, updated.artifact_sha256, updated.created_at) == (
        package.version,
        package.artifact_sha256,
        package.created_at,
    )
    (record,) = await audit_by_request(auth_stack, users.admin, rid)
    assert (record.action, record.reason) == ("package.update", "description, deploy_profile, signature")

    cleared = await client.UpdatePackage(
        pb.UpdatePackageRequest(id=package.id, clear_deploy_profile=True), metadata=grpc_auth(users.admin)
    )
    assert not cleared.package.HasField("deploy_profile")
    assert cleared.package.description == "Now with a health check"

    both = pb.UpdatePackageRequest(id=package.id, deploy_profile=profile, clear_deploy_profile=True)
    error = await refused(client.UpdatePackage(both, metadata=grpc_auth(users.operator)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    viewer = pb.UpdatePackageRequest(id=package.id, description="mine now")
    error = await refused(client.UpdatePackage(viewer, metadata=grpc_auth(users.viewer)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_unknown_and_malformed_ids(client: Stub, users: Users) -> None:
    missing = str(uuid.uuid4())
    error = await refused(
        client.GetPackage(pb.GetPackageRequest(id=missing), metadata=grpc_auth(users.viewer))
    )
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, f"package {missing} does not exist")
    error = await refused(
        client.GetPackage(pb.GetPackageRequest(id="nope"), metadata=grpc_auth(users.viewer))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = await refused(
        client.DeletePackage(pb.DeletePackageRequest(id=missing), metadata=grpc_auth(users.admin))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_a_referenced_package_cannot_be_deleted_until_its_holders_let_go(
    client: Stub, service: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    package = await create(client, users.operator, request_for(transfer))
    holder = f"scheduler.deployment:{uuid.uuid4()}"
    reference = pb.AddReferenceRequest(package_id=package.id, holder=holder)
    held = (await service.AddReference(reference, timeout=10)).package
    assert list(held.referenced_by) == [holder]
    assert list((await service.AddReference(reference, timeout=10)).package.referenced_by) == [holder]

    error = await refused(
        client.DeletePackage(pb.DeletePackageRequest(id=package.id), metadata=grpc_auth(users.admin))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == f"package is still referenced by {holder}"

    removal = pb.RemoveReferenceRequest(package_id=package.id, holder=holder)
    await service.RemoveReference(removal, timeout=10)
    await service.RemoveReference(removal, timeout=10)
    await client.DeletePackage(pb.DeletePackageRequest(id=package.id), metadata=grpc_auth(users.operator))
    error = await refused(
        client.GetPackage(pb.GetPackageRequest(id=package.id), metadata=grpc_auth(users.viewer))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    # The package was the artifact's only holder, so the artifact went with it.
    assert package.artifact_sha256 not in transfer.sizes


async def test_only_services_hold_references(client: Stub, transfer: MemoryTransfer, users: Users) -> None:
    package = await create(client, users.operator, request_for(transfer))
    reference = pb.AddReferenceRequest(package_id=package.id, holder="someone:1")
    for token in (users.admin, ""):
        metadata = grpc_auth(token) if token else ()
        error = await refused(client.AddReference(reference, metadata=metadata, timeout=10))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    fetched = await client.GetPackage(pb.GetPackageRequest(id=package.id), metadata=grpc_auth(users.viewer))
    assert list(fetched.package.referenced_by) == []


async def test_references_to_unknown_packages_and_bad_holders(service: Stub) -> None:
    missing = pb.AddReferenceRequest(package_id=str(uuid.uuid4()), holder="scheduler.policy:1")
    assert (await refused(service.AddReference(missing, timeout=10))).code() == grpc.StatusCode.NOT_FOUND
    blank = pb.AddReferenceRequest(package_id=str(uuid.uuid4()), holder="has space")
    assert (await refused(service.AddReference(blank, timeout=10))).code() == grpc.StatusCode.INVALID_ARGUMENT
    gone = pb.RemoveReferenceRequest(package_id=str(uuid.uuid4()), holder="scheduler.policy:1")
    await service.RemoveReference(gone, timeout=10)


async def test_referenced_by_lists_at_most_twenty_holders(
    client: Stub, service: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    package = await create(client, users.operator, request_for(transfer))
    for number in range(23):
        request = pb.AddReferenceRequest(package_id=package.id, holder=f"scheduler.deployment:{number:02d}")
        await service.AddReference(request, timeout=10)
    fetched = await client.GetPackage(pb.GetPackageRequest(id=package.id), metadata=grpc_auth(users.viewer))
    assert len(fetched.package.referenced_by) == 20


async def test_packages_sharing_an_artifact_keep_it_until_the_last_goes(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    sha = transfer.put()
    name = unique_name()
    first = await create(
        client, users.operator, request_for(transfer, software_name=name, artifact_sha256=sha)
    )
    second = await create(
        client,
        users.operator,
        request_for(transfer, software_name=name, artifact_sha256=sha, version="1.2.4"),
    )
    await client.DeletePackage(pb.DeletePackageRequest(id=first.id), metadata=grpc_auth(users.operator))
    assert transfer.holders[sha] == {f"catalog.package:{second.id}"}
    await client.DeletePackage(pb.DeletePackageRequest(id=second.id), metadata=grpc_auth(users.operator))
    assert sha not in transfer.sizes


async def test_list_filters_pages_and_counts(client: Stub, transfer: MemoryTransfer, users: Users) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"{tag}-a", f"{tag}-b"]
    for name in names:
        for version, arch in (("1.0", "x86_64"), ("1.1", "aarch64")):
            await create(
                client, users.operator, request_for(transfer, software_name=name, version=version, arch=arch)
            )
    await create(
        client,
        users.operator,
        request_for(transfer, software_name=f"{tag}-c", format=pb.FORMAT_RPM, version="1", release="1"),
    )
    await create(
        client,
        users.operator,
        request_for(transfer, software_name=unique_name(), description=f"mentions {tag.upper()}"),
    )

    async def listed(**fields: object) -> pb.ListPackagesResponse:
        request = pb.ListPackagesRequest(**fields)  # type: ignore[arg-type]
        return await client.ListPackages(request, metadata=grpc_auth(users.viewer), timeout=10)

    seen, token = [], ""
    while True:
        page = await listed(query=tag, page_size=2, page_token=token)
        assert page.total_size == 6
        seen += [p.id for p in page.packages]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6
    assert (await listed(query=tag, arch="aarch64")).total_size == 2
    assert (await listed(query=tag, format=pb.FORMAT_RPM)).total_size == 1
    assert (await listed(query=tag, package_family=pb.PACKAGE_FAMILY_RPM)).total_size == 1
    assert (await listed(software_name=names[0])).total_size == 2
    bad = await refused(listed(page_token="not-a-token"))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_transfer_outages(
    postgres: LocalPostgres, pki_dir: Path, auth_stack: AuthStack, users: Users
) -> None:
    """Registering needs the store; deleting does not wait for it (a leftover reference only keeps a blob)."""
    url = await catalog_database(postgres)
    async with memory_transfer(pki_dir) as store:
        async with start_catalog(url, auth_stack, transfer_target=store.target) as stack:
            channel = stack.channel("gateway")
            stub = Stub(channel)
            package = await create(stub, users.operator, request_for(store))
            await store.stop()
            error = await refused(create(stub, users.operator, request_for(store)))
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            await stub.DeletePackage(
                pb.DeletePackageRequest(id=package.id), metadata=grpc_auth(users.operator)
            )
            error = await refused(
                stub.GetPackage(pb.GetPackageRequest(id=package.id), metadata=grpc_auth(users.viewer))
            )
            assert error.code() == grpc.StatusCode.NOT_FOUND
            await channel.close()


async def test_racing_registrations_of_one_identity_leave_one_package(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    sha = transfer.put()
    request = request_for(transfer, artifact_sha256=sha)
    results = await asyncio.gather(
        *(create(client, users.operator, request) for _ in range(4)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, pb.Package)]
    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(created) == 1 and len(errors) == 3
    assert {e.code() for e in errors} == {grpc.StatusCode.ALREADY_EXISTS}
    assert all(created[0].id in e.details() for e in errors)
    assert transfer.holders[sha] == {f"catalog.package:{created[0].id}"}
