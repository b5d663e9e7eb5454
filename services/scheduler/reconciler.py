"""The sync-policy reconciler: compares what each enabled policy wants with what inventory says is installed,
keeps one compliance row per (policy, node), and in `enforce` mode creates deployments for drifted nodes.

Every scheduler process runs one. A pass takes each policy in its own transaction, holding the policy row
(`FOR UPDATE SKIP LOCKED`: another process checking it now is left alone) and an advisory lock on the
software name, so that two policies of one software, or two processes, never decide for the same node at
once; under that lock a node with any unfinished target of that software (manual deployments included) is
`converging` and gets no second deployment. A failed attempt backs the node off exponentially; after
reconcile_max_attempts failures in a row the node stays `failed` until the policy changes (its generation).

Passes run every reconcile_seconds and soon after a hint on RECONCILE_CHANNEL (services/kit/hints.py),
sent by whoever changed something: inventory (a node came online, its installed set changed, group members
or a server's labels changed), catalog (a package arrived) and policy writes; and when a failed node's
backoff or a changed policy's settling time ends. The decisions themselves are in drift.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, text
from sqlmodel import col, select

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from services.kit.context import service_call
from services.kit.db import AsyncSession
from services.kit.errors import NotFound
from services.kit.hints import RECONCILE_CHANNEL
from services.scheduler.config import SchedulerSettings
from services.scheduler.drift import (
    FAMILIES,
    FORMAT_NUMBERS,
    Busy,
    Correction,
    NodeView,
    Verdict,
    Wish,
    backoff,
    judge,
)
from services.scheduler.events import Changes
from services.scheduler.messages import compliance_to_proto, target_spec_to_proto
from services.scheduler.metrics import ReconcilePass, corrected, reconcile_pass
from services.scheduler.models import (
    CANCELLED,
    COMPLIANT,
    CONVERGING,
    FAILED,
    IN_FLIGHT,
    PAUSED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    UNCHANGED,
    Compliance,
    Deployment,
    Policy,
    Target,
)
from services.scheduler.notify import Listener
from services.scheduler.planning import Resolved, StrategySpec
from services.scheduler.service import (
    Core,
    CreateUseCase,
    DeploymentRequest,
    Plan,
    PlannedTarget,
    new_deployment,
    summary,
    write_deployment,
)
from services.scheduler.store import any_uuid
from services.scheduler.upstream import policy_holder

__all__ = ["Reconciler"]

log = logging.getLogger("convoy.scheduler.reconciler")

# Advisory locks on software names: a key space of their own (two int4 keys).
_SOFTWARE_LOCK_SPACE = zlib.crc32(b"scheduler.software") - 2**31
# A node that reported success just now may not be in inventory's installed list yet (the result is
# recorded first, then inventory): its outcome is judged on a later pass.
_SETTLE = timedelta(seconds=30)
_UNFINISHED_DEPLOYMENTS = (PENDING, RUNNING, PAUSED, CANCELLED)
_UNFINISHED_TARGETS = (PENDING, *IN_FLIGHT)
# Nodes judged between two chances for the event loop to serve others.
_YIELD_EVERY = 200


def _software_key(name: str) -> int:
    return zlib.crc32(name.encode()) - 2**31


@dataclass
class _Pass:
    """One policy's check: the corrections it decided on and the events it queued."""

    now: datetime
    changes: Changes
    drift: list[tuple[Compliance, Resolved, Correction, list[str]]] = field(default_factory=list)


class Reconciler:
    def __init__(
        self,
        core: Core,
        create: CreateUseCase,
        settings: SchedulerSettings,
        *,
        listener: Listener | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.core, self.create, self.settings, self._listener = core, create, settings, listener
        self.now = clock or core.now
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def hint(self, _payload: str = "") -> None:
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled; a failing pass (an upstream away) is logged and retried on the next wake-up."""
        if self._listener is None:
            await self._loop()
            return
        with self._listener.subscribe(RECONCILE_CHANNEL, self.hint):
            await self._loop()

    async def _loop(self) -> None:
        while True:
            idle = await self._idle_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle)
            # Hints come in bursts (a group of nodes reconnecting): one pass for the burst.
            await asyncio.sleep(self.settings.reconcile_debounce_seconds)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the loop must outlive a pass that failed
                log.exception("a reconcile pass failed; retrying")

    async def _idle_seconds(self) -> float:
        """reconcile_seconds, or less when something is due sooner: the end of a failed node's backoff, or
        of a changed policy's settling time."""
        interval, settle = self.settings.reconcile_seconds, self.settings.reconcile_settle_seconds
        try:
            async with self.core.db.transaction() as session:
                retry = select(func.min(Compliance.retry_at)).where(
                    col(Compliance.state) == FAILED, col(Compliance.retry_at).is_not(None)
                )
                changed = select(func.max(Policy.updated_at)).where(col(Policy.enabled))
                due = [(await session.exec(retry)).one(), (await session.exec(changed)).one()]
        except Exception:  # noqa: BLE001 - the timer alone still drives the loop
            log.warning("could not read when the next check is due", exc_info=True)
            return interval
        if due[1] is not None:
            due[1] += timedelta(seconds=settle)
        now = self.now()
        waits = [(moment - now).total_seconds() for moment in due if moment is not None and moment > now]
        return min([interval, *waits])

    async def tick(self) -> int:
        """Checks every enabled policy once; how many deployments it created. A policy that cannot be
        checked now (an upstream away) is logged and left for the next pass."""
        with reconcile_pass() as run:
            return await self._tick(run)

    async def _tick(self, run: ReconcilePass) -> int:
        async with self._lock:
            with service_call("scheduler", "reconcile"):
                async with self.core.db.transaction() as session:
                    statement = select(Policy.id).where(col(Policy.enabled)).order_by(col(Policy.created_at))
                    policy_ids = list(await session.exec(statement))
                created = 0
                for policy_id in policy_ids:
                    try:
                        created += await self.reconcile(policy_id)
                    except Exception:  # noqa: BLE001 - one policy must not stall the others
                        run.failed = True
                        log.exception("policy %s could not be checked; retrying on the next pass", policy_id)
                return created

    async def reconcile(self, policy_id: uuid.UUID) -> int:
        """One policy, in one transaction; how many deployments it created."""
        async with self.core.db.transaction() as session:
            statement = (
                select(Policy)
                .where(col(Policy.id) == policy_id, col(Policy.enabled))
                .with_for_update(skip_locked=True)
            )
            policy = (await session.exec(statement)).first()
            if policy is None:
                return 0  # disabled or deleted meanwhile, or another process checks it right now
            connection = await session.connection()
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:space, :key)"),
                {"space": _SOFTWARE_LOCK_SPACE, "key": _software_key(policy.software_name)},
            )
            work = _Pass(self.now(), Changes(self.now()))
            await self._check(session, policy, work)
            created = await self._correct(session, policy, work)
            policy.checked_at = work.now
            session.add(policy)
            await session.flush()
            await work.changes.flush(session)
            return created

    async def _resolve(self, policy: Policy) -> list[inventory_pb.Server]:
        try:
            return await self.core.inventory.resolve(
                target_spec_to_proto(policy.target_kind, policy.target_value)
            )
        except NotFound as exc:
            log.warning("policy %s covers no node: %s", policy.id, exc.message)
            return []

    async def _check(self, session: AsyncSession, policy: Policy, work: _Pass) -> None:
        servers = await self._resolve(policy)
        installed = await self.core.inventory.installed_software(policy.software_name)
        packages = await self._packages(policy.software_name)
        covered = [uuid.UUID(server.id) for server in servers]
        rows = {
            row.server_id: row
            for row in await session.exec(select(Compliance).where(col(Compliance.policy_id) == policy.id))
        }
        busy = await _unfinished(session, policy, covered)
        contradictions = await self._contradictions(session, policy, set(covered))
        outcomes = await _outcomes(
            session, [r for r in rows.values() if r.deployment_id and not r.outcome_counted]
        )
        settle = timedelta(seconds=self.settings.reconcile_settle_seconds)
        settling = bool(settle) and work.now - policy.updated_at < settle
        for index, server in enumerate(servers):
            if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                await asyncio.sleep(0)  # a 10,000-node policy must not stall the agents' streams for seconds
            server_id = uuid.UUID(server.id)
            row = rows.pop(server_id, None) or Compliance(
                policy_id=policy.id,
                server_id=server_id,
                # Given, not defaulted: pydantic's default factory costs more than the whole row otherwise.
                group_ids=list(server.group_ids),
                state="",
                generation=policy.generation,
                checked_at=work.now,
                changed_at=work.now,
            )
            if row.generation != policy.generation:
                row.generation, row.failed_attempts, row.retry_at = policy.generation, 0, None
                row.outcome_counted = True
            item = installed.get(server.id)
            view = NodeView(
                node=Resolved(
                    server.id, server.hostname, FAMILIES.get(server.os.package_family, ""), server.os.arch
                ),
                online=server.status == inventory_pb.SERVER_STATUS_ONLINE,
                installed=item.version if item is not None else "",
                installed_family=FAMILIES.get(item.package_family, "") if item is not None else "",
                busy=busy.get(server_id),
                contradiction=contradictions.get(server_id, ""),
            )
            outcome = outcomes.get((row.deployment_id, server_id)) if row.deployment_id else None
            if outcome is not None and not row.outcome_counted:
                self._count(row, outcome, view, packages, policy, work.now)
            verdict = judge(
                policy,
                row,
                view,
                packages,
                now=work.now,
                settling=settling,
                max_attempts=self.settings.reconcile_max_attempts,
            )
            if self._record(policy, row, server, view, verdict, work):
                session.add(row)
        for gone in rows.values():  # nodes the policy no longer covers
            await session.delete(gone)
        await session.flush()

    async def _packages(self, software: str) -> dict[str, list[catalog_pb.Package]]:
        packages: dict[str, list[catalog_pb.Package]] = {}
        for format, number in FORMAT_NUMBERS.items():
            found = await self.core.catalog.versions(software, number)
            if found:
                packages[format] = found
        return packages

    async def _contradictions(
        self, session: AsyncSession, policy: Policy, covered: set[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        """Nodes another enabled policy of the software also covers while wanting something else. Writing
        such a policy is refused, but a node can come under both later (it joins a second group): then
        neither acts on it, or they would undo each other for ever."""
        wish = Wish.of(policy)
        statement = select(Policy).where(
            col(Policy.software_name) == policy.software_name,
            col(Policy.enabled),
            col(Policy.id) != policy.id,
        )
        found: dict[uuid.UUID, str] = {}
        for other in await session.exec(statement):
            if Wish.of(other) == wish:
                continue
            for server in await self._resolve(other):
                server_id = uuid.UUID(server.id)
                if server_id in covered and server_id not in found:
                    found[server_id] = (
                        f"policy {other.name!r} ({other.id}) wants {policy.software_name} {Wish.of(other)} here, "
                        f"this one {wish}; neither changes the node until one of them no longer covers it"
                    )
        return found

    def _count(
        self,
        row: Compliance,
        outcome: Target,
        view: NodeView,
        packages: dict[str, list[catalog_pb.Package]],
        policy: Policy,
        now: datetime,
    ) -> None:
        """Counts the result of the policy's last deployment for the node once it is final. A target that
        never reached the node (cancelled while pending) is no attempt."""
        if outcome.state in _UNFINISHED_TARGETS:
            return
        compliant = (
            judge(policy, row, view, packages, now=now, settling=False, max_attempts=1).state == "compliant"
        )
        succeeded = outcome.state in (SUCCEEDED, UNCHANGED)
        if (
            succeeded
            and not compliant
            and outcome.finished_at is not None
            and now - outcome.finished_at < _SETTLE
        ):
            return  # inventory may not have the new version yet
        row.outcome_counted = True
        if (succeeded and compliant) or (outcome.state == CANCELLED and outcome.assigned_at is None):
            if succeeded:
                row.failed_attempts, row.retry_at = 0, None
            return
        row.failed_attempts += 1
        row.retry_at = now + backoff(
            row.failed_attempts,
            self.settings.reconcile_backoff_seconds,
            self.settings.reconcile_backoff_max_seconds,
        )
        reason = outcome.message or outcome.state
        if succeeded:
            reason = f"the node reported {outcome.state} but has {view.installed or 'nothing'} installed"
        row.last_failure = reason[:1024]

    def _record(
        self,
        policy: Policy,
        row: Compliance,
        server: inventory_pb.Server,
        view: NodeView,
        verdict: Verdict,
        work: _Pass,
    ) -> bool:
        """Writes the verdict into the row; False for a node to correct, whose row is written with its
        deployment (one event, `converging`, instead of `drifted` and then `converging`)."""
        row.hostname, row.group_ids = server.hostname[:253], list(server.group_ids)
        row.installed_version, row.desired_version = view.installed[:256], verdict.desired_version[:256]
        if verdict.correction is not None:
            work.drift.append((row, view.node, verdict.correction, list(server.group_ids)))
            return False
        if verdict.state == COMPLIANT:
            row.failed_attempts, row.retry_at = 0, None
        elif row.failed_attempts >= self.settings.reconcile_max_attempts:
            row.retry_at = None  # given up: no next attempt to wait for
        elif verdict.state == CONVERGING and view.busy is not None:
            row.deployment_id = uuid.UUID(view.busy.deployment_id)
            # Only the policy's own deployments count as its attempts.
            row.outcome_counted = row.outcome_counted or not view.busy.by_this_policy
        self._set(row, verdict.state, verdict.message, work)
        return True

    @staticmethod
    def _set(row: Compliance, state: str, message: str, work: _Pass) -> None:
        """The row's state and message; checked_at when either changed, an event when the state did."""
        message = message[:2048]
        if (row.state, row.message) == (state, message):
            return
        changed = row.state != state
        row.state, row.message, row.checked_at = state, message, work.now
        if changed:
            row.changed_at = work.now
            work.changes.compliance(compliance_to_proto(row))

    async def _correct(self, session: AsyncSession, policy: Policy, work: _Pass) -> int:
        """One deployment per (package, action) for the drifted nodes, with the policy's strategy."""
        groups: dict[tuple[str, str, str], list[tuple[Compliance, Resolved, Correction, list[str]]]] = {}
        for drift in work.drift:
            correction = drift[2]
            key = (
                correction.package.id if correction.package is not None else "",
                correction.action,
                correction.format,
            )
            groups.setdefault(key, []).append(drift)
        for drifts in groups.values():
            await self._deploy(session, policy, drifts, work)
        return len(groups)

    async def _deploy(
        self,
        session: AsyncSession,
        policy: Policy,
        drifts: list[tuple[Compliance, Resolved, Correction, list[str]]],
        work: _Pass,
    ) -> None:
        correction, spec = drifts[0][2], StrategySpec(**policy.strategy)
        plan = Plan(
            correction.package,
            correction.action,
            policy.software_name,
            correction.format,
            policy.target_kind,
            policy.target_value,
        )
        for row, node, _, group_ids in drifts:
            plan.targets.append(
                PlannedTarget(
                    server_id=node.server_id,
                    hostname=node.hostname,
                    action=correction.action,
                    package=correction.package,
                    previous_version=row.installed_version,
                    name=policy.software_name,
                    format=correction.format,
                    group_ids=group_ids,
                )
            )
        plan.batched(spec)
        deployment_id = uuid.uuid4()
        request = DeploymentRequest(
            package_id=plan.package.id if plan.package else "", action=plan.action, target=None, strategy=spec
        )
        deployment = new_deployment(
            deployment_id,
            plan,
            request,
            created_by=f"policy:{policy.id}",
            # The rollout's clock, not the reconciler's: the two only differ in tests that drive backoff.
            now=self.core.now(),
            request_id=f"policy:{policy.id}",
            origin="policy",
            policy_id=policy.id,
        )
        await self.create.add_references(deployment_id, plan, policy_holder(policy.id))
        await write_deployment(session, deployment, plan, work.changes)
        reason = f"policy {policy.name!r} ({policy.id}): {summary(plan)}"
        await self.core.audit.record("deployment.create", f"deployment:{deployment_id}", reason=reason[:1000])
        log.info("policy %s: deployment %s for %d drifted node(s)", policy.id, deployment_id, len(drifts))
        corrected(session, correction.action, len(drifts))
        for row, _, _, _ in drifts:
            row.deployment_id, row.outcome_counted = deployment_id, False
            self._set(
                row, CONVERGING, f"deployment {deployment_id} (this policy) is changing this node", work
            )
            session.add(row)
        await session.flush()


async def _unfinished(
    session: AsyncSession, policy: Policy, server_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Busy]:
    """Nodes with an unfinished target of the software (any deployment), with what it waits for."""
    if not server_ids:
        return {}
    statement = (
        select(Target.server_id, Target.message, Deployment)
        .join(Deployment, col(Deployment.id) == col(Target.deployment_id))
        .where(
            col(Deployment.software_name) == policy.software_name,
            col(Deployment.state).in_(_UNFINISHED_DEPLOYMENTS),
            col(Target.current),
            col(Target.state).in_(_UNFINISHED_TARGETS),
            col(Target.server_id) == any_uuid(server_ids),
        )
    )
    return {
        server_id: Busy(
            deployment_id=str(deployment.id),
            by_this_policy=deployment.policy_id == policy.id,
            created_by=deployment.created_by,
            paused_reason=(deployment.state_reason or "paused") if deployment.state == PAUSED else "",
            target_message=message,
        )
        for server_id, message, deployment in await session.exec(statement)
    }


async def _outcomes(
    session: AsyncSession, rows: list[Compliance]
) -> dict[tuple[uuid.UUID, uuid.UUID], Target]:
    """The current attempt of each row's last deployment on its node."""
    if not rows:
        return {}
    statement = select(Target).where(
        col(Target.current),
        col(Target.deployment_id)
        == any_uuid(sorted({row.deployment_id for row in rows if row.deployment_id})),
        col(Target.server_id) == any_uuid(sorted({row.server_id for row in rows})),
    )
    return {(target.deployment_id, target.server_id): target for target in await session.exec(statement)}
