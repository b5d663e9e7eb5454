"""Node use cases: redeeming a join token for a certificate, renewal, revocation, status and the CA bundle."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select

from services.auth import metrics, throttle
from services.auth.audit import DENIED, AuditEvent
from services.auth.join_tokens import hash_join_token
from services.auth.models import JoinToken, Node
from services.auth.node_ca import NodeAuthority, SignedCertificate, require_authority
from services.auth.service import Core
from services.kit.context import (
    ADMIN,
    OPERATOR,
    USER_ROLES,
    current_call,
    require_caller,
    service_peer,
    use_call,
)
from services.kit.db import AsyncSession
from services.kit.errors import (
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from services.kit.pagination import parse_uuid
from services.kit.pki import check_csr
from services.kit.text import check_text, has_control

__all__ = [
    "BAD_JOIN_TOKEN",
    "ENROLLING_SERVICES",
    "REASON_LIMIT",
    "TOO_MANY_ENROLLMENTS",
    "Enrollment",
    "NodeStatus",
    "EnrollmentUseCases",
]

# One answer for every refused token, so a guesser learns nothing; the audit record has the precise reason.
BAD_JOIN_TOKEN = "join token is unknown, used up, expired or revoked"
# Only the scheduler's agent edge redeems tokens and renews certificates for nodes.
ENROLLING_SERVICES = ("scheduler",)
TOO_MANY_ENROLLMENTS = "too many failed enrollments from this address; try again later"
_HOSTNAME_LIMIT = 255
# A revocation's reason; the scheduler's RevokeServer and the REST route check the same limit.
REASON_LIMIT = 500
# A revocation's audit record names at most this many of the join tokens it voided.
_NAMED_TOKENS = 5


@dataclass(frozen=True)
class Enrollment:
    node_id: uuid.UUID
    certificate: SignedCertificate
    ca_certificate_pem: str
    group_ids: list[uuid.UUID]


@dataclass(frozen=True)
class NodeStatus:
    enrolled: bool
    revoked: bool
    revoked_at: datetime | None
    # The latest enrollment: node certificates signed before it belong to an earlier holder of the id.
    enrolled_at: datetime | None = None


@dataclass(frozen=True)
class _SpentToken:
    id: uuid.UUID
    server_id: uuid.UUID | None
    group_ids: list[uuid.UUID]


class EnrollmentUseCases:
    def __init__(self, core: Core, authority: NodeAuthority | None) -> None:
        self.core, self._authority = core, authority

    async def redeem(self, token: str, csr_pem: str, hostname: str, peer_address: str) -> Enrollment:
        """Spends one use of the token and signs the node's certificate in one transaction; every attempt
        is audited with the enrolling agent's address.

        Failures are counted per agent address: once an address is blocked, its attempts are refused
        (RESOURCE_EXHAUSTED) without looking at them and only the first refusal of each window is audited,
        so nobody reaching the enrollment port can fill the audit log or hold its chain lock at will."""
        core = self.core
        await self._require_enrolling_service("node.enroll", "node")
        if peer_address:
            use_call(dataclasses.replace(current_call(), client_address=peer_address[:200]))
        key = throttle.enroll_key(peer_address)
        await self._refuse_if_throttled(key)
        hostname = hostname.strip()
        bad_hostname = _hostname_problem(hostname)
        target = f"host:{hostname}" if hostname and not bad_hostname else "node"
        if self._authority is None:
            reason = "this auth server has no node CA"
            await core.audit_alone(AuditEvent("node.enroll", target, DENIED, reason))
        authority = require_authority(self._authority)
        if bad_hostname:
            await self._refuse(key, AuditEvent("node.enroll", target, DENIED, bad_hostname))
            raise InvalidArgument(bad_hostname)
        csr = csr_pem.encode()
        bad_csr = _csr_problem(csr)
        if bad_csr:
            # Refused before the token is touched, so the agent can retry with the same token.
            await self._refuse(key, AuditEvent("node.enroll", target, DENIED, bad_csr))
            raise InvalidArgument(bad_csr)
        digest, now = hash_join_token(token), core.now()
        async with core.db.transaction() as session:
            spent = await _spend(session, digest, now)
            if spent is not None:
                node_id = spent.server_id or uuid.uuid4()
                signed = authority.sign(csr, node_id)
                await _enroll(session, node_id, hostname, signed, spent.id, now)
                reason = f"join token {spent.id}" + (f", hostname {hostname}" if hostname else "")
                await core.audit(session, AuditEvent("node.enroll", f"node:{node_id}", reason=reason))
        if spent is None:
            why, token_target = await self._refusal(digest, now)
            await self._refuse(key, AuditEvent("node.enroll", token_target or target, DENIED, why))
            raise Unauthenticated(BAD_JOIN_TOKEN)
        return Enrollment(node_id, signed, authority.service_ca_pem.decode(), spent.group_ids)

    async def _refuse_if_throttled(self, key: str) -> None:
        """RESOURCE_EXHAUSTED while the address is blocked; only the first refusal of a window is audited,
        with the number of refusals of the window before that were counted only."""
        if not key:
            return
        core = self.core
        async with core.db.transaction() as session:
            now = core.now()
            wait = await throttle.seconds_blocked(session, [key], now)
            if wait:
                window = core.throttle_policy.window
                unrecorded = await throttle.count_refusal(session, key, now, window)
                if unrecorded is not None:
                    reason = (
                        "too many failed enrollments from this address; further refusals within "
                        f"{int(window.total_seconds())} s are counted, not recorded one by one"
                    )
                    if unrecorded:
                        reason += f" ({unrecorded} refusals of the previous window were not recorded)"
                    await core.audit(session, AuditEvent("node.enroll", "node", DENIED, reason))
        if wait:
            metrics.throttled(metrics.ENROLLMENT)
            raise ResourceExhausted(TOO_MANY_ENROLLMENTS, retry_after=wait)

    async def _refuse(self, key: str, event: AuditEvent) -> None:
        """Audits a failed enrollment and counts it against the agent's address."""
        core = self.core
        async with core.db.transaction() as session:
            if key:
                await throttle.record_failure(session, [key], core.now(), core.throttle_policy)
            await core.audit(session, event)

    async def _refusal(self, digest: str, now: datetime) -> tuple[str, str]:
        """Why a token could not be spent (for the audit record), and the token it names, if any."""
        async with self.core.db.transaction() as session:
            row = (await session.exec(select(JoinToken).where(JoinToken.token_hash == digest))).first()
        if row is None:
            return "unknown token", ""
        target = f"join_token:{row.id}"
        if row.revoked:
            return "revoked token", target
        if row.expires_at <= now:
            return "expired token", target
        return "used token", target

    async def renew(self, node_id: str, csr_pem: str) -> SignedCertificate:
        """A new certificate for a new key of an enrolled node that is not revoked."""
        core = self.core
        target = f"node:{node_id[:64]}"
        await self._require_enrolling_service("node.renew", target)
        authority, parsed, csr = (
            require_authority(self._authority),
            parse_uuid(node_id, "node id"),
            csr_pem.encode(),
        )
        bad_csr = _csr_problem(csr)
        if bad_csr:
            await core.audit_alone(AuditEvent("node.renew", target, DENIED, bad_csr))
            raise InvalidArgument(bad_csr)
        async with core.db.transaction() as session:
            node = await session.get(Node, parsed, with_for_update=True)
            refusal = _renewal_refusal(node)
            if node is not None and not refusal:
                signed = authority.sign(csr, parsed)
                node.certificate_serial, node.not_after, node.renewed_at = (
                    signed.serial,
                    signed.not_after,
                    core.now(),
                )
                await core.audit(session, AuditEvent("node.renew", target))
        if refusal:
            await core.audit_alone(AuditEvent("node.renew", target, DENIED, refusal))
            raise PermissionDenied(refusal)
        return signed

    async def revoke(self, node_id: str, reason: str) -> None:
        """Marks the node revoked and voids the join tokens that could enroll it again: those naming it, so
        that only a token made after this enrolls it again, and the one it enrolled with, which may have uses
        left. A node that never enrolled has nothing to revoke; that is not an error."""
        core = self.core
        target = f"node:{node_id[:64]}"
        await core.authorize("node.revoke", target, ADMIN, OPERATOR)
        parsed, reason = parse_uuid(node_id, "node id"), _check_reason(reason)
        async with core.db.transaction() as session:
            # The tokens first, then the node: redeem locks them in this order too, so the two never wait
            # for each other.
            voided = await _void_tokens(session, parsed, core.now())
            node = await session.get(Node, parsed, with_for_update=True)
            if node is not None and node.revoked_at is None:
                node.revoked_at, node.revoked_reason = core.now(), reason
            notes = [reason, "" if node is not None else "never enrolled", _voided_note(voided)]
            await core.audit(
                session, AuditEvent("node.revoke", target, reason="; ".join(filter(None, notes)))
            )

    async def status(self, node_id: str) -> NodeStatus:
        await self._require_service("node.status", f"node:{node_id[:64]}")
        parsed = parse_uuid(node_id, "node id")
        async with self.core.db.transaction() as session:
            node = await session.get(Node, parsed)
        if node is None:
            return NodeStatus(enrolled=False, revoked=False, revoked_at=None)
        return NodeStatus(
            enrolled=True,
            revoked=node.revoked_at is not None,
            revoked_at=node.revoked_at,
            enrolled_at=node.enrolled_at,
        )

    def ca_bundle(self) -> tuple[str, str]:
        """The service CA agents pin, and its fingerprint; for any authenticated caller."""
        require_caller(*USER_ROLES)
        authority = require_authority(self._authority)
        return authority.service_ca_pem.decode(), authority.ca_fingerprint

    async def _require_service(self, action: str, target: str) -> None:
        if service_peer() is None:
            reason = "only Convoy services may do this"
            await self.core.audit_alone(AuditEvent(action, target, DENIED, reason))
            raise PermissionDenied(reason)

    async def _require_enrolling_service(self, action: str, target: str) -> None:
        peer = service_peer()
        if peer is None or peer.name not in ENROLLING_SERVICES:
            reason = "only the scheduler may enroll nodes and renew their certificates"
            await self.core.audit_alone(AuditEvent(action, target, DENIED, reason))
            raise PermissionDenied(reason)


async def _spend(session: AsyncSession, digest: str, now: datetime) -> _SpentToken | None:
    """One use of a live token in a single statement, so two agents racing for the last use cannot both win."""
    table = JoinToken.__table__
    statement = (
        table.update()
        .where(
            table.c.token_hash == digest,
            table.c.revoked.is_(False),
            table.c.expires_at > now,
            table.c.uses < table.c.max_uses,
        )
        .values(uses=table.c.uses + 1)
        .returning(table.c.id, table.c.server_id, table.c.group_ids)
    )
    connection = await session.connection()
    row = (await connection.execute(statement)).first()
    return _SpentToken(row.id, row.server_id, list(row.group_ids)) if row is not None else None


async def _enroll(
    session: AsyncSession,
    node_id: uuid.UUID,
    hostname: str,
    signed: SignedCertificate,
    join_token_id: uuid.UUID,
    now: datetime,
) -> None:
    """Records the node; enrolling a revoked node id again lifts the revocation (an operator made a token
    for it after revoking it, see revoke). enrolled_at moves on: the certificates of an earlier holder of
    the id are refused from now on (services.kit.pki.replaced_by_enrollment)."""
    values = {
        "hostname": hostname,
        "enrolled_at": now,
        "certificate_serial": signed.serial,
        "not_after": signed.not_after,
        "renewed_at": None,
        "revoked_at": None,
        "revoked_reason": "",
        "join_token_id": join_token_id,
    }
    table = Node.__table__
    statement = (
        insert(table)
        .values(id=node_id, **values)
        .on_conflict_do_update(index_elements=[table.c.id], set_=values)
    )
    connection = await session.connection()
    await connection.execute(statement)


def _renewal_refusal(node: Node | None) -> str:
    if node is None:
        return "the node is not enrolled"
    if node.revoked_at is not None:
        return "the node is revoked"
    return ""


async def _void_tokens(session: AsyncSession, node_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
    """Revokes the join tokens that could still enroll a node: those naming the node, and the one it last
    enrolled with (a token for several nodes may have uses left); their ids."""
    tokens, nodes = JoinToken.__table__, Node.__table__
    enrolled_with = select(nodes.c.join_token_id).where(nodes.c.id == node_id).scalar_subquery()
    statement = (
        tokens.update()
        .where(
            tokens.c.revoked.is_(False),
            tokens.c.uses < tokens.c.max_uses,
            tokens.c.expires_at > now,
            or_(tokens.c.server_id == node_id, tokens.c.id == enrolled_with),
        )
        .values(revoked=True)
        .returning(tokens.c.id)
    )
    connection = await session.connection()
    return sorted(row.id for row in await connection.execute(statement))


def _voided_note(voided: list[uuid.UUID]) -> str:
    if not voided:
        return ""
    names = ", ".join(str(token_id) for token_id in voided[:_NAMED_TOKENS])
    more = f" and {len(voided) - _NAMED_TOKENS} more" if len(voided) > _NAMED_TOKENS else ""
    return f"join token{'s' if len(voided) > 1 else ''} {names}{more} revoked"


def _csr_problem(csr: bytes) -> str:
    try:
        check_csr(csr)
    except ValueError as exc:
        return str(exc)
    return ""


def _hostname_problem(hostname: str) -> str:
    if len(hostname) > _HOSTNAME_LIMIT or has_control(hostname):
        return f"hostname must be at most {_HOSTNAME_LIMIT} characters without control characters"
    return ""


def _check_reason(reason: str) -> str:
    return check_text(reason, REASON_LIMIT, "reason")
