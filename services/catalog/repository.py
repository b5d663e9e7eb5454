"""Reads shared by catalog's use cases: one package by id, the holders of packages, an identity match."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import col, func, select

from services.catalog.models import Package, PackageReference
from services.kit.db import AsyncSession
from services.kit.errors import NotFound

__all__ = ["MAX_HOLDERS_SHOWN", "load_package", "holders_of", "first_holder", "same_identity"]

# Package.referenced_by lists this many holders at most; the rest still block deletion.
MAX_HOLDERS_SHOWN = 20


async def load_package(
    session: AsyncSession, package_id: uuid.UUID, *, lock: bool = False, share: bool = False
) -> Package:
    """The package, optionally locked FOR UPDATE (`lock`) or FOR SHARE (`share`); NotFound otherwise."""
    statement = select(Package).where(Package.id == package_id)
    if lock or share:
        statement = statement.with_for_update(read=share and not lock)
    package = (await session.exec(statement)).first()
    if package is None:
        raise NotFound(f"package {package_id} does not exist")
    return package


async def holders_of(session: AsyncSession, package_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The oldest MAX_HOLDERS_SHOWN holders of each package (a package may have thousands)."""
    if not package_ids:
        return {}
    rank = func.row_number().over(
        partition_by=col(PackageReference.package_id),
        order_by=(col(PackageReference.created_at), col(PackageReference.holder)),
    )
    ranked = (
        select(PackageReference.package_id, PackageReference.holder, rank.label("rank"))
        .where(col(PackageReference.package_id).in_(package_ids))
        .subquery()
    )
    statement = (
        select(ranked.c.package_id, ranked.c.holder)
        .where(ranked.c.rank <= MAX_HOLDERS_SHOWN)
        .order_by(ranked.c.package_id, ranked.c.rank)
    )
    holders: dict[uuid.UUID, list[str]] = defaultdict(list)
    for package_id, holder in await session.exec(statement):
        holders[package_id].append(holder)
    return holders


async def first_holder(session: AsyncSession, package_id: uuid.UUID) -> str | None:
    statement = (
        select(PackageReference.holder)
        .where(PackageReference.package_id == package_id)
        .order_by(col(PackageReference.created_at), col(PackageReference.holder))
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def same_identity(session: AsyncSession, package: Package) -> Package | None:
    """The stored package with the same name, version, release, format and arch, if any."""
    statement = select(Package).where(
        Package.software_name == package.software_name,
        Package.version == package.version,
        Package.release == package.release,
        Package.format == package.format,
        Package.arch == package.arch,
    )
    return (await session.exec(statement)).first()
