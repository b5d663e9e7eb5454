"""The sync-policy reconciler: compares what each enabled policy wants with what inventory says is installed,
keeps one compliance row per (policy, node), and in `enforce` mode creates deployments for drifted nodes.

Every scheduler process runs one. A pass takes each policy in its own transaction, holding the policy row
(`FOR UPDATE SKIP LOCKED`: another process checking it now is left alone) and an advisory lock on the
software name, so that two policies of one software, or two processes, never decide for the same node at
once; under that lock a node with any unfinished target of that software (manual deployments included) is
`converging` and gets no second deployment. A failed attempt backs the node off exponentially; after
reconcile_max_attempts failures in a row the node stays `failed` until the policy changes (its generation).

Passes run every reconcile_seconds and soon after a hint on RECONCILE_CHANNEL: a node said hello or
reported its installed software, a package arrived, group members changed, a policy changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import col, select

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from services.kit.context import service_call
from services.kit.db import AsyncSession
from services.kit.errors import NotFound
from services.kit.hints import RECONCILE_CHANNEL
from services.kit.versions import VersionKey
from services.scheduler.config import SchedulerSettings
from services.scheduler.events import Changes
from services.scheduler.messages import compliance_to_proto
from services.scheduler.models import (
    ABSENT,
    CANCELLED,
    COMPLIANT,
    CONVERGING,
    DRIFTED,
    ENFORCE,
    EXACT,
    FAILED,
    IN_FLIGHT,
    INCOMPATIBLE,
    INSTALL,
    PAUSED,
    PENDING,
    ROLLBACK,
    RUNNING,
    SUCCEEDED,
    UNCHANGED,
    UNINSTALL,
    UPDATE,
    Compliance,
    Deployment,
    Policy,
    Target,
)
from services.scheduler.notify import Listener
from services.scheduler.planning import Resolved, StrategySpec, assign_batches, misfit
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

__all__ = ["Reconciler", "desired_package", "same_version", "backoff"]

log = logging.getLogger("convoy.scheduler.reconciler")

# Advisory locks on software names: a key space of their own (two int4 keys).
_SOFTWARE_LOCK_SPACE = zlib.crc32(b"scheduler.software") - 2**31
# A node that reported success just now may not be in inventory's installed list yet (the result is
# recorded first, then inventory): its outcome is judged on a later pass.
_SETTLE = timedelta(seconds=30)
_FORMAT_NUMBERS = {"deb": 1, "rpm": 2, "tar": 3, "container": 4}
_FAMILIES = {inventory_pb.PACKAGE_FAMILY_DEB: "deb", inventory_pb.PACKAGE_FAMILY_RPM: "rpm"}
_UNFINISHED_DEPLOYMENTS = (PENDING, RUNNING, PAUSED, CANCELLED)
_UNFINISHED_TARGETS = (PENDING, *IN_FLIGHT)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _software_key(name: str) -> int:
    return zlib.crc32(name.encode()) - 2**31


def backoff(failures: int, base: float, ceiling: float) -> timedelta:
    """The wait after `failures` failed attempts in a row: base, 2×base, 4×base, … up to the ceiling."""
    return timedelta(seconds=min(base * 2 ** max(failures - 1, 0), ceiling))


def _installed_key(format: str, installed: str) -> VersionKey:
    """The installed version as the package database wrote it: rpm's "V-R", dpkg's full version."""
    if format == "rpm":
        version, dash, release = installed.rpartition("-")
        return VersionKey(format, version, release) if dash else VersionKey(format, installed, "")
    return VersionKey(format, installed, "")


def _package_key(package: catalog_pb.Package, format: str) -> VersionKey:
    return VersionKey(format, package.version, package.release)


def same_version(format: str, installed: str, package: catalog_pb.Package) -> bool:
    return bool(installed) and _installed_key(format, installed) == _package_key(package, format)


def _full_version(package: catalog_pb.Package) -> str:
    return f"{package.version}-{package.release}" if package.release else package.version


def _format_of(package: catalog_pb.Package) -> str:
    return next(name for name, number in _FORMAT_NUMBERS.items() if number == package.format)


def desired_package(
    policy: Policy, packages: dict[str, list[catalog_pb.Package]], node: Resolved
) -> tuple[catalog_pb.Package | None, str]:
    """The package the node should have (newest first within a format; the node's own family's format
    before tar and container), or None and why none fits."""
    formats = [format for format in (node.package_family, "tar", "container") if format in packages]
    wanted = policy.exact_version if policy.version_mode == EXACT else ""
    reason = ""
    for format in formats:
        for package in packages[format]:
            if wanted and wanted not in (package.version, _full_version(package)):
                continue
            why = misfit(format, [_FAMILIES.get(f, "") for f in package.package_families], package.arch, node)
            if not why:
                return package, ""
            reason = reason or why
    version = f" {wanted}" if wanted else ""
    family = node.package_family or "unknown family"
    return None, reason or f"no package of {policy.software_name}{version} fits {family}/{node.arch or '?'}"


@dataclass
class _Drift:
    """A drifted node the policy corrects, and how."""

    row: Compliance
    node: Resolved
    action: str
    package: catalog_pb.Package | None
    format: str
    group_ids: list[str]


@dataclass
class _Pass:
    """What one policy's check found, before it is written."""

    now: datetime
    changes: Changes
    drift: list[_Drift] = field(default_factory=list)


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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.reconcile_seconds)
            # Hints come in bursts (a group of nodes reconnecting): one pass for the burst.
            await asyncio.sleep(self.settings.reconcile_debounce_seconds)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the loop must outlive a pass that failed
                log.exception("a reconcile pass failed; retrying")

    async def tick(self) -> int:
        """Checks every enabled policy once; how many deployments it created. A policy that cannot be
        checked now (an upstream away) is logged and left for the next pass."""
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
            created = await self._correct(session, policy, work) if policy.mode == ENFORCE else 0
            policy.checked_at = work.now
            session.add(policy)
            await session.flush()
            await work.changes.flush(session)
            return created

    async def _check(self, session: AsyncSession, policy: Policy, work: _Pass) -> None:
        core = self.core
        try:
            servers = await core.inventory.resolve(_target(policy))
        except NotFound as exc:
            log.warning("policy %s covers no node: %s", policy.id, exc.message)
            servers = []
        installed = await core.inventory.installed_software(policy.software_name)
        packages = await self._packages(policy.software_name)
        covered = [uuid.UUID(server.id) for server in servers]
        rows = {
            row.server_id: row
            for row in await session.exec(select(Compliance).where(col(Compliance.policy_id) == policy.id))
        }
        busy = await _unfinished(session, policy.software_name, covered)
        outcomes = await _outcomes(
            session, [r for r in rows.values() if r.deployment_id and not r.outcome_counted]
        )
        for server in servers:
            server_id = uuid.UUID(server.id)
            row = rows.pop(server_id, None) or Compliance(
                policy_id=policy.id,
                server_id=server_id,
                state="",
                generation=policy.generation,
                checked_at=work.now,
                changed_at=work.now,
            )
            row.hostname, row.group_ids = server.hostname[:253], list(server.group_ids)
            self._judge(policy, row, server, installed.get(server.id), packages, busy, outcomes, work)
            row.checked_at = work.now
            session.add(row)
        for gone in rows.values():  # nodes the policy no longer covers
            await session.delete(gone)
        await session.flush()

    async def _packages(self, software: str) -> dict[str, list[catalog_pb.Package]]:
        packages: dict[str, list[catalog_pb.Package]] = {}
        for format, number in _FORMAT_NUMBERS.items():
            found = await self.core.catalog.versions(software, number)
            if found:
                packages[format] = found
        return packages

    def _judge(
        self,
        policy: Policy,
        row: Compliance,
        server: inventory_pb.Server,
        installed: inventory_pb.InstalledSoftware | None,
        packages: dict[str, list[catalog_pb.Package]],
        busy: dict[uuid.UUID, Deployment],
        outcomes: dict[tuple[uuid.UUID, uuid.UUID], Target],
        work: _Pass,
    ) -> None:
        """Sets the row's state (and message), and queues a correction for a drifted node."""
        settings, now = self.settings, work.now
        node = Resolved(
            server.id, server.hostname, _FAMILIES.get(server.os.package_family, ""), server.os.arch
        )
        version = installed.version if installed is not None else ""
        family = _FAMILIES.get(installed.package_family, "") if installed is not None else ""
        if row.generation != policy.generation:
            row.generation, row.failed_attempts, row.retry_at, row.outcome_counted = (
                policy.generation,
                0,
                None,
                True,
            )
        package, why = (
            (None, "") if policy.desired_state == ABSENT else desired_package(policy, packages, node)
        )
        row.installed_version = version[:256]
        row.desired_version = _full_version(package)[:256] if package is not None else ""
        format = _format_of(package) if package is not None else (family or _absent_format(packages, node))
        compliant = (
            (not version)
            if policy.desired_state == ABSENT
            else (package is not None and same_version(format, version, package))
        )
        outcome = outcomes.get((row.deployment_id, row.server_id)) if row.deployment_id else None
        if outcome is not None and not row.outcome_counted:
            self._count(row, outcome, compliant, now)
        deployment = busy.get(row.server_id)
        if compliant:
            row.failed_attempts, row.retry_at = 0, None
            self._set(policy, row, COMPLIANT, "", work)
        elif deployment is not None:
            row.deployment_id = deployment.id
            by = "this policy" if deployment.policy_id == policy.id else f"{deployment.created_by}"
            self._set(
                policy, row, CONVERGING, f"deployment {deployment.id} ({by}) is changing this node", work
            )
        elif policy.desired_state != ABSENT and package is None:
            self._set(policy, row, INCOMPATIBLE, why, work)
        elif row.deployment_id and not row.outcome_counted:
            # Its result is on the way (or the deployment vanished): judged on a later pass.
            self._set(
                policy, row, CONVERGING, f"waiting for the result of deployment {row.deployment_id}", work
            )
        elif row.failed_attempts >= settings.reconcile_max_attempts:
            row.retry_at = None
            message = (
                f"gave up after {row.failed_attempts} failed attempt(s), the last: {row.last_failure}; "
                "change the policy (or disable and enable it) to try again"
            )
            self._set(policy, row, FAILED, message, work)
        elif row.failed_attempts and row.retry_at is not None and now < row.retry_at:
            message = f"attempt {row.failed_attempts} failed: {row.last_failure}; next attempt at {row.retry_at.isoformat()}"
            self._set(policy, row, FAILED, message, work)
        else:
            self._set(policy, row, DRIFTED, _drift_message(policy, version, row.desired_version), work)
            if policy.mode == ENFORCE:
                action = _action(policy, format, version, package)
                work.drift.append(_Drift(row, node, action, package, format, list(server.group_ids)))

    def _count(self, row: Compliance, outcome: Target, compliant: bool, now: datetime) -> None:
        """Counts the result of the policy's last deployment for the node once it is final."""
        if outcome.state in _UNFINISHED_TARGETS:
            return
        succeeded = outcome.state in (SUCCEEDED, UNCHANGED)
        if (
            succeeded
            and not compliant
            and outcome.finished_at is not None
            and now - outcome.finished_at < _SETTLE
        ):
            return  # inventory may not have the new version yet
        row.outcome_counted = True
        if succeeded and compliant:
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
            reason = (
                f"the node reported {outcome.state} but has {row.installed_version or 'nothing'} installed"
            )
        row.last_failure = reason[:1024]

    @staticmethod
    def _set(policy: Policy, row: Compliance, state: str, message: str, work: _Pass) -> None:
        changed = row.state != state
        row.state, row.message = state, message[:2048]
        if changed:
            row.changed_at = work.now
            work.changes.compliance(compliance_to_proto(row))

    async def _correct(self, session: AsyncSession, policy: Policy, work: _Pass) -> int:
        """One deployment per (package, action) for the drifted nodes, with the policy's strategy."""
        groups: dict[tuple[str, str, str], list[_Drift]] = {}
        for drift in work.drift:
            key = (drift.package.id if drift.package is not None else "", drift.action, drift.format)
            groups.setdefault(key, []).append(drift)
        for drifts in groups.values():
            await self._deploy(session, policy, drifts, work)
        return len(groups)

    async def _deploy(self, session: AsyncSession, policy: Policy, drifts: list[_Drift], work: _Pass) -> None:
        first, spec = drifts[0], StrategySpec(**policy.strategy)
        plan = Plan(
            first.package,
            first.action,
            policy.software_name,
            first.format,
            policy.target_kind,
            policy.target_value,
        )
        for drift in drifts:
            plan.targets.append(
                PlannedTarget(
                    server_id=str(drift.node.server_id),
                    hostname=drift.node.hostname,
                    action=drift.action,
                    package=drift.package,
                    previous_version=drift.row.installed_version,
                    name=policy.software_name,
                    format=drift.format,
                    group_ids=drift.group_ids,
                )
            )
        plan.batch_size = spec.batch_size_for(len(drifts))
        plan.failure_budget = spec.failure_budget_for(len(drifts))
        for target, batch in zip(plan.targets, assign_batches(len(drifts), plan.batch_size), strict=True):
            target.batch = batch
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
        await self.create.add_references(deployment_id, plan)
        await write_deployment(session, deployment, plan, work.changes)
        reason = f"policy {policy.name!r} ({policy.id}): {summary(plan)}"
        await self.core.audit.record("deployment.create", f"deployment:{deployment_id}", reason=reason[:1000])
        log.info("policy %s: deployment %s for %d drifted node(s)", policy.id, deployment_id, len(drifts))
        for drift in drifts:
            drift.row.deployment_id, drift.row.outcome_counted = deployment_id, False
            message = f"deployment {deployment_id} (this policy) is changing this node"
            self._set(policy, drift.row, CONVERGING, message, work)
            session.add(drift.row)
        await session.flush()


def _target(policy: Policy) -> inventory_pb.Target:
    if policy.target_kind == "all":
        return inventory_pb.Target(all=True)
    return inventory_pb.Target(**{policy.target_kind: policy.target_value})


def _absent_format(packages: dict[str, list[catalog_pb.Package]], node: Resolved) -> str:
    """What removes software inventory knows no package family of: a tar or container package of it, else
    the node's own tool."""
    return next(
        (format for format in ("tar", "container") if format in packages), node.package_family or "deb"
    )


def _action(policy: Policy, format: str, installed: str, package: catalog_pb.Package | None) -> str:
    if policy.desired_state == ABSENT or package is None:
        return UNINSTALL
    if not installed:
        return INSTALL
    # Going down needs the package tool told so (rpm refuses a plain downgrade).
    return ROLLBACK if _installed_key(format, installed) > _package_key(package, format) else UPDATE


def _drift_message(policy: Policy, installed: str, desired: str) -> str:
    if policy.desired_state == ABSENT:
        return f"{policy.software_name} {installed} is installed; the policy wants it absent"
    if not installed:
        return f"{policy.software_name} is not installed; the policy wants {desired}"
    return f"{policy.software_name} {installed} is installed; the policy wants {desired}"


async def _unfinished(
    session: AsyncSession, software: str, server_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Deployment]:
    """Nodes with an unfinished target of the software (any deployment), and that deployment."""
    if not server_ids:
        return {}
    statement = (
        select(Target.server_id, Deployment)
        .join(Deployment, col(Deployment.id) == col(Target.deployment_id))
        .where(
            col(Deployment.software_name) == software,
            col(Deployment.state).in_(_UNFINISHED_DEPLOYMENTS),
            col(Target.current),
            col(Target.state).in_(_UNFINISHED_TARGETS),
            col(Target.server_id) == any_uuid(server_ids),
        )
    )
    return {server_id: deployment for server_id, deployment in await session.exec(statement)}


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
