"""What every scheduler use case shares, and CreateDeployment: resolve once, plan, write in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import insert
from sqlmodel import col, select

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from services.kit.audit_client import AuditClient
from services.kit.context import USER_ROLES, WRITE_ROLES, Principal, current_call, require_caller
from services.kit.db import AsyncSession, Database
from services.kit.errors import FailedPrecondition, InvalidArgument
from services.kit.pagination import parse_uuid
from services.kit.telemetry import current_traceparent
from services.scheduler.events import Changes
from services.scheduler.models import (
    ACTIONS,
    CANCELLED,
    FAILED,
    IN_FLIGHT,
    PAUSED,
    PENDING,
    ROLLBACK,
    SKIPPED,
    SUCCEEDED,
    UNINSTALL,
    Deployment,
    Target,
)
from services.scheduler.planning import (
    Resolved,
    StrategySpec,
    assign_batches,
    check_strategy,
    misfit,
    version_matches,
)
from services.scheduler.store import load_deployment
from services.scheduler.upstream import CatalogClient, InventoryClient, deployment_holder

__all__ = [
    "utcnow",
    "Core",
    "DeploymentRequest",
    "Plan",
    "PlannedTarget",
    "CreateUseCase",
    "target_spec",
    "actor_name",
    "new_deployment",
    "write_deployment",
    "target_row",
    "summary",
]

_FORMATS = {1: "deb", 2: "rpm", 3: "tar", 4: "container"}
_FAMILIES = {1: "deb", 2: "rpm"}
_TARGET_KINDS = ("server_id", "group_id", "all", "selector")
# A rollback goes back from these; a target that never ran (or already had the version) has nothing to undo.
_ROLLBACK_FROM = (SUCCEEDED, FAILED)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Core:
    """The database, the audit log, the upstream services and the clock."""

    def __init__(
        self,
        db: Database,
        audit: AuditClient,
        catalog: CatalogClient,
        inventory: InventoryClient,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.audit, self.catalog, self.inventory, self.now = db, audit, catalog, inventory, clock

    @staticmethod
    def require_reader() -> Principal:
        """Any user's token, or a service acting for itself. Only the internal port serves SchedulerService
        and it takes only service certificates, so a token arrives with the gateway's."""
        return require_caller(*USER_ROLES)

    async def authorize(self, action: str, target: str) -> Principal:
        """An operator or admin (or a service acting for itself); a refusal is audited."""
        return await self.audit.authorize(action, target, *WRITE_ROLES)


def actor_name(principal: Principal) -> str:
    return principal.name if principal.kind == "user" else principal.label


@dataclass(frozen=True)
class DeploymentRequest:
    package_id: str
    action: str
    target: inventory_pb.Target | None
    strategy: StrategySpec
    dry_run: bool = False
    rollback_deployment_id: str = ""
    # Urgent: nodes of window-restricted groups get it outside their maintenance windows too (audited).
    override_window: bool = False


@dataclass
class PlannedTarget:
    server_id: str
    hostname: str
    action: str
    package: catalog_pb.Package | None
    previous_version: str = ""
    skip_reason: str = ""
    batch: int = 0
    # For a target without a package (a removal in a rollback): what it removes.
    name: str = ""
    format: str = ""
    # The node's groups (their maintenance windows apply to the target).
    group_ids: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """What the deployment will be: its targets in order, runnable ones with their batch."""

    package: catalog_pb.Package | None
    action: str
    software_name: str
    format: str
    target_kind: str
    target_value: str
    targets: list[PlannedTarget] = field(default_factory=list)
    batch_size: int = 1
    failure_budget: int = 0

    @property
    def runnable(self) -> list[PlannedTarget]:
        return [target for target in self.targets if not target.skip_reason]

    @property
    def batch_count(self) -> int:
        return max((target.batch for target in self.targets), default=0)

    def batched(self, strategy: StrategySpec) -> Plan:
        """The strategy's batch size and failure budget for the runnable targets, and each one's batch."""
        runnable = self.runnable
        self.batch_size = strategy.batch_size_for(len(runnable))
        self.failure_budget = strategy.failure_budget_for(len(runnable))
        for target, batch in zip(runnable, assign_batches(len(runnable), self.batch_size), strict=True):
            target.batch = batch
        return self


def target_spec(target: inventory_pb.Target | None) -> tuple[str, str]:
    """(kind, value) of a deployment's or a policy's target, as the tables keep it; a malformed one is
    InvalidArgument."""
    kind = target.WhichOneof("target") if target is not None else None
    if target is None or kind not in _TARGET_KINDS:
        raise InvalidArgument("target must set one of server_id, group_id, all or selector")
    if kind == "all":
        if not target.all:
            raise InvalidArgument("target all must be true when it is set")
        return kind, ""
    return kind, str(getattr(target, kind))


def _resolved(server: inventory_pb.Server) -> Resolved:
    return Resolved(
        server_id=server.id,
        hostname=server.hostname,
        package_family=_FAMILIES.get(server.os.package_family, ""),
        arch=server.os.arch,
    )


def _package_facts(package: catalog_pb.Package | None, name: str, format: str) -> dict[str, Any]:
    """The per-target package columns; for a removal without a package, only name and format."""
    if package is None:
        return {
            "package_id": None,
            "name": name,
            "version": "",
            "release": "",
            "format": format,
            "arch": "",
            "sha256": "",
            "size": 0,
            "signature": "",
            "deploy_profile": None,
        }
    profile = (
        MessageToDict(package.deploy_profile, preserving_proto_field_name=True)
        if package.HasField("deploy_profile")
        else None
    )
    return {
        "package_id": uuid.UUID(package.id),
        "name": package.software_name,
        "version": package.version,
        "release": package.release,
        "format": _FORMATS.get(package.format, format),
        "arch": package.arch,
        "sha256": package.artifact_sha256,
        "size": package.artifact_size,
        "signature": package.signature,
        "deploy_profile": profile or None,
    }


class CreateUseCase:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def create(self, request: DeploymentRequest) -> tuple[Deployment | None, Plan]:
        core, deployment_id = self.core, uuid.uuid4()
        principal = await core.authorize("deployment.create", f"deployment:{deployment_id}")
        plan = await self.plan(request)
        if request.dry_run:
            return None, plan
        deployment = new_deployment(
            deployment_id,
            plan,
            request,
            created_by=actor_name(principal),
            now=core.now(),
            request_id=current_call().request_id,
            traceparent=current_traceparent(),
        )
        await self.add_references(deployment_id, plan)
        async with core.db.transaction() as session:
            changes = Changes(deployment.created_at)
            await write_deployment(session, deployment, plan, changes)
            await core.audit.record("deployment.create", f"deployment:{deployment_id}", reason=summary(plan))
            if request.override_window:
                await core.audit.record(
                    "deployment.override_window",
                    f"deployment:{deployment_id}",
                    reason="dispatches outside the maintenance windows of its nodes' groups",
                )
            await changes.flush(session)
        return deployment, plan

    async def plan(self, request: DeploymentRequest) -> Plan:
        """The checked request resolved into targets and batches; nothing is written."""
        if request.action not in ACTIONS:
            raise InvalidArgument("action must be install, update, uninstall or rollback")
        check_strategy(request.strategy)
        if request.action == ROLLBACK:
            plan = await self._plan_rollback(request)
        else:
            if request.rollback_deployment_id:
                raise InvalidArgument("rollback_deployment_id is only for ACTION_ROLLBACK")
            plan = await self._plan(request)
        return plan.batched(request.strategy)

    async def add_references(self, deployment_id: uuid.UUID, plan: Plan, holder: str = "") -> None:
        """The deployment (or `holder`, e.g. the policy that made it) holds its packages in the catalog.
        Before the rows exist: a package deleted in between makes this fail, and a reference left by a
        failure after it only keeps a package longer."""
        holder = holder or deployment_holder(deployment_id)
        for package_id in sorted({t.package.id for t in plan.runnable if t.package is not None}):
            await self.core.catalog.add_reference(package_id, holder)

    async def _plan(self, request: DeploymentRequest) -> Plan:
        kind, value = target_spec(request.target)
        parse_uuid(request.package_id, "package_id")
        package = await self.core.catalog.get_package(request.package_id)
        servers = await self.core.inventory.resolve(request.target)  # type: ignore[arg-type]
        installed = await self.core.inventory.installed(package.software_name)
        format = _FORMATS.get(package.format, "")
        plan = Plan(package, request.action, package.software_name, format, kind, value)
        families = [_FAMILIES.get(family, "") for family in package.package_families]
        for server in servers:
            node = _resolved(server)
            plan.targets.append(
                PlannedTarget(
                    server_id=server.id,
                    hostname=server.hostname,
                    action=request.action,
                    package=package,
                    previous_version=installed.get(server.id, ""),
                    skip_reason=misfit(format, families, package.arch, node),
                    group_ids=list(server.group_ids),
                )
            )
        return plan

    async def _plan_rollback(self, request: DeploymentRequest) -> Plan:
        """Each node of the deployment goes back to the version it had before it, or loses the software
        where it had none; nodes the deployment did not change are skipped."""
        if not request.rollback_deployment_id:
            raise InvalidArgument("ACTION_ROLLBACK needs rollback_deployment_id")
        async with self.core.db.transaction() as session:
            undone = await load_deployment(session, request.rollback_deployment_id)
            statement = (
                select(Target)
                .where(col(Target.deployment_id) == undone.id, col(Target.current))
                .order_by(col(Target.hostname), col(Target.server_id))
            )
            targets = list(await session.exec(statement))
        if undone.state not in (PAUSED, SUCCEEDED, FAILED, CANCELLED):
            raise FailedPrecondition(
                f"deployment {undone.id} is {undone.state}; pause or cancel it before rolling it back"
            )
        working = sum(1 for target in targets if target.state in IN_FLIGHT)
        if working:
            raise FailedPrecondition(
                f"deployment {undone.id} has {working} node(s) still working; wait for them before "
                "rolling it back"
            )
        versions: dict[str, list[catalog_pb.Package]] = {}
        plan = Plan(
            None, ROLLBACK, undone.software_name, undone.format, undone.target_kind, undone.target_value
        )
        for target in targets:
            plan.targets.append(await self._rollback_target(undone, target, versions))
        chosen = next((t.package for t in plan.targets if t.package is not None and not t.skip_reason), None)
        plan.package = chosen
        return plan

    async def _rollback_target(
        self, undone: Deployment, target: Target, versions: dict[str, list[catalog_pb.Package]]
    ) -> PlannedTarget:
        planned = PlannedTarget(
            server_id=str(target.server_id),
            hostname=target.hostname,
            action=ROLLBACK,
            package=None,
            previous_version=target.installed_version,
            name=target.name,
            format=target.format,
            group_ids=list(target.group_ids or []),
        )
        if target.state not in _ROLLBACK_FROM:
            planned.skip_reason = f"deployment {undone.id} did not change this node ({target.state})"
            return planned
        if not target.previous_version:
            planned.action = UNINSTALL
            return planned
        if target.format not in versions:
            versions[target.format] = await self.core.catalog.versions(
                target.name, next(number for number, name in _FORMATS.items() if name == target.format)
            )
        candidates = [p for p in versions[target.format] if version_matches(p, target.previous_version)]
        fitting = [p for p in candidates if p.arch == target.arch] or [
            p for p in candidates if p.arch == "noarch"
        ]
        if not fitting:
            planned.skip_reason = (
                f"no {target.format} package of {target.name} {target.previous_version} for {target.arch} "
                "is in the catalog"
            )
            return planned
        planned.package = fitting[0]
        return planned


def summary(plan: Plan) -> str:
    """The audit reason of a deployment's creation."""
    version = plan.package.version if plan.package is not None else ""
    return (
        f"{plan.action} {plan.software_name} {version} on {len(plan.runnable)} node(s), "
        f"{len(plan.targets) - len(plan.runnable)} skipped"
    )


def new_deployment(
    deployment_id: uuid.UUID,
    plan: Plan,
    request: DeploymentRequest,
    *,
    created_by: str,
    now: datetime,
    request_id: str = "",
    origin: str = "manual",
    policy_id: uuid.UUID | None = None,
    schedule_id: uuid.UUID | None = None,
    traceparent: str = "",
) -> Deployment:
    """The deployment row of a plan (not added to any session); `traceparent`: the creating request's."""
    package = plan.package
    return Deployment(
        id=deployment_id,
        package_id=uuid.UUID(package.id) if package is not None else None,
        software_name=plan.software_name,
        version=package.version if package is not None else "",
        release=package.release if package is not None else "",
        format=plan.format,
        arch=package.arch if package is not None else "",
        action=plan.action,
        target_kind=plan.target_kind,
        target_value=plan.target_value,
        strategy=request.strategy.as_json(),
        batch_size=plan.batch_size,
        failure_budget=plan.failure_budget,
        state=PENDING,
        origin=origin,
        policy_id=policy_id,
        schedule_id=schedule_id,
        rollback_deployment_id=uuid.UUID(request.rollback_deployment_id)
        if request.rollback_deployment_id
        else None,
        override_window=request.override_window,
        created_by=created_by[:200],
        created_at=now,
        updated_at=now,
        batch_count=plan.batch_count,
        request_id=request_id[:128],
        traceparent=traceparent[:128],
    )


async def write_deployment(
    session: AsyncSession, deployment: Deployment, plan: Plan, changes: Changes
) -> None:
    """Writes the deployment (new, or the row of a waiting scheduled one) and its targets, and
    queues their first events: a watcher sees each node from `pending` (or `skipped`, which never changes
    again) on. The caller records the audit entry and flushes `changes` in the same transaction."""
    rows = [target_row(deployment, target, changes.now) for target in plan.targets]
    session.add(deployment)
    await session.flush()
    connection = await session.connection()
    for start in range(0, len(rows), 1000):
        await connection.execute(insert(Target), rows[start : start + 1000])
    await changes.deployment(session, deployment)
    for row in rows:
        changes.target(Target(**row))
    changes.wake_rollout()


def target_row(deployment: Deployment, target: PlannedTarget, now: datetime) -> dict[str, Any]:
    return {
        "deployment_id": deployment.id,
        "server_id": uuid.UUID(target.server_id),
        "attempt": 1,
        "current": True,
        "hostname": target.hostname,
        "batch": target.batch,
        "state": SKIPPED if target.skip_reason else PENDING,
        "message": target.skip_reason,
        "previous_version": target.previous_version,
        "action": target.action,
        "updated_at": now,
        "finished_at": now if target.skip_reason else None,
        "group_ids": target.group_ids or None,
        **_package_facts(
            target.package, target.name or deployment.software_name, target.format or deployment.format
        ),
    }
