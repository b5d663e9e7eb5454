"""Package use cases that change the catalog: create, update, delete, and holders' references."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete

from services.catalog import validation as checks
from services.catalog.artifacts import ArtifactStore, package_holder
from services.catalog.models import Package, PackageReference
from services.catalog.profiles import DeployProfileSpec, check_profile, profile_to_json
from services.catalog.repository import first_holder, holders_of, load_package, same_identity
from services.kit.audit_client import AuditClient
from services.kit.context import USER_ROLES, WRITE_ROLES, Principal, require_caller
from services.kit.db import AsyncSession, Database
from services.kit.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
)
from services.kit.hints import hint_reconciler
from services.kit.pagination import parse_uuid
from services.kit.versions import debian_string

__all__ = ["PackageDraft", "PackageChanges", "PackageView", "Catalog", "PackageUseCases", "utcnow"]

log = logging.getLogger("convoy.catalog")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PackageDraft:
    """What CreatePackage is told; the artifact's size comes from the store, not from here."""

    software_name: str
    version: str
    format: str
    arch: str
    artifact_sha256: str
    release: str = ""
    package_families: tuple[str, ...] = ()
    description: str = ""
    depends: tuple[str, ...] = ()
    signature: str = ""
    deploy_profile: DeployProfileSpec | None = None


@dataclass(frozen=True)
class PackageChanges:
    """None leaves a field as it is."""

    description: str | None = None
    deploy_profile: DeployProfileSpec | None = None
    clear_deploy_profile: bool = False
    signature: str | None = None


@dataclass(frozen=True)
class PackageView:
    package: Package
    referenced_by: list[str] = field(default_factory=list)


@dataclass
class Catalog:
    """What every catalog use case needs: the database, the audit log, the artifact store, the clock."""

    db: Database
    audit: AuditClient
    store: ArtifactStore
    now: Callable[[], datetime] = utcnow

    async def authorize(self, action: str, target: str) -> Principal:
        """A user allowed to change packages, or a service; a refusal is audited."""
        return await self.audit.authorize(action, target, *WRITE_ROLES)

    def require_reader(self) -> Principal:
        return require_caller(*USER_ROLES)


def _target(package_id: object) -> str:
    return f"package:{str(package_id)[:64]}"


def _label(package: Package) -> str:
    version = debian_string(package.version, package.release)
    return f"{package.software_name} {version} {package.format} {package.arch}"


def _new_package(package_id: uuid.UUID, draft: PackageDraft, created_by: str, now: datetime) -> Package:
    """A package row from a draft, every field checked and normalised."""
    format = checks.check_format(draft.format)
    version, release = checks.check_version(format, draft.version, draft.release)
    return Package(
        id=package_id,
        software_name=checks.check_software_name(draft.software_name),
        version=version,
        release=release,
        format=format,
        arch=checks.check_arch(draft.arch),
        package_families=checks.check_families(format, draft.package_families),
        description=checks.check_description(draft.description),
        depends=checks.check_depends(draft.depends),
        artifact_sha256=checks.check_sha256(draft.artifact_sha256),
        artifact_size=0,
        signature=checks.check_signature(draft.signature),
        deploy_profile=profile_to_json(check_profile(draft.deploy_profile)) if draft.deploy_profile else None,
        created_by=created_by[:200],
        created_at=now,
        updated_at=now,
    )


class PackageUseCases:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def create(self, draft: PackageDraft) -> PackageView:
        catalog, package_id = self.catalog, uuid.uuid4()
        principal = await catalog.authorize("package.create", _target(package_id))
        package = _new_package(package_id, draft, principal.name or principal.subject, catalog.now())
        async with catalog.db.transaction() as session:
            await _refuse_duplicate(session, package)
        holder = package_holder(package_id)
        package.artifact_size = await catalog.store.add_reference(package.artifact_sha256, holder)
        try:
            await self._insert(package)
        except Exception:
            await self._drop_reference(package.artifact_sha256, holder, delete_unreferenced=False)
            raise
        return PackageView(package)

    async def _insert(self, package: Package) -> None:
        catalog = self.catalog
        try:
            async with catalog.db.transaction() as session:
                session.add(package)
                await session.flush()
                await catalog.audit.record("package.create", _target(package.id), reason=_label(package))
                await hint_reconciler(session, f"software:{package.software_name}")
        except IntegrityError as exc:
            # Another caller registered the same identity since the check above.
            async with catalog.db.transaction() as session:
                await _refuse_duplicate(session, package)
            raise AlreadyExists(f"package {_label(package)} already exists") from exc

    async def _drop_reference(self, sha256: str, holder: str, *, delete_unreferenced: bool) -> None:
        try:
            await self.catalog.store.remove_reference(sha256, holder, delete_unreferenced)
        except DomainError as exc:
            # A leftover reference only keeps a blob alive; it never makes a package appear.
            log.warning("could not drop the reference %s on artifact %s: %s", holder, sha256, exc.message)

    async def update(self, package_id: str, changes: PackageChanges) -> PackageView:
        catalog = self.catalog
        await catalog.authorize("package.update", _target(package_id))
        pid = parse_uuid(package_id, "package id")
        changes = _checked_changes(changes)
        async with catalog.db.transaction() as session:
            package = await load_package(session, pid, lock=True)
            fields = _apply(package, changes)
            package.updated_at = catalog.now()
            await session.flush()
            await catalog.audit.record("package.update", _target(pid), reason=fields)
            holders = await holders_of(session, [pid])
        return PackageView(package, holders.get(pid, []))

    async def delete(self, package_id: str) -> None:
        catalog = self.catalog
        await catalog.authorize("package.delete", _target(package_id))
        pid = parse_uuid(package_id, "package id")
        async with catalog.db.transaction() as session:
            # The row lock makes a concurrent AddReference wait for this delete, then find nothing.
            package = await load_package(session, pid, lock=True)
            holder = await first_holder(session, pid)
            if holder is not None:
                raise FailedPrecondition(f"package is still referenced by {holder}")
            await session.delete(package)
            await session.flush()
            await catalog.audit.record("package.delete", _target(pid), reason=_label(package))
        # After the commit: the package is gone whether or not transfer answers now.
        await self._drop_reference(package.artifact_sha256, package_holder(pid), delete_unreferenced=True)

    async def add_reference(self, package_id: str, holder: str) -> PackageView:
        catalog = self.catalog
        await self._require_service("package.reference.add", _target(package_id))
        pid, holder = parse_uuid(package_id, "package id"), checks.check_holder(holder)
        async with catalog.db.transaction() as session:
            package = await load_package(session, pid, share=True)
            if await _insert_reference(session, pid, holder, catalog.now()):
                await catalog.audit.record("package.reference.add", _target(pid), reason=f"holder={holder}")
            holders = await holders_of(session, [pid])
        return PackageView(package, holders.get(pid, []))

    async def remove_reference(self, package_id: str, holder: str) -> None:
        catalog = self.catalog
        await self._require_service("package.reference.remove", _target(package_id))
        pid, holder = parse_uuid(package_id, "package id"), checks.check_holder(holder)
        async with catalog.db.transaction() as session:
            statement = delete(PackageReference).where(
                col(PackageReference.package_id) == pid, col(PackageReference.holder) == holder
            )
            result = await session.exec(statement)  # type: ignore[call-overload]
            if result.rowcount:
                await catalog.audit.record(
                    "package.reference.remove", _target(pid), reason=f"holder={holder}"
                )

    async def _require_service(self, action: str, target: str) -> Principal:
        """Only services hold references (the scheduler for deployments and policies), never people."""
        reason = "only Convoy services may add or remove package references"
        return await self.catalog.audit.authorize_service(action, target, reason)


async def _refuse_duplicate(session: AsyncSession, package: Package) -> None:
    existing = await same_identity(session, package)
    if existing is not None:
        raise AlreadyExists(f"package {_label(package)} already exists as {existing.id}")


async def _insert_reference(session: AsyncSession, pid: uuid.UUID, holder: str, now: datetime) -> bool:
    """True when the reference is new (adding it again is not an error)."""
    statement = (
        insert(PackageReference)
        .values(package_id=pid, holder=holder, created_at=now)
        .on_conflict_do_nothing()
        .returning(col(PackageReference.holder))
    )
    connection = await session.connection()
    return (await connection.execute(statement)).first() is not None


def _checked_changes(changes: PackageChanges) -> PackageChanges:
    if changes.clear_deploy_profile and changes.deploy_profile is not None:
        raise InvalidArgument("give either a deploy_profile or clear_deploy_profile, not both")
    return PackageChanges(
        description=None if changes.description is None else checks.check_description(changes.description),
        deploy_profile=check_profile(changes.deploy_profile) if changes.deploy_profile else None,
        clear_deploy_profile=changes.clear_deploy_profile,
        signature=None if changes.signature is None else checks.check_signature(changes.signature),
    )


def _apply(package: Package, changes: PackageChanges) -> str:
    """Applies checked changes; returns the names of the changed fields for the audit record."""
    changed = []
    if changes.description is not None:
        package.description = changes.description
        changed.append("description")
    if changes.deploy_profile is not None or changes.clear_deploy_profile:
        package.deploy_profile = profile_to_json(changes.deploy_profile)
        changed.append("deploy_profile")
    if changes.signature is not None:
        package.signature = changes.signature
        changed.append("signature")
    return ", ".join(changed) or "no changes"
