"""Sync policies: create, read, change and delete them (refusing contradictions), and read compliance."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, text, tuple_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from services.kit.db import AsyncSession
from services.kit.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from services.kit.pagination import page_size, parse_uuid, read_token, scope, write_token
from services.scheduler.events import Changes
from services.scheduler.models import COMPLIANCE_STATES, ENFORCE, EXACT, PRESENT, Compliance, Policy
from services.scheduler.planning import StrategySpec, check_strategy, version_matches
from services.scheduler.policy_rules import (
    WANTS,
    PolicyChanges,
    Version,
    apply_changes,
    audit_summary,
    check_mode,
    check_name,
    check_software,
    check_state,
    describe,
    facets,
    set_target,
    set_wish,
    target_of,
    wish,
)
from services.scheduler.service import Core, actor_name
from services.scheduler.store import any_uuid

__all__ = [
    "PolicyDraft",
    "PolicyFilter",
    "PolicyPage",
    "ComplianceView",
    "PolicyCounts",
    "GroupCounts",
    "Summary",
    "PolicyUseCases",
]


@dataclass(frozen=True)
class PolicyDraft:
    name: str
    target: inventory_pb.Target | None
    software_name: str
    version: Version | None
    # "" means PRESENT.
    state: str
    strategy: StrategySpec
    # "" means ENFORCE.
    mode: str
    # Taken as given: a gRPC request that leaves it out (proto3) makes a disabled policy; the REST body
    # defaults it to true.
    enabled: bool


@dataclass(frozen=True)
class PolicyFilter:
    software_name: str = ""
    mode: str = ""
    enabled: bool | None = None


@dataclass(frozen=True)
class PolicyPage:
    items: list[Policy]
    next_page_token: str
    total_size: int


@dataclass(frozen=True)
class ComplianceView:
    """A page of one policy's nodes, and its counts per state over all of them (whatever the filter)."""

    nodes: list[Compliance]
    next_page_token: str
    counts: dict[str, int]


@dataclass(frozen=True)
class PolicyCounts:
    policy: Policy
    counts: dict[str, int]


@dataclass(frozen=True)
class GroupCounts:
    group_id: str
    name: str
    counts: dict[str, int]


@dataclass(frozen=True)
class Summary:
    policies: list[PolicyCounts]
    # Over enabled policies only.
    total: dict[str, int]
    groups: list[GroupCounts]


class PolicyUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def create(self, draft: PolicyDraft) -> Policy:
        core, policy_id = self.core, uuid.uuid4()
        principal = await core.authorize("policy.create", f"policy:{policy_id}")
        now = core.now()
        policy = Policy(
            id=policy_id,
            name=check_name(draft.name),
            software_name=check_software(draft.software_name),
            strategy=check_strategy(draft.strategy).as_json(),
            mode=check_mode(draft.mode or ENFORCE),
            enabled=draft.enabled,
            created_by=actor_name(principal)[:200],
            created_at=now,
            updated_at=now,
        )
        set_target(policy, draft.target)
        set_wish(policy, check_state(draft.state or PRESENT), draft.version)
        await self._require_target(policy)
        await self._require_packages(policy)
        try:
            async with core.db.transaction() as session:
                await self._hold(session, policy.software_name, policy.name, policy.id)
                if policy.enabled:
                    await self._refuse_contradictions(session, policy)
                session.add(policy)
                await session.flush()
                await core.audit.record("policy.create", f"policy:{policy.id}", reason=audit_summary(policy))
                await _wake(session, policy, now)
        except IntegrityError as exc:
            raise AlreadyExists(f"a policy named {policy.name!r} already exists") from exc
        return policy

    async def get(self, policy_id: str) -> Policy:
        self.core.require_reader()
        async with self.core.db.transaction() as session:
            return await _load(session, policy_id)

    async def list(self, where: PolicyFilter, *, size: int, token: str) -> PolicyPage:
        """By name, case-insensitively (lower(name) is unique, so it alone is a stable keyset)."""
        self.core.require_reader()
        conditions = _policy_conditions(where)
        listing = scope("policies", where)
        limit, after = page_size(size), read_token(token, listing, "n")
        sort_key = func.lower(col(Policy.name))
        async with self.core.db.transaction() as session:
            total = (await session.exec(select(func.count()).select_from(Policy).where(*conditions))).one()
            statement = select(Policy).where(*conditions)
            if after is not None:
                statement = statement.where(sort_key > after["n"])
            rows = list(await session.exec(statement.order_by(sort_key).limit(limit + 1)))
        more, rows = len(rows) > limit, rows[:limit]
        return PolicyPage(rows, write_token(listing, n=rows[-1].name.lower()) if more else "", total)

    async def update(self, policy_id: str, changes: PolicyChanges) -> Policy:
        core = self.core
        await core.authorize("policy.update", f"policy:{policy_id[:64]}")
        try:
            async with core.db.transaction() as session:
                policy = await _load(session, policy_id, lock=True)
                # Before anything changes: a query would flush a taken name as a unique violation.
                name = policy.name if changes.name is None else check_name(changes.name)
                await self._hold(session, policy.software_name, name, policy.id)
                before = facets(policy)
                apply_changes(policy, changes)
                after = facets(policy)
                changed = {name for name in after if after[name] != before[name]}
                if "target" in changed:
                    await self._require_target(policy)
                if {"version", "state"} & changed:
                    await self._require_packages(policy)
                if policy.enabled and {"target", "version", "state", "enabled"} & changed:
                    await self._refuse_contradictions(session, policy)
                if set(WANTS) & changed:
                    policy.generation += 1
                policy.updated_at = core.now()
                await session.flush()
                if "enabled" in changed and not policy.enabled:
                    await _forget_compliance(session, policy.id)
                shown = [f"{name} {before[name]} -> {after[name]}" for name in after if name in changed]
                reason = f"{policy.name}: {'; '.join(shown) or 'no changes'}"
                await core.audit.record("policy.update", f"policy:{policy.id}", reason=reason)
                if changed:
                    await _wake(session, policy, policy.updated_at)
        except IntegrityError as exc:
            raise AlreadyExists(f"a policy named {changes.name!r} already exists") from exc
        return policy

    async def delete(self, policy_id: str) -> None:
        """Its compliance rows go with it (ON DELETE CASCADE); deployments it started run on."""
        core = self.core
        await core.authorize("policy.delete", f"policy:{policy_id[:64]}")
        async with core.db.transaction() as session:
            policy = await _load(session, policy_id, lock=True)
            await session.delete(policy)
            await session.flush()
            await core.audit.record("policy.delete", f"policy:{policy.id}", reason=audit_summary(policy))
            await _wake(session, policy, core.now())

    async def compliance(self, policy_id: str, state: str, *, size: int, token: str) -> ComplianceView:
        """The policy's nodes by hostname, optionally of one state."""
        self.core.require_reader()
        if state and state not in COMPLIANCE_STATES:
            raise InvalidArgument(f"state must be one of {', '.join(COMPLIANCE_STATES)}")
        listing = scope("compliance", policy_id, state)
        limit, after = page_size(size), read_token(token, listing, "h", "id")
        async with self.core.db.transaction() as session:
            policy = await _load(session, policy_id)
            statement = select(Compliance).where(col(Compliance.policy_id) == policy.id)
            if state:
                statement = statement.where(col(Compliance.state) == state)
            order = (col(Compliance.hostname), col(Compliance.server_id))
            if after is not None:
                statement = statement.where(
                    tuple_(*order) > (after["h"], parse_uuid(after["id"], "page_token"))
                )
            rows = list(await session.exec(statement.order_by(*order).limit(limit + 1)))
            counts = (await _counts_by_policy(session, [policy.id]))[policy.id]
        more, rows = len(rows) > limit, rows[:limit]
        next_token = write_token(listing, h=rows[-1].hostname, id=str(rows[-1].server_id)) if more else ""
        return ComplianceView(rows, next_token, counts)

    async def summary(self) -> Summary:
        """Counts per policy (enabled or not), their total over enabled policies, and counts per group
        over enabled policies; all counted by the database."""
        self.core.require_reader()
        async with self.core.db.transaction() as session:
            policies = list(await session.exec(select(Policy).order_by(func.lower(col(Policy.name)))))
            counts = await _counts_by_policy(session, [policy.id for policy in policies])
            by_group = await _counts_by_group(session)
        total: dict[str, int] = {}
        for policy in (policy for policy in policies if policy.enabled):
            for state, number in counts[policy.id].items():
                total[state] = total.get(state, 0) + number
        names = {group.id: group.name for group in await self.core.inventory.groups()} if by_group else {}
        # A group deleted since the nodes were checked has no name to show: it is left out.
        groups = [GroupCounts(gid, names[gid], by_group[gid]) for gid in by_group if gid in names]
        groups.sort(key=lambda group: (group.name.lower(), group.group_id))
        return Summary([PolicyCounts(p, counts[p.id]) for p in policies], total, groups)

    async def _require_target(self, policy: Policy) -> None:
        """The target resolves now: a missing group or server is NOT_FOUND, a bad selector refused."""
        await self.core.inventory.resolve(target_of(policy))

    async def _require_packages(self, policy: Policy) -> None:
        """A software wanted present is in the catalog: some package of it, and with an exact version a
        package of that version (a mistyped version would otherwise leave every node incompatible)."""
        if policy.desired_state != PRESENT:
            return
        packages = await self.core.catalog.versions(policy.software_name, 0)
        if not packages:
            raise NotFound(
                f"software {policy.software_name!r} has no package in the catalog; upload one before a "
                "policy wants it present"
            )
        if policy.version_mode == EXACT and not any(
            version_matches(p, policy.exact_version) for p in packages
        ):
            raise NotFound(
                f"the catalog has no package of {policy.software_name} at version {policy.exact_version!r}"
            )

    async def _hold(self, session: AsyncSession, software: str, name: str, policy_id: uuid.UUID) -> None:
        """Serialises policy writes per software (until commit), so that two contradicting policies written
        at once cannot both pass the check; and refuses a name another policy has."""
        key = zlib.crc32(f"scheduler.policy:{software}".encode()) - 2**31
        connection = await session.connection()
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        statement = select(Policy).where(
            func.lower(col(Policy.name)) == name.lower(), col(Policy.id) != policy_id
        )
        taken = (await session.exec(statement)).first()
        if taken is not None:
            raise AlreadyExists(f"a policy named {taken.name!r} already exists ({taken.id})")

    async def _refuse_contradictions(self, session: AsyncSession, policy: Policy) -> None:
        """Conflict when another enabled policy for the software wants something else on a node that both
        cover now."""
        statement = select(Policy).where(
            col(Policy.software_name) == policy.software_name,
            col(Policy.enabled),
            col(Policy.id) != policy.id,
        )
        others = [other for other in await session.exec(statement) if wish(other) != wish(policy)]
        if not others:
            return
        mine = {
            server.id: server.hostname or server.id
            for server in await self.core.inventory.resolve(target_of(policy))
        }
        for other in sorted(others, key=lambda row: row.name.lower()):
            shared = sorted(mine[s.id] for s in await self._servers(other) if s.id in mine)
            if shared:
                raise Conflict(
                    f"policy {other.name!r} ({other.id}) wants {policy.software_name} {describe(other)} on "
                    f"nodes this one covers (e.g. {shared[0]}), and this one wants it {describe(policy)}; "
                    "narrow a target, align the versions or disable one of them"
                )

    async def _servers(self, policy: Policy) -> list[inventory_pb.Server]:
        """The policy's nodes now; none when its group or server has gone since."""
        try:
            return await self.core.inventory.resolve(target_of(policy))
        except NotFound:
            return []


async def _wake(session: AsyncSession, policy: Policy, now: datetime) -> None:
    """Tells the reconcilers (on commit) to look at the policy now rather than on their next pass."""
    changes = Changes(now)
    changes.wake_reconciler(f"policy:{policy.id}")
    await changes.flush(session)


async def _forget_compliance(session: AsyncSession, policy_id: uuid.UUID) -> None:
    """A disabled policy is not checked: its last rows would go on showing a state nobody keeps up to date.
    The reconciler holds the policy row while it writes them, as this transaction does now."""
    statement = delete(Compliance).where(col(Compliance.policy_id) == policy_id)
    await (await session.connection()).execute(statement)


async def _load(session: AsyncSession, policy_id: str, *, lock: bool = False) -> Policy:
    row_id = parse_uuid(policy_id, "policy id")
    statement = select(Policy).where(col(Policy.id) == row_id)
    row = (await session.exec(statement.with_for_update() if lock else statement)).first()
    if row is None:
        raise NotFound(f"policy {row_id} does not exist")
    return row


def _policy_conditions(where: PolicyFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.software_name:
        conditions.append(col(Policy.software_name) == check_software(where.software_name))
    if where.mode:
        conditions.append(col(Policy.mode) == check_mode(where.mode))
    if where.enabled is not None:
        conditions.append(col(Policy.enabled) == where.enabled)
    return conditions


async def _counts_by_policy(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    counts: dict[uuid.UUID, dict[str, int]] = {policy_id: {} for policy_id in ids}
    if not ids:
        return counts
    statement = (
        select(Compliance.policy_id, Compliance.state, func.count())
        .where(col(Compliance.policy_id) == any_uuid(ids))
        .group_by(col(Compliance.policy_id), col(Compliance.state))
    )
    for policy_id, state, number in await session.exec(statement):
        counts[policy_id][state] = number
    return counts


async def _counts_by_group(session: AsyncSession) -> dict[str, dict[str, int]]:
    """(group, state) → nodes under enabled policies, each node once per policy covering it."""
    members = (
        select(
            func.jsonb_array_elements_text(col(Compliance.group_ids)).label("group_id"),
            col(Compliance.state).label("state"),
        )
        .join(Policy, col(Policy.id) == col(Compliance.policy_id))
        .where(col(Policy.enabled))
        .subquery()
    )
    statement = select(members.c.group_id, members.c.state, func.count()).group_by(
        members.c.group_id, members.c.state
    )
    counts: dict[str, dict[str, int]] = {}
    for group_id, state, number in await session.exec(statement):  # type: ignore[call-overload]
        counts.setdefault(group_id, {})[state] = number
    return counts
