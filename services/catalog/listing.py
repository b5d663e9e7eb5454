"""Read use cases: one package, filtered listings, a software's versions, the newest installable one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, tuple_
from sqlmodel import col, select

from services.catalog import validation as checks
from services.catalog.models import Package
from services.catalog.repository import holders_of, load_package
from services.catalog.service import Catalog, PackageView
from services.catalog.versions import debian_string, sort_key
from services.kit.db import AsyncSession
from services.kit.errors import InvalidArgument, NotFound
from services.kit.pagination import decode_token, encode_token, page_size, parse_uuid

__all__ = [
    "PackageFilter",
    "PackagePage",
    "SoftwareSummary",
    "SoftwarePage",
    "CatalogQueries",
    "newest_first",
]


@dataclass(frozen=True)
class PackageFilter:
    """Empty fields do not filter. `installable_arch` matches the arch itself or noarch."""

    software_name: str = ""
    format: str = ""
    package_family: str = ""
    arch: str = ""
    installable_arch: str = ""
    query: str = ""


@dataclass(frozen=True)
class PackagePage:
    packages: list[PackageView]
    next_page_token: str
    total_size: int = 0


@dataclass(frozen=True)
class SoftwareSummary:
    name: str
    version_count: int
    latest_version: str
    formats: list[str]
    updated_at: datetime


@dataclass(frozen=True)
class SoftwarePage:
    software: list[SoftwareSummary]
    next_page_token: str
    total_size: int


def newest_first(packages: list[Package]) -> list[Package]:
    """By each format's version order; equal versions keep a stable order (format, arch, age)."""
    stable = sorted(packages, key=lambda p: (p.format, p.arch, p.created_at, str(p.id)))
    return sorted(stable, key=lambda p: sort_key(p.format, p.version, p.release), reverse=True)


def _checked_filter(where: PackageFilter) -> PackageFilter:
    return PackageFilter(
        software_name=checks.check_software_name(where.software_name) if where.software_name else "",
        format=checks.check_format(where.format) if where.format else "",
        package_family=checks.check_family(where.package_family) if where.package_family else "",
        arch=checks.check_arch(where.arch) if where.arch else "",
        installable_arch=checks.check_arch(where.installable_arch) if where.installable_arch else "",
        query=checks.check_query(where.query),
    )


def _filtered(statement: Any, where: PackageFilter) -> Any:
    if where.software_name:
        statement = statement.where(Package.software_name == where.software_name)
    if where.format:
        statement = statement.where(Package.format == where.format)
    if where.package_family:
        statement = statement.where(col(Package.package_families).contains([where.package_family]))
    if where.arch:
        statement = statement.where(Package.arch == where.arch)
    if where.installable_arch:
        statement = statement.where(col(Package.arch).in_([where.installable_arch, checks.NOARCH]))
    if where.query:
        statement = statement.where(
            or_(
                col(Package.software_name).contains(where.query, autoescape=True),
                func.lower(col(Package.description)).contains(where.query, autoescape=True),
            )
        )
    return statement


def _listing_position(token: str) -> tuple[str, datetime, uuid.UUID] | None:
    position = decode_token(token, "name", "at", "id")
    if position is None:
        return None
    try:
        return str(position["name"]), datetime.fromisoformat(position["at"]), uuid.UUID(position["id"])
    except (TypeError, ValueError) as exc:
        raise InvalidArgument("page_token is not valid") from exc


def _offset(token: str) -> int:
    position = decode_token(token, "offset")
    offset = position["offset"] if position else 0
    if not isinstance(offset, int) or offset < 0:
        raise InvalidArgument("page_token is not valid")
    return offset


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidArgument("page_token is not valid")
    return value


async def _views(session: AsyncSession, packages: list[Package]) -> list[PackageView]:
    holders = await holders_of(session, [package.id for package in packages])
    return [PackageView(package, holders.get(package.id, [])) for package in packages]


def _summary(name: str, packages: list[Package]) -> SoftwareSummary:
    newest = newest_first(packages)[0]
    return SoftwareSummary(
        name=name,
        version_count=len({(p.version, p.release) for p in packages}),
        latest_version=debian_string(newest.version, newest.release),
        formats=sorted({p.format for p in packages}, key=checks.FORMATS.index),
        updated_at=max(p.updated_at for p in packages),
    )


class CatalogQueries:
    """Reads are open to every user role and to services."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def get(self, package_id: str) -> PackageView:
        self.catalog.require_reader()
        pid = parse_uuid(package_id, "package id")
        async with self.catalog.db.transaction() as session:
            package = await load_package(session, pid)
            holders = await holders_of(session, [pid])
        return PackageView(package, holders.get(pid, []))

    async def list(self, where: PackageFilter, *, size: int, token: str) -> PackagePage:
        self.catalog.require_reader()
        limit, after, where = page_size(size), _listing_position(token), _checked_filter(where)
        statement = _filtered(select(Package), where)
        order = (col(Package.software_name), col(Package.created_at), col(Package.id))
        async with self.catalog.db.transaction() as session:
            total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
            if after:
                statement = statement.where(tuple_(*order) > tuple_(*after))
            rows = list(await session.exec(statement.order_by(*order).limit(limit + 1)))
            views = await _views(session, rows[:limit])
        last = rows[limit - 1] if len(rows) > limit else None
        token = (
            encode_token({"name": last.software_name, "at": last.created_at.isoformat(), "id": str(last.id)})
            if last
            else ""
        )
        return PackagePage(views, token, total)

    async def list_versions(self, where: PackageFilter, *, size: int, token: str) -> PackagePage:
        """One software's packages, newest first; one software has at most hundreds, so they are
        ordered here by the formats' own rules rather than in SQL."""
        self.catalog.require_reader()
        if not where.software_name:
            raise InvalidArgument("software_name is required")
        limit, offset, where = page_size(size), _offset(token), _checked_filter(where)
        async with self.catalog.db.transaction() as session:
            rows = newest_first(list(await session.exec(_filtered(select(Package), where))))
            views = await _views(session, rows[offset : offset + limit])
        more = len(rows) > offset + limit
        return PackagePage(views, encode_token({"offset": offset + limit}) if more else "", len(rows))

    async def latest(self, software_name: str, package_family: str, arch: str, format: str) -> PackageView:
        self.catalog.require_reader()
        if not software_name or not package_family or not arch:
            raise InvalidArgument("software_name, package_family and arch are required")
        where = _checked_filter(
            PackageFilter(
                software_name=software_name,
                package_family=package_family,
                installable_arch=arch,
                format=format,
            )
        )
        async with self.catalog.db.transaction() as session:
            rows = list(await session.exec(_filtered(select(Package), where)))
            if not rows:
                raise NotFound(
                    f"no package of {where.software_name} for the {where.package_family} family "
                    f"and {where.installable_arch}" + (f" in {where.format} format" if where.format else "")
                )
            # Among equal versions, a build for the exact arch beats a noarch one.
            best = max(
                rows, key=lambda p: (sort_key(p.format, p.version, p.release), p.arch != checks.NOARCH)
            )
            return (await _views(session, [best]))[0]

    async def list_software(self, query: str, *, size: int, token: str) -> SoftwarePage:
        self.catalog.require_reader()
        limit, after, text = page_size(size), decode_token(token, "after"), checks.check_query(query)
        names = select(Package.software_name).distinct()
        if text:
            names = names.where(col(Package.software_name).contains(text, autoescape=True))
        async with self.catalog.db.transaction() as session:
            total = (await session.exec(select(func.count()).select_from(names.subquery()))).one()
            if after:
                names = names.where(col(Package.software_name) > _text(after["after"]))
            page = list(await session.exec(names.order_by(col(Package.software_name)).limit(limit + 1)))
            rows = await session.exec(select(Package).where(col(Package.software_name).in_(page[:limit])))
            by_name: dict[str, list[Package]] = {}
            for package in rows:
                by_name.setdefault(package.software_name, []).append(package)
        software = [_summary(name, by_name[name]) for name in page[:limit]]
        next_token = encode_token({"after": page[limit - 1]}) if len(page) > limit else ""
        return SoftwarePage(software, next_token, total)
