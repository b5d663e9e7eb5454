"""Deleting a package while a holder takes a reference on it, staged exactly with a transaction held open."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from convoy.catalog.v1 import catalog_pb2 as pb
from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from tests.support.catalog import CatalogStack, MemoryTransfer
from tests.support.mistakes import wait_for_blocked
from tests.support.stack import superuser_connection
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

Stub = pb_grpc.CatalogServiceStub


async def new_package(client: Stub, transfer: MemoryTransfer, users: Users) -> pb.Package:
    request = pb.CreatePackageRequest(
        software_name=f"race-{uuid.uuid4().hex[:8]}",
        version="1.0",
        format=pb.FORMAT_DEB,
        arch="x86_64",
        artifact_sha256=transfer.put(),
    )
    return (await client.CreatePackage(request, metadata=grpc_auth(users.operator), timeout=10)).package


async def test_a_reference_taken_while_a_delete_commits_finds_no_package(
    client: Stub, service: Stub, transfer: MemoryTransfer, users: Users, catalog: CatalogStack
) -> None:
    package = await new_package(client, transfer, users)
    async with superuser_connection(catalog.database_url) as db:
        deleting = db.transaction()
        await deleting.start()
        await db.execute("DELETE FROM catalog.packages WHERE id = $1", uuid.UUID(package.id))
        reference = pb.AddReferenceRequest(package_id=package.id, holder="scheduler.deployment:1")
        adding = asyncio.ensure_future(service.AddReference(reference, timeout=30))
        async with superuser_connection(catalog.database_url) as watcher:
            await wait_for_blocked(watcher, 1)
        await deleting.commit()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await adding
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND, failed.value.details()


async def test_a_delete_that_waits_for_a_new_reference_is_refused_naming_its_holder(
    client: Stub, transfer: MemoryTransfer, users: Users, catalog: CatalogStack
) -> None:
    package = await new_package(client, transfer, users)
    async with superuser_connection(catalog.database_url) as db:
        referencing = db.transaction()
        await referencing.start()
        await db.execute(
            "INSERT INTO catalog.package_references (package_id, holder, created_at) VALUES ($1, $2, now())",
            uuid.UUID(package.id),
            "scheduler.policy:7",
        )
        deleting = asyncio.ensure_future(
            client.DeletePackage(
                pb.DeletePackageRequest(id=package.id), metadata=grpc_auth(users.admin), timeout=30
            )
        )
        async with superuser_connection(catalog.database_url) as watcher:
            await wait_for_blocked(watcher, 1)
        await referencing.commit()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await deleting
    assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "scheduler.policy:7" in (failed.value.details() or "")
