"""Enrollment under pressure and after revocation: failed enrollments throttled per address without filling
the audit log, revoking a node voids the token it enrolled with, revoke and redeem lock in one order, every
attempt audited (a bad hostname, no node CA), old tokens purged, and the node CA kept apart from the
service CA."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from convoy.auth.v1 import auth_pb2 as pb
from convoy.auth.v1 import auth_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from services.auth.enrollment import TOO_MANY_ENROLLMENTS
from services.auth.server import build
from services.kit import pki
from tests.support.stack import (
    AuthStack,
    auth_settings,
    create_join_token,
    fresh_database,
    redeem_join_token,
    start_auth,
    superuser_connection,
)
from tests.support.users import Users, audit_by_request, grpc_auth, make_users, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

BAD_TOKEN = "cvj_" + "x" * 43


@asynccontextmanager
async def own_auth(
    postgres: LocalPostgres, pki_dir: Path, workdir: Path, **overrides: Any
) -> AsyncIterator[tuple[AuthStack, Users]]:
    """An auth server on a database of its own, for tests that tune it or need it fresh."""
    url = await fresh_database(postgres, "auth")
    async with start_auth(auth_settings(url, pki_dir, workdir / "jwt.pem", **overrides)) as stack:
        yield stack, await make_users(stack)


async def failure_of(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    return failure.value


async def redeem_from(auth: AuthStack, token: str, address: str, rid: str) -> grpc.aio.AioRpcError:
    return await failure_of(
        redeem_join_token(auth, token, peer_address=address, metadata=(("x-request-id", rid),))
    )


async def node_status(auth: AuthStack, node_id: str) -> pb.GetNodeStatusResponse:
    async with auth.channel("scheduler") as channel:
        return await pb_grpc.EnrollmentServiceStub(channel).GetNodeStatus(
            pb.GetNodeStatusRequest(node_id=node_id), timeout=10
        )


async def revoke(auth: AuthStack, access_token: str, node_id: str, reason: str = "", rid: str = "") -> None:
    async with auth.channel("scheduler") as channel:
        await pb_grpc.EnrollmentServiceStub(channel).RevokeNode(
            pb.RevokeNodeRequest(node_id=node_id, reason=reason),
            metadata=grpc_auth(access_token, rid),
            timeout=10,
        )


async def test_node_status_tells_when_the_node_last_enrolled(auth_stack: AuthStack, users: Users) -> None:
    server_id = str(uuid.uuid4())
    await redeem_join_token(
        auth_stack, (await create_join_token(auth_stack, users.operator, server_id=server_id)).token
    )
    first = (await node_status(auth_stack, server_id)).enrolled_at.ToDatetime()

    await redeem_join_token(
        auth_stack, (await create_join_token(auth_stack, users.operator, server_id=server_id)).token
    )

    status = await node_status(auth_stack, server_id)
    assert status.HasField("enrolled_at") and status.enrolled_at.ToDatetime() > first
    assert not (await node_status(auth_stack, str(uuid.uuid4()))).HasField("enrolled_at")


async def test_revoking_a_node_voids_the_token_it_enrolled_with(auth_stack: AuthStack, users: Users) -> None:
    created = await create_join_token(auth_stack, users.operator, max_uses=5)
    node, _ = await redeem_join_token(auth_stack, created.token)
    rid = request_id()

    await revoke(auth_stack, users.operator, node.node_id, "left the company", rid)

    (record,) = await audit_by_request(auth_stack, users.admin, rid)
    assert record.reason == f"left the company; join token {created.join_token.id} revoked"
    rid = request_id()
    failure = await redeem_from(auth_stack, created.token, "", rid)
    assert failure.code() == grpc.StatusCode.UNAUTHENTICATED
    (record,) = await audit_by_request(auth_stack, users.admin, rid)
    assert record.reason == "revoked token"


async def test_revoke_takes_the_token_rows_before_the_node_row_as_redeem_does(
    auth_stack: AuthStack, users: Users
) -> None:
    """Redeem holds the token row and then wants the node row; revoke must not hold the node row while it
    waits for the token row, or the two deadlock."""
    server_id = str(uuid.uuid4())
    await redeem_join_token(
        auth_stack, (await create_join_token(auth_stack, users.operator, server_id=server_id)).token
    )
    waiting = await create_join_token(auth_stack, users.operator, server_id=server_id)
    url = auth_stack.settings.require_database_url()
    async with superuser_connection(url) as db, superuser_connection(url) as watcher:
        transaction = db.transaction()
        await transaction.start()
        try:
            # As a redeem of `waiting` would: its token row locked, the node row next.
            await db.execute(
                "SELECT 1 FROM auth.join_tokens WHERE id = $1 FOR UPDATE", uuid.UUID(waiting.join_token.id)
            )
            revoking = asyncio.create_task(revoke(auth_stack, users.operator, server_id, "race"))
            deadline = asyncio.get_running_loop().time() + 10
            waiting_for_lock = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'UPDATE auth.join_tokens%'"
            )
            while not await watcher.fetchval(waiting_for_lock):
                if revoking.done():
                    await revoking
                assert asyncio.get_running_loop().time() < deadline, "revoke never waited for the token row"
                await asyncio.sleep(0.05)
            # The node row is free: the redeem could finish.
            await db.execute("SELECT 1 FROM auth.nodes WHERE id = $1 FOR UPDATE NOWAIT", uuid.UUID(server_id))
        finally:
            await transaction.rollback()
        await asyncio.wait_for(revoking, 10)
    assert (await node_status(auth_stack, server_id)).revoked


async def test_failed_enrollments_block_the_address_and_only_the_first_refusal_is_audited(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    async with own_auth(postgres, pki_dir, tmp_path, throttle_enroll_failures=2) as (auth, users):
        for port in (1000, 1001):
            rid = request_id()
            failure = await redeem_from(auth, BAD_TOKEN, f"192.0.2.50:{port}", rid)
            assert failure.code() == grpc.StatusCode.UNAUTHENTICATED
            (record,) = await audit_by_request(auth, users.admin, rid)
            assert record.reason == "unknown token"

        rids = [request_id() for _ in range(3)]
        for rid in rids:  # blocked, whatever the port, and without looking at the token
            created = await create_join_token(auth, users.operator)
            failure = await redeem_from(auth, created.token, "ipv4:192.0.2.50:2000", rid)
            assert (failure.code(), failure.details()) == (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                TOO_MANY_ENROLLMENTS,
            )
            assert int(dict(failure.trailing_metadata() or ())["retry-after"]) > 0
        records = [await audit_by_request(auth, users.admin, rid) for rid in rids]
        assert [len(found) for found in records] == [1, 0, 0]
        first = records[0][0]
        assert (first.action, first.result, first.client_address) == (
            "node.enroll",
            pb.AUDIT_RESULT_DENIED,
            "ipv4:192.0.2.50:2000",
        )
        assert "too many failed enrollments" in first.reason

        # Another address enrolls as usual.
        created = await create_join_token(auth, users.operator)
        node, _ = await redeem_join_token(auth, created.token, peer_address="192.0.2.51:1000")
        assert node.node_id

        # The next window's first refusal is recorded, with the count of those that were not.
        async with superuser_connection(auth.settings.require_database_url()) as db:
            await db.execute(
                "UPDATE auth.login_throttle SET window_started_at = now() - interval '1 day'"
                " WHERE key = 'refused:enroll:192.0.2.50'"
            )
        rid = request_id()
        failure = await redeem_from(auth, BAD_TOKEN, "192.0.2.50:3000", rid)
        assert failure.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        (record,) = await audit_by_request(auth, users.admin, rid)
        assert "2 refusals of the previous window were not recorded" in record.reason


async def test_a_bad_hostname_is_refused_after_it_is_audited(auth_stack: AuthStack, users: Users) -> None:
    created = await create_join_token(auth_stack, users.operator)
    rid = request_id()

    failure = await failure_of(
        redeem_join_token(auth_stack, created.token, hostname="web\n1", metadata=(("x-request-id", rid),))
    )

    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    (record,) = await audit_by_request(auth_stack, users.admin, rid)
    assert (record.action, record.target, record.result) == ("node.enroll", "node", pb.AUDIT_RESULT_DENIED)
    assert "hostname must be at most 255 characters" in record.reason


async def test_an_auth_server_without_a_node_ca_audits_the_refused_enrollment(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    async with own_auth(postgres, pki_dir, tmp_path, node_ca_key=None) as (auth, users):
        rid = request_id()

        failure = await redeem_from(auth, BAD_TOKEN, "", rid)

        assert failure.code() == grpc.StatusCode.FAILED_PRECONDITION
        (record,) = await audit_by_request(auth, users.admin, rid)
        assert (record.action, record.result, record.reason) == (
            "node.enroll",
            pb.AUDIT_RESULT_DENIED,
            "this auth server has no node CA",
        )


async def test_tokens_expired_a_month_ago_are_purged_when_a_token_is_made(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    async with own_auth(postgres, pki_dir, tmp_path) as (auth, users):
        old, recent = [await create_join_token(auth, users.operator) for _ in range(2)]
        async with superuser_connection(auth.settings.require_database_url()) as db:
            for made, days in ((old, 31), (recent, 29)):
                await db.execute(
                    "UPDATE auth.join_tokens SET expires_at = now() - make_interval(days => $2) WHERE id = $1",
                    uuid.UUID(made.join_token.id),
                    days,
                )
            # The process purged when the first token was made; a new process purges at its first one.
        async with start_auth(auth.settings) as again:
            await create_join_token(again, users.operator)
        async with superuser_connection(auth.settings.require_database_url()) as db:
            left = {str(row["id"]) for row in await db.fetch("SELECT id FROM auth.join_tokens")}
        assert old.join_token.id not in left and recent.join_token.id in left


async def test_join_tokens_are_indexed_by_server_id(auth_stack: AuthStack) -> None:
    async with superuser_connection(auth_stack.settings.require_database_url()) as db:
        definitions = [
            row["indexdef"]
            for row in await db.fetch(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'auth' AND tablename = 'join_tokens'"
            )
        ]
    assert any("(server_id)" in definition for definition in definitions)


async def test_auth_refuses_to_start_when_the_node_ca_is_the_service_ca(
    postgres: LocalPostgres, tmp_path: Path
) -> None:
    pki_dir = tmp_path / "pki"
    pki.write_pki_dir(pki_dir, ["auth"])
    shutil.copy(pki_dir / "ca.pem", pki_dir / "node-ca.pem")
    shutil.copy(pki_dir / "ca-key.pem", pki_dir / "node-ca-key.pem")
    settings = auth_settings("postgresql+asyncpg://convoy@127.0.0.1:1/none", pki_dir, tmp_path / "jwt.pem")

    with pytest.raises(ValueError, match="node CA must be a CA of its own"):
        build(settings)
