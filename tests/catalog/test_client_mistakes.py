"""A client's mistakes are the client's errors: no request, however wrong, makes catalog answer INTERNAL."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable

import grpc
import pytest
from google.protobuf.message import Message

from convoy.catalog.v1 import catalog_pb2 as pb
from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from tests.support.catalog import MemoryTransfer
from tests.support.mistakes import server_faults
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

Stub = pb_grpc.CatalogServiceStub
# References are held by services (their certificate, no user token); everything else by people.
SERVICE_RPCS = {"AddReference", "RemoveReference"}


def new_package(transfer: MemoryTransfer) -> pb.CreatePackageRequest:
    return pb.CreatePackageRequest(
        software_name=f"fz-{uuid.uuid4().hex[:10]}",
        version="1.0",
        format=pb.FORMAT_DEB,
        arch="x86_64",
        artifact_sha256=transfer.put(),
        deploy_profile=pb.DeployProfile(health_check=pb.HealthCheck(http_url="http://localhost/health")),
    )


def requests(transfer: MemoryTransfer, package: pb.Package) -> dict[str, Callable[[], Message]]:
    """A valid request of every RPC; each call makes a new one (registrations need fresh identities)."""
    name, pid = package.software_name, package.id
    profile = pb.DeployProfile(health_check=pb.HealthCheck(command=pb.CommandProbe(argv=["true"])))
    return {
        "CreatePackage": lambda: new_package(transfer),
        "GetPackage": lambda: pb.GetPackageRequest(id=pid),
        "ListPackages": lambda: pb.ListPackagesRequest(),
        "UpdatePackage": lambda: pb.UpdatePackageRequest(id=pid, deploy_profile=profile),
        "DeletePackage": lambda: pb.DeletePackageRequest(id=str(uuid.uuid4())),
        "AddReference": lambda: pb.AddReferenceRequest(package_id=pid, holder="scheduler.deployment:1"),
        "RemoveReference": lambda: pb.RemoveReferenceRequest(package_id=pid, holder="scheduler.deployment:1"),
        "ListVersions": lambda: pb.ListVersionsRequest(software_name=name),
        "GetLatest": lambda: pb.GetLatestRequest(software_name=name, package_family=1, arch="x86_64"),
        "ListSoftware": lambda: pb.ListSoftwareRequest(),
    }


@pytest.mark.parametrize("rpc", sorted(pb.DESCRIPTOR.services_by_name["CatalogService"].methods_by_name))
async def test_no_wrong_field_value_is_a_server_fault(
    client: Stub, service: Stub, transfer: MemoryTransfer, users: Users, rpc: str
) -> None:
    package = (await client.CreatePackage(new_package(transfer), metadata=grpc_auth(users.admin))).package

    async def call(request: Message) -> object:
        if rpc in SERVICE_RPCS:
            return await getattr(service, rpc)(request, timeout=20)
        return await getattr(client, rpc)(request, metadata=grpc_auth(users.admin), timeout=20)

    assert await server_faults(call, requests(transfer, package)[rpc]) == []


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_text_postgres_cannot_store_is_refused_with_the_field_named(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    admin = grpc_auth(users.admin)
    bad_url = pb.DeployProfile(health_check=pb.HealthCheck(http_url="http://localhost/\x00"))
    for change, field in (
        ({"description": "a\x00b"}, "description"),
        ({"signature": "-----BEGIN\x00"}, "signature"),
        ({"deploy_profile": bad_url}, "http_url"),
    ):
        request = new_package(transfer)
        for name, value in change.items():
            field_value = getattr(request, name)
            if isinstance(value, Message):
                field_value.CopyFrom(value)
            else:
                setattr(request, name, value)
        error = await refused(client.CreatePackage(request, metadata=admin))
        assert (error.code(), field in error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, True), (
            error.details()
        )
    for call in (
        client.ListPackages(pb.ListPackagesRequest(query="\x00"), metadata=admin),
        client.ListSoftware(pb.ListSoftwareRequest(query="a\x00"), metadata=admin),
    ):
        error = await refused(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "query" in error.details()


async def test_page_tokens_that_were_never_issued_are_refused(client: Stub, users: Users) -> None:
    nested = base64.urlsafe_b64encode(b"[" * 3000).decode()
    for token in (nested, "x" * 5000, "garbage!"):
        for call in (
            client.ListPackages(pb.ListPackagesRequest(page_token=token), metadata=grpc_auth(users.viewer)),
            client.ListVersions(
                pb.ListVersionsRequest(software_name="x", page_token=token), metadata=grpc_auth(users.viewer)
            ),
            client.ListSoftware(pb.ListSoftwareRequest(page_token=token), metadata=grpc_auth(users.viewer)),
        ):
            error = await refused(call)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in error.details()


@pytest.mark.parametrize("version", ["\u0663:1.0", "\uff11.0"], ids=["arabic-indic-epoch", "fullwidth-digit"])
@pytest.mark.parametrize("format", [pb.FORMAT_DEB, pb.FORMAT_RPM, pb.FORMAT_TAR], ids=["deb", "rpm", "tar"])
async def test_versions_with_digits_of_other_scripts_are_refused(
    client: Stub, transfer: MemoryTransfer, users: Users, version: str, format: int
) -> None:
    """dpkg and rpm read only 0-9; a version they would refuse on the node must be refused here."""
    request = new_package(transfer)
    request.version, request.format, request.release = version, format, "1"
    error = await refused(client.CreatePackage(request, metadata=grpc_auth(users.operator)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()


async def test_a_page_token_edited_by_hand_is_refused(
    client: Stub, transfer: MemoryTransfer, users: Users
) -> None:
    """Tokens are opaque, not secret: one with a field changed must fail as the client's error."""
    package = (await client.CreatePackage(new_package(transfer), metadata=grpc_auth(users.operator))).package
    await client.CreatePackage(
        pb.CreatePackageRequest(
            software_name=package.software_name,
            version="2.0",
            format=pb.FORMAT_DEB,
            arch="x86_64",
            artifact_sha256=transfer.put(),
        ),
        metadata=grpc_auth(users.operator),
    )
    request = pb.ListVersionsRequest(software_name=package.software_name, page_size=1)
    token = (await client.ListVersions(request, metadata=grpc_auth(users.viewer))).next_page_token
    position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for field, value in (("at", "2020-01-01T00:00:00"), ("format", "zip"), ("id", "x"), ("version", 7)):
        edited = base64.urlsafe_b64encode(json.dumps({**position, field: value}).encode()).decode()
        request.page_token = edited
        error = await refused(client.ListVersions(request, metadata=grpc_auth(users.viewer)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, error.details())
