"""How a node gets and keeps its identity: Enroll and Renew through auth, revocation, and the inventory
reports the edge makes on a node's behalf (facts, status, installed software)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from cryptography import x509

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from services.kit.audit_client import DENIED, AuditClient, outgoing_metadata
from services.kit.context import WRITE_ROLES, current_call, require_agent, require_role
from services.kit.db import Database
from services.kit.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from services.kit.pagination import parse_uuid
from services.kit.pki import CLOCK_SKEW, REPLACED_CERTIFICATE, replaced_by_enrollment
from services.kit.text import check_text
from services.scheduler import dispatch, metrics
from services.scheduler.events import Changes
from services.scheduler.sessions import NodeBook, SessionRegistry

__all__ = [
    "Inventory",
    "EnrollmentUseCases",
    "FAMILY_BY_FORMAT",
    "REVOKED",
    "REASON_LIMIT",
    "check_reason",
    "peer_ip",
    "revoked_message",
    "utcnow",
]

log = logging.getLogger("convoy.scheduler.enrollment")

_ERROR_BY_CODE: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}
# What a node's reports may be refused for by inventory: the data it sent, which it can fix.
_DATA_CODES = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION}
)
# The agent's formats as inventory's package families (tar and container images belong to neither).
FAMILY_BY_FORMAT = {
    agent_pb.FORMAT_DEB: inv_pb.PACKAGE_FAMILY_DEB,
    agent_pb.FORMAT_RPM: inv_pb.PACKAGE_FAMILY_RPM,
}
REVOKED = "this node is revoked; enroll it again with a new join token"
# A revocation's reason: auth's limit (services/auth/enrollment.py), checked here before anything changes.
REASON_LIMIT = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def _mapped(exc: grpc.aio.AioRpcError, service: str, passed: frozenset[grpc.StatusCode]) -> DomainError:
    """The upstream's refusal as our own error when it concerns what the caller sent (`passed`); anything
    else is a fault between services, reported as unavailable without its details."""
    code = exc.code()
    if code in passed and code in _ERROR_BY_CODE:
        return _ERROR_BY_CODE[code](exc.details() or f"{service} refused the request")
    log.warning("%s answered %s: %s", service, code.name, exc.details())
    return Unavailable(f"{service} is unavailable ({code.name}); retry shortly")


def peer_ip(peer: str) -> str:
    """The address in a gRPC peer string ("ipv4:10.0.0.5:4711", "ipv6:[::1]:4711"); "" for others."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return ""


class Inventory:
    """Inventory's report RPCs, called with the scheduler's own certificate on a node's behalf."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: float) -> None:
        self._stub = inv_grpc.InventoryServiceStub(channel)
        self._timeout = timeout

    async def _call(self, method: str, request: object) -> object:
        try:
            return await getattr(self._stub, method)(
                request, metadata=outgoing_metadata(), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, "inventory", _DATA_CODES) from exc

    async def record_facts(self, node_id: str, facts: agent_pb.Facts, fallback_ip: str) -> None:
        os = inv_pb.OsFacts(
            os_id=facts.os_id,
            id_like=list(facts.id_like),
            version_id=facts.version_id,
            pretty_name=facts.pretty_name,
            package_family=int(facts.package_family),  # the same numbers, see agent.proto
            arch=facts.arch,
            kernel=facts.kernel,
        )
        ip = facts.ip_addresses[0] if facts.ip_addresses else fallback_ip
        request = inv_pb.RecordFactsRequest(
            server_id=node_id,
            hostname=facts.hostname,
            ip_address=ip,
            os=os,
            agent_version=facts.agent_version,
        )
        await self._call("RecordFacts", request)

    async def set_status(self, node_id: str, status: int, when: datetime, *, enrolled: bool = False) -> None:
        stamp = inv_pb.SetServerStatusRequest(server_id=node_id, status=status, enrolled=enrolled)
        stamp.time.FromDatetime(when)
        await self._call("SetServerStatus", stamp)

    async def record_installed(
        self, node_id: str, software: Sequence[inv_pb.InstalledSoftware], *, merge: bool
    ) -> None:
        request = inv_pb.RecordInstalledRequest(server_id=node_id, software=software, merge=merge)
        await self._call("RecordInstalled", request)

    async def require_server(self, node_id: str) -> None:
        """NotFound unless inventory knows the server."""
        try:
            await self._stub.GetServer(
                inv_pb.GetServerRequest(id=node_id), metadata=outgoing_metadata(), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, "inventory", _DATA_CODES | {grpc.StatusCode.NOT_FOUND}) from exc

    async def add_to_groups(self, node_id: str, group_ids: Sequence[str]) -> None:
        for group_id in group_ids:
            await self._call(
                "AddGroupMembers", inv_pb.AddGroupMembersRequest(group_id=group_id, server_ids=[node_id])
            )


@dataclass(frozen=True)
class Enrolled:
    node_id: str
    certificate_pem: str
    ca_certificate_pem: str
    not_after: datetime | None


class EnrollmentUseCases:
    """Enroll, Renew and revoke: auth signs and revokes certificates, inventory records the server, and the
    nodes table with the session registry make a revocation bite at once."""

    def __init__(
        self,
        db: Database,
        audit: AuditClient,
        book: NodeBook,
        sessions: SessionRegistry,
        auth_channel: grpc.aio.Channel,
        inventory: Inventory,
        *,
        timeout: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.audit, self.book, self.sessions = db, audit, book, sessions
        self._auth = auth_grpc.EnrollmentServiceStub(auth_channel)
        self.inventory, self._timeout, self.now = inventory, timeout, clock

    async def enroll(self, token: str, csr_pem: str, facts: agent_pb.Facts, peer: str) -> Enrolled:
        """Redeems the token (auth audits every attempt, with the precise reason of a refusal), then
        records the server in inventory and adds it to the token's groups."""
        if not token or not csr_pem:
            raise InvalidArgument("token and csr_pem are required")
        request = auth_pb.RedeemJoinTokenRequest(
            token=token, csr_pem=csr_pem, hostname=facts.hostname, peer_address=peer
        )
        passed = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT})
        try:
            reply = await self._auth.RedeemJoinToken(
                request, metadata=outgoing_metadata(), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                # Too many failed enrollments from this address: the agent waits as auth says.
                raise ResourceExhausted(
                    exc.details() or "too many failed enrollments; try again later",
                    retry_after=_retry_after(exc),
                ) from exc
            raise _mapped(exc, "auth", passed) from exc
        node_id, now = reply.node_id, self.now()
        metrics.enrollment_redeemed()
        async with self.db.transaction() as session:
            await self.book.enrolled(session, node_id, facts.hostname, now, _enrolled_at(reply, now))
        await self.inventory.record_facts(node_id, facts, peer_ip(peer))
        # A new certificate: a server revoked before comes back, pending until its agent's first Hello.
        await self.inventory.set_status(node_id, inv_pb.SERVER_STATUS_PENDING, now, enrolled=True)
        await self.inventory.add_to_groups(node_id, list(reply.group_ids))
        not_after = reply.not_after.ToDatetime(tzinfo=UTC) if reply.HasField("not_after") else None
        return Enrolled(node_id, reply.certificate_pem, reply.ca_certificate_pem, not_after)

    async def refuse_revoked(
        self, node_id: str, action: str, certificate: x509.Certificate | None = None
    ) -> None:
        """PermissionDenied, audited, when the node is revoked, or when `certificate` (the caller's) was
        signed before the node's latest enrollment: re-enrolling a node id gives it to a new holder, and
        the previous holder's certificates, valid for days more, must not work any longer."""
        standing = await self.book.standing(node_id)
        reason = standing.revoked_reason
        if reason is not None:
            refusal = f"{REVOKED} ({reason})" if reason else REVOKED
        elif certificate is not None and replaced_by_enrollment(certificate, standing.enrolled_at):
            refusal = REPLACED_CERTIFICATE
        else:
            return
        await self.record_denial(action, f"node:{node_id}", refusal)
        raise PermissionDenied(refusal)

    async def record_denial(self, action: str, target: str, reason: str) -> None:
        try:
            await self.audit.record(action, target, result=DENIED, reason=reason)
        except Unavailable:
            pass  # the node is refused either way; record() has logged the loss

    async def renew(
        self, csr_pem: str, certificate: x509.Certificate | None = None
    ) -> tuple[str, datetime | None]:
        """A certificate for a new key of the calling node (its id from its certificate only); never for
        the certificate of an earlier enrollment of the node id."""
        node_id = require_agent()
        await self.refuse_revoked(node_id, "node.renew", certificate)
        if not csr_pem:
            raise InvalidArgument("csr_pem is required")
        request = auth_pb.RenewNodeCertificateRequest(node_id=node_id, csr_pem=csr_pem)
        passed = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED})
        try:
            reply = await self._auth.RenewNodeCertificate(
                request, metadata=outgoing_metadata(), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, "auth", passed) from exc
        not_after = reply.not_after.ToDatetime(tzinfo=UTC) if reply.HasField("not_after") else None
        return reply.certificate_pem, not_after

    async def revoke(self, server_id: str, reason: str) -> None:
        """An operator's revocation: auth revokes the certificate (with the user's token, so its record
        names the person), this schema remembers it, every process closes the node's stream."""
        node_id = str(parse_uuid(server_id, "server id"))
        await self._authorize_revoke(node_id)
        reason = check_reason(reason)
        await self.inventory.require_server(node_id)
        request = auth_pb.RevokeNodeRequest(node_id=node_id, reason=reason)
        passed = frozenset(
            {
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.UNAUTHENTICATED,
            }
        )
        try:
            await self._auth.RevokeNode(request, metadata=_with_user_token(), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, "auth", passed) from exc
        now = self.now()
        async with self.db.transaction() as session:
            await self.book.revoked(session, node_id, reason, now)
            # Its work in flight will never be reported: it fails now, and the rollout goes on.
            changes = Changes(now)
            await dispatch.fail_node_work(session, node_id, "node revoked", changes)
            await self.audit.record("server.revoke", f"server:{node_id}", reason=reason or "no reason given")
            await changes.flush(session)
        self.sessions.close(node_id, PermissionDenied(REVOKED), reason=revoked_message(reason))
        await self._mark_revoked_in_inventory(node_id)

    async def _authorize_revoke(self, node_id: str) -> None:
        try:
            require_role(*WRITE_ROLES)
        except PermissionDenied as exc:
            await self.record_denial("server.revoke", f"server:{node_id}", exc.message)
            raise

    async def _mark_revoked_in_inventory(self, node_id: str) -> None:
        """Inventory's record follows; the revocation itself (auth, this schema, the stream) is done, so a
        failure here is logged and does not undo or fail it."""
        try:
            await self.inventory.set_status(node_id, inv_pb.SERVER_STATUS_REVOKED, self.now())
        except DomainError as exc:
            log.error("node %s is revoked, but inventory did not take the revoked status: %s", node_id, exc)


def check_reason(reason: str) -> str:
    """A revocation's reason as auth takes it: at most REASON_LIMIT characters, no control characters."""
    return check_text(reason, REASON_LIMIT, "reason")


def _retry_after(exc: grpc.aio.AioRpcError) -> int:
    for key, value in exc.trailing_metadata() or ():
        if key == "retry-after":
            try:
                return max(1, int(value))
            except (TypeError, ValueError):
                break
    return 60


def _enrolled_at(reply: auth_pb.RedeemJoinTokenResponse, fallback: datetime) -> datetime:
    """When auth signed the enrollment's certificate (by auth's clock, which the certificate carries), so
    that the comparison with later certificates does not depend on this host's clock."""
    try:
        certificate = x509.load_pem_x509_certificate(reply.certificate_pem.encode())
    except ValueError:
        return fallback
    return certificate.not_valid_before_utc + CLOCK_SKEW


def revoked_message(reason: str) -> str:
    return f"this node was revoked: {reason}" if reason else "this node was revoked"


def _with_user_token() -> tuple[tuple[str, str], ...]:
    """The current call's metadata for the next hop, with the user's access token forwarded."""
    token = current_call().metadata.get("authorization", "")
    return (*outgoing_metadata(), ("authorization", token)) if token else outgoing_metadata()
