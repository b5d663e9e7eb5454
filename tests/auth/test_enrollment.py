"""Join tokens and node certificates on a real auth server over mutual TLS: what is signed, who may ask,
and every refusal audited with its precise reason."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, timedelta

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from convoy.auth.v1 import auth_pb2 as pb
from convoy.auth.v1 import auth_pb2_grpc as pb_grpc
from services.auth.enrollment import BAD_JOIN_TOKEN
from services.kit import pki
from tests.support.stack import (
    AuthStack,
    create_join_token,
    node_csr,
    redeem_join_token,
    superuser_connection,
)
from tests.support.users import Users, audit_by_request, grpc_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")


def common_name(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


async def enrollment_call(
    auth: AuthStack, cert_name: str, method: str, request: object, **kwargs: object
) -> object:
    async with auth.channel(cert_name) as channel:
        return await getattr(pb_grpc.EnrollmentServiceStub(channel), method)(request, timeout=10, **kwargs)


async def refusal(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call  # type: ignore[misc]
    return failure.value


async def only_record(auth: AuthStack, users: Users, rid: str) -> pb.AuditRecord:
    (record,) = await audit_by_request(auth, users.admin, rid)
    return record


async def test_an_operator_gets_the_token_once_with_the_pinned_ca_fingerprint(
    auth_stack: AuthStack, users: Users
) -> None:
    group = str(uuid.uuid4())
    rid = request_id()
    request = pb.CreateJoinTokenRequest(group_ids=[group, group])

    created = await enrollment_call(
        auth_stack, "gateway", "CreateJoinToken", request, metadata=grpc_auth(users.operator, rid)
    )

    service_ca = pki.load_certified_key(auth_stack.pki_dir / "ca.pem", None).certificate
    assert created.ca_fingerprint == pki.fingerprint(service_ca)
    assert created.token.startswith("cvj_") and len(created.token) == 4 + 43
    token = created.join_token
    assert (token.max_uses, token.uses, token.revoked, list(token.group_ids)) == (1, 0, False, [group])
    lifetime = token.expires_at.ToDatetime() - token.created_at.ToDatetime()
    assert lifetime == timedelta(seconds=1800)
    assert token.created_by == f"user:{users.operator_name}"
    record = await only_record(auth_stack, users, rid)
    assert (record.action, record.target, record.result) == (
        "join_token.create",
        f"join_token:{token.id}",
        pb.AUDIT_RESULT_SUCCESS,
    )


async def test_the_token_text_is_stored_only_as_its_hash(auth_stack: AuthStack, users: Users) -> None:
    created = await create_join_token(auth_stack, users.operator)

    async with superuser_connection(auth_stack.settings.require_database_url()) as db:
        row = await db.fetchrow(
            "SELECT * FROM auth.join_tokens WHERE id = $1", uuid.UUID(created.join_token.id)
        )
    assert created.token not in {str(value) for value in row.values()}
    assert len(row["token_hash"]) == 64


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"ttl_seconds": 899}, "ttl_seconds must be between 900 and 3600"),
        ({"ttl_seconds": 3601}, "ttl_seconds must be between 900 and 3600"),
        ({"max_uses": 1001}, "max_uses must be between 1 and 1000"),
        ({"max_uses": -1}, "max_uses must be between 1 and 1000"),
        ({"server_id": "web-1"}, "server id must be a UUID"),
        ({"group_ids": ["web"]}, "group id must be a UUID"),
        ({"server_id": str(uuid.uuid4()), "max_uses": 2}, "can be used only once"),
    ],
)
async def test_a_token_outside_the_bounds_is_refused(
    auth_stack: AuthStack, users: Users, fields: dict[str, object], words: str
) -> None:
    failure = await refusal(create_join_token(auth_stack, users.operator, **fields))

    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in (failure.details() or "")


async def test_a_viewer_may_not_make_tokens_and_the_denial_is_audited(
    auth_stack: AuthStack, users: Users
) -> None:
    rid = request_id()
    request = pb.CreateJoinTokenRequest()

    failure = await refusal(
        enrollment_call(
            auth_stack, "gateway", "CreateJoinToken", request, metadata=grpc_auth(users.viewer, rid)
        )
    )

    assert failure.code() == grpc.StatusCode.PERMISSION_DENIED
    record = await only_record(auth_stack, users, rid)
    assert (record.action, record.result, record.actor) == (
        "join_token.create",
        pb.AUDIT_RESULT_DENIED,
        f"user:{users.viewer_name}",
    )


async def test_redeeming_signs_a_client_only_certificate_for_the_node_the_server_chose(
    auth_stack: AuthStack, users: Users
) -> None:
    group = str(uuid.uuid4())
    created = await create_join_token(auth_stack, users.operator, group_ids=[group])
    key = ec.generate_private_key(ec.SECP256R1())
    rid = request_id()

    node, reply = await redeem_join_token(
        auth_stack, created.token, key=key, peer_address="192.0.2.7:41000", metadata=(("x-request-id", rid),)
    )

    certificate = node.certificate
    node_ca = pki.load_certified_key(auth_stack.pki_dir / "node-ca.pem", None).certificate
    certificate.verify_directly_issued_by(node_ca)
    assert uuid.UUID(reply.node_id) and reply.server_id == reply.node_id
    assert common_name(certificate.subject) == reply.node_id
    assert common_name(certificate.issuer) == pki.NODE_CA_COMMON_NAME
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert x509.UniformResourceIdentifier(f"urn:convoy:node:{reply.node_id}") in sans
    assert "admin" not in str(certificate.subject) and x509.DNSName("admin") not in sans
    assert list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert certificate.public_key() == key.public_key()
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(
        hours=72, minutes=5
    )
    assert reply.not_after.ToDatetime(tzinfo=UTC) == certificate.not_valid_after_utc
    assert reply.ca_certificate_pem == (auth_stack.pki_dir / "ca.pem").read_text()
    assert list(reply.group_ids) == [group]
    record = await only_record(auth_stack, users, rid)
    assert (record.action, record.target, record.result) == (
        "node.enroll",
        f"node:{reply.node_id}",
        pb.AUDIT_RESULT_SUCCESS,
    )
    assert (record.actor, record.client_address) == ("service:scheduler", "192.0.2.7:41000")


async def test_a_token_for_a_server_enrolls_that_server_id(auth_stack: AuthStack, users: Users) -> None:
    server_id = str(uuid.uuid4())
    created = await create_join_token(auth_stack, users.operator, server_id=server_id)

    node, reply = await redeem_join_token(auth_stack, created.token)

    assert node.node_id == reply.server_id == server_id
    assert common_name(node.certificate.subject) == server_id


async def refused_redeem(auth: AuthStack, users: Users, token: str) -> pb.AuditRecord:
    """Redeems `token`, expects the one refusal every bad token gets, returns its audit record."""
    rid = request_id()
    failure = await refusal(redeem_join_token(auth, token, metadata=(("x-request-id", rid),)))
    assert failure.code() == grpc.StatusCode.UNAUTHENTICATED
    assert failure.details() == BAD_JOIN_TOKEN
    record = await only_record(auth, users, rid)
    assert (record.action, record.result) == ("node.enroll", pb.AUDIT_RESULT_DENIED)
    return record


async def test_a_used_token_is_refused_and_the_reason_audited(auth_stack: AuthStack, users: Users) -> None:
    created = await create_join_token(auth_stack, users.operator)
    await redeem_join_token(auth_stack, created.token)

    record = await refused_redeem(auth_stack, users, created.token)

    assert record.reason == "used token"
    assert record.target == f"join_token:{created.join_token.id}"


async def test_an_unknown_token_is_refused_and_the_reason_audited(
    auth_stack: AuthStack, users: Users
) -> None:
    record = await refused_redeem(auth_stack, users, "cvj_" + "x" * 43)

    assert record.reason == "unknown token"


async def test_an_expired_token_is_refused_and_the_reason_audited(
    auth_stack: AuthStack, users: Users
) -> None:
    created = await create_join_token(auth_stack, users.operator)
    async with superuser_connection(auth_stack.settings.require_database_url()) as db:
        await db.execute(
            "UPDATE auth.join_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
            uuid.UUID(created.join_token.id),
        )

    record = await refused_redeem(auth_stack, users, created.token)

    assert record.reason == "expired token"


async def test_a_revoked_token_is_refused_and_the_reason_audited(auth_stack: AuthStack, users: Users) -> None:
    created = await create_join_token(auth_stack, users.operator, max_uses=5)
    async with auth_stack.channel("gateway") as channel:
        await pb_grpc.EnrollmentServiceStub(channel).RevokeJoinToken(
            pb.RevokeJoinTokenRequest(id=created.join_token.id),
            metadata=grpc_auth(users.operator),
            timeout=10,
        )

    record = await refused_redeem(auth_stack, users, created.token)

    assert record.reason == "revoked token"


async def test_racing_agents_never_spend_more_uses_than_the_token_has(
    auth_stack: AuthStack, users: Users
) -> None:
    created = await create_join_token(auth_stack, users.operator, max_uses=3)

    outcomes = await asyncio.gather(
        *(redeem_join_token(auth_stack, created.token) for _ in range(10)), return_exceptions=True
    )

    enrolled = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, grpc.aio.AioRpcError)]
    assert (len(enrolled), len(refused)) == (3, 7)
    assert len({node.node_id for node, _ in enrolled}) == 3
    assert {failure.code() for failure in refused} == {grpc.StatusCode.UNAUTHENTICATED}


async def test_an_unreadable_csr_is_refused_without_spending_the_token(
    auth_stack: AuthStack, users: Users
) -> None:
    created = await create_join_token(auth_stack, users.operator)
    request = pb.RedeemJoinTokenRequest(
        token=created.token, csr_pem="-----BEGIN CERTIFICATE REQUEST-----\nx\n"
    )

    failure = await refusal(enrollment_call(auth_stack, "scheduler", "RedeemJoinToken", request))

    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "certificate signing request" in (failure.details() or "")
    node, _ = await redeem_join_token(auth_stack, created.token)
    assert node.node_id


@pytest.mark.parametrize("cert_name", ["inventory", "gateway"])
async def test_only_the_scheduler_may_redeem_tokens(
    auth_stack: AuthStack, users: Users, cert_name: str
) -> None:
    created = await create_join_token(auth_stack, users.operator)
    key = ec.generate_private_key(ec.SECP256R1())
    request = pb.RedeemJoinTokenRequest(token=created.token, csr_pem=node_csr(key))

    failure = await refusal(enrollment_call(auth_stack, cert_name, "RedeemJoinToken", request))

    assert failure.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_user_token_does_not_let_anyone_redeem(auth_stack: AuthStack, users: Users) -> None:
    created = await create_join_token(auth_stack, users.operator)
    request = pb.RedeemJoinTokenRequest(
        token=created.token, csr_pem=node_csr(ec.generate_private_key(ec.SECP256R1()))
    )

    failure = await refusal(
        enrollment_call(auth_stack, "scheduler", "RedeemJoinToken", request, metadata=grpc_auth(users.admin))
    )

    assert failure.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_listing_pages_through_live_tokens_newest_first(auth_stack: AuthStack, users: Users) -> None:
    made = [await create_join_token(auth_stack, users.operator) for _ in range(3)]
    async with superuser_connection(auth_stack.settings.require_database_url()) as db:
        await db.execute(
            "UPDATE auth.join_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
            uuid.UUID(made[0].join_token.id),
        )
    ids, live, token = [], [], ""
    async with auth_stack.channel("gateway") as channel:
        stub = pb_grpc.EnrollmentServiceStub(channel)
        for include_expired, into in ((True, ids), (False, live)):
            token = ""
            while True:
                request = pb.ListJoinTokensRequest(
                    page_size=1, page_token=token, include_expired=include_expired
                )
                page = await stub.ListJoinTokens(request, metadata=grpc_auth(users.admin), timeout=10)
                into.extend(row.id for row in page.join_tokens)
                token = page.next_page_token
                if not token:
                    break

    expected = [created.join_token.id for created in reversed(made)]
    assert [row for row in ids if row in expected] == expected
    assert made[0].join_token.id not in live and made[1].join_token.id in live
    assert len(ids) == len(set(ids))


async def test_renewal_signs_a_new_key_for_the_same_node(auth_stack: AuthStack, users: Users) -> None:
    created = await create_join_token(auth_stack, users.operator)
    node, _ = await redeem_join_token(auth_stack, created.token)
    new_key = ec.generate_private_key(ec.SECP256R1())
    request = pb.RenewNodeCertificateRequest(node_id=node.node_id, csr_pem=node_csr(new_key, "someone-else"))

    reply = await enrollment_call(auth_stack, "scheduler", "RenewNodeCertificate", request)

    renewed = x509.load_pem_x509_certificate(reply.certificate_pem.encode())  # type: ignore[attr-defined]
    assert common_name(renewed.subject) == node.node_id
    assert renewed.public_key() == new_key.public_key()
    assert renewed.serial_number != node.certificate.serial_number
    async with superuser_connection(auth_stack.settings.require_database_url()) as db:
        row = await db.fetchrow("SELECT * FROM auth.nodes WHERE id = $1", uuid.UUID(node.node_id))
    assert row["certificate_serial"] == format(renewed.serial_number, "x")
    assert row["renewed_at"] is not None


async def test_renewal_of_an_unknown_node_is_refused_and_audited(auth_stack: AuthStack, users: Users) -> None:
    rid = request_id()
    node_id = str(uuid.uuid4())
    request = pb.RenewNodeCertificateRequest(
        node_id=node_id, csr_pem=node_csr(ec.generate_private_key(ec.SECP256R1()))
    )

    failure = await refusal(
        enrollment_call(
            auth_stack, "scheduler", "RenewNodeCertificate", request, metadata=(("x-request-id", rid),)
        )
    )

    assert failure.code() == grpc.StatusCode.PERMISSION_DENIED
    record = await only_record(auth_stack, users, rid)
    assert (record.action, record.target, record.result, record.reason) == (
        "node.renew",
        f"node:{node_id}",
        pb.AUDIT_RESULT_DENIED,
        "the node is not enrolled",
    )


async def revoke(auth: AuthStack, access_token: str, node_id: str, reason: str = "", rid: str = "") -> None:
    request = pb.RevokeNodeRequest(node_id=node_id, reason=reason)
    await enrollment_call(auth, "scheduler", "RevokeNode", request, metadata=grpc_auth(access_token, rid))


async def node_status(auth: AuthStack, node_id: str) -> pb.GetNodeStatusResponse:
    request = pb.GetNodeStatusRequest(node_id=node_id)
    return await enrollment_call(auth, "scheduler", "GetNodeStatus", request)  # type: ignore[return-value]


async def test_a_revoked_node_cannot_renew_until_an_operator_enrolls_it_again(
    auth_stack: AuthStack, users: Users
) -> None:
    server_id = str(uuid.uuid4())
    node, _ = await redeem_join_token(
        auth_stack, (await create_join_token(auth_stack, users.operator, server_id=server_id)).token
    )
    waiting = await create_join_token(auth_stack, users.operator, server_id=server_id)
    rid = request_id()

    await revoke(auth_stack, users.operator, server_id, "disk stolen", rid)

    status = await node_status(auth_stack, server_id)
    assert (status.enrolled, status.revoked, status.HasField("revoked_at")) == (True, True, True)
    record = await only_record(auth_stack, users, rid)
    assert (record.action, record.target, record.reason) == (
        "node.revoke",
        f"node:{server_id}",
        f"disk stolen; join token {waiting.join_token.id} revoked",
    )
    request = pb.RenewNodeCertificateRequest(node_id=server_id, csr_pem=node_csr(node.key))
    failure = await refusal(enrollment_call(auth_stack, "scheduler", "RenewNodeCertificate", request))
    assert (failure.code(), failure.details()) == (grpc.StatusCode.PERMISSION_DENIED, "the node is revoked")
    # A token made before the revocation is void; one made after it enrolls the node again.
    await refused_redeem(auth_stack, users, waiting.token)
    again, _ = await redeem_join_token(
        auth_stack, (await create_join_token(auth_stack, users.operator, server_id=server_id)).token
    )
    assert again.node_id == server_id
    assert (await node_status(auth_stack, server_id)).revoked is False


async def test_a_viewer_may_not_revoke_a_node(auth_stack: AuthStack, users: Users) -> None:
    node, _ = await redeem_join_token(auth_stack, (await create_join_token(auth_stack, users.operator)).token)

    failure = await refusal(revoke(auth_stack, users.viewer, node.node_id))

    assert failure.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await node_status(auth_stack, node.node_id)).revoked is False


async def test_revoking_a_node_that_never_enrolled_is_recorded(auth_stack: AuthStack, users: Users) -> None:
    node_id = str(uuid.uuid4())

    await revoke(auth_stack, users.operator, node_id)

    status = await node_status(auth_stack, node_id)
    assert (status.enrolled, status.revoked) == (False, False)


async def test_node_status_is_for_services_only(auth_stack: AuthStack, users: Users) -> None:
    request = pb.GetNodeStatusRequest(node_id=str(uuid.uuid4()))

    failure = await refusal(
        enrollment_call(auth_stack, "gateway", "GetNodeStatus", request, metadata=grpc_auth(users.admin))
    )

    assert failure.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_any_signed_in_user_gets_the_ca_bundle(auth_stack: AuthStack, users: Users) -> None:
    reply = await enrollment_call(
        auth_stack, "gateway", "GetCaBundle", pb.GetCaBundleRequest(), metadata=grpc_auth(users.viewer)
    )

    pem = (auth_stack.pki_dir / "ca.pem").read_text()
    assert reply.ca_certificate_pem == pem  # type: ignore[attr-defined]
    assert reply.fingerprint == pki.fingerprint(x509.load_pem_x509_certificate(pem.encode()))  # type: ignore[attr-defined]
    failure = await refusal(enrollment_call(auth_stack, "gateway", "GetCaBundle", pb.GetCaBundleRequest()))
    assert failure.code() == grpc.StatusCode.UNAUTHENTICATED
