"""Read use cases: one package, filtered listings, a software's versions, the newest installable one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Uuid, any_, distinct, func, literal, or_, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from services.catalog import validation as checks
from services.catalog.models import Package
from services.catalog.repository import holders_of, load_package
from services.catalog.service import Catalog, PackageView
from services.kit.db import AsyncSession
from services.kit.errors import DomainError, InvalidArgument, NotFound
from services.kit.pagination import page_size, parse_uuid, read_time, read_token, scope, write_token
from services.kit.versions import VersionKey, debian_string

__all__ = [
    "PackageFilter",
    "PackagePage",
    "SoftwareSummary",
    "SoftwarePage",
    "CatalogQueries",
    "newest_first",
]

# What ordering by version needs of a package, read without its description, signature and profile
# (which can be large), for every package of a software at once.
_ORDER_FIELDS = (
    col(Package.id),
    col(Package.software_name),
    col(Package.format),
    col(Package.version),
    col(Package.release),
    col(Package.arch),
    col(Package.created_at),
)


class Ordered(Protocol):
    """A package row, or just the fields in _ORDER_FIELDS."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def format(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def release(self) -> str: ...
    @property
    def arch(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


R = TypeVar("R", bound=Ordered)


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


@dataclass(frozen=True)
class _Position:
    """Where a page of versions ended, as its last package's order fields."""

    id: uuid.UUID
    format: str
    version: str
    release: str
    arch: str
    created_at: datetime


def _version_key(package: Ordered) -> VersionKey:
    return VersionKey(package.format, package.version, package.release)


def newest_first(packages: Sequence[R]) -> list[R]:
    """By each format's version order; equal versions keep a stable order (format, arch, age).
    Each version is parsed once, so a software's hundreds of versions sort in milliseconds."""
    stable = sorted(packages, key=lambda p: (p.format, p.arch, p.created_at, str(p.id)))
    return sorted(stable, key=_version_key, reverse=True)


def _newest(packages: Sequence[R]) -> R:
    """The newest version; among equal ones a build for the exact arch beats a noarch one, then the
    latest registered wins, so that the answer never depends on the order rows come in."""
    return max(packages, key=lambda p: (_version_key(p), p.arch != checks.NOARCH, p.created_at, str(p.id)))


def _any_id(ids: Sequence[uuid.UUID]) -> Any:
    return any_(literal(list(ids), ARRAY(Uuid())))


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


def _listing_position(token: str, listing: str) -> tuple[str, datetime, uuid.UUID] | None:
    position = read_token(token, listing, "name", "at", "id")
    if position is None:
        return None
    return position["name"], read_time(position["at"]), parse_uuid(position["id"], "page_token id")


def _listing_token(listing: str, last: Package) -> str:
    return write_token(listing, name=last.software_name, at=last.created_at.isoformat(), id=str(last.id))


def _versions_position(token: str, listing: str) -> _Position | None:
    position = read_token(token, listing, "id", "format", "version", "release", "arch", "at")
    if position is None:
        return None
    try:
        checks.check_format(position["format"])
    except DomainError as exc:
        raise InvalidArgument("page_token is not valid") from exc
    fields = {name: position[name] for name in ("format", "version", "release", "arch")}
    return _Position(
        parse_uuid(position["id"], "page_token id"), created_at=read_time(position["at"]), **fields
    )


def _versions_token(listing: str, last: Ordered) -> str:
    return write_token(
        listing,
        id=str(last.id),
        format=last.format,
        version=last.version,
        release=last.release,
        arch=last.arch,
        at=last.created_at.isoformat(),
    )


def _after(packages: Sequence[R], position: _Position) -> list[R]:
    """The packages that come after `position` in newest-first order, whether or not the package it
    names still exists: a version published or deleted between pages neither repeats nor skips any."""
    rest = [package for package in packages if package.id != position.id]
    ordered: list[Any] = newest_first([*rest, position])
    return ordered[next(i for i, package in enumerate(ordered) if package is position) + 1 :]


async def _full(session: AsyncSession, packages: Sequence[Ordered]) -> list[PackageView]:
    """The whole rows of `packages`, in their order, with their holders."""
    ids = [package.id for package in packages]
    rows = (
        {p.id: p for p in await session.exec(select(Package).where(col(Package.id) == _any_id(ids)))}
        if ids
        else {}
    )
    return await _views(session, [rows[package_id] for package_id in ids if package_id in rows])


async def _views(session: AsyncSession, packages: list[Package]) -> list[PackageView]:
    holders = await holders_of(session, [package.id for package in packages])
    return [PackageView(package, holders.get(package.id, [])) for package in packages]


async def _summaries(session: AsyncSession, names: list[str]) -> list[SoftwareSummary]:
    """Counts, formats and dates come from SQL; only the newest version needs each format's order."""
    aggregates = (
        select(
            col(Package.software_name),
            func.count(distinct(tuple_(col(Package.version), col(Package.release)))),
            func.array_agg(distinct(col(Package.format))),
            func.max(col(Package.updated_at)),
        )
        .where(col(Package.software_name).in_(names))
        .group_by(col(Package.software_name))
    )
    totals = {name: rest for name, *rest in await session.exec(aggregates)}
    newest = await _newest_of_each(session, names)
    return [_summary(name, newest[name], *totals[name]) for name in names if name in totals]


async def _newest_of_each(session: AsyncSession, names: list[str]) -> dict[str, Any]:
    by_name: dict[str, list[Any]] = {}
    for row in await session.exec(select(*_ORDER_FIELDS).where(col(Package.software_name).in_(names))):
        by_name.setdefault(row.software_name, []).append(row)
    return {name: _newest(rows) for name, rows in by_name.items()}


def _summary(
    name: str, newest: Ordered, count: int, formats: list[str], updated_at: datetime
) -> SoftwareSummary:
    return SoftwareSummary(
        name=name,
        version_count=count,
        latest_version=debian_string(newest.version, newest.release),
        formats=sorted(formats, key=checks.FORMATS.index),
        updated_at=updated_at,
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
        where = _checked_filter(where)
        listing = scope("packages", *astuple(where))
        limit, after = page_size(size), _listing_position(token, listing)
        statement = _filtered(select(Package), where)
        order = (col(Package.software_name), col(Package.created_at), col(Package.id))
        async with self.catalog.db.transaction() as session:
            total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
            if after:
                statement = statement.where(tuple_(*order) > tuple_(*after))
            rows = list(await session.exec(statement.order_by(*order).limit(limit + 1)))
            views = await _views(session, rows[:limit])
        next_token = _listing_token(listing, rows[limit - 1]) if len(rows) > limit else ""
        return PackagePage(views, next_token, total)

    async def list_versions(self, where: PackageFilter, *, size: int, token: str) -> PackagePage:
        """One software's packages, newest first by the formats' own rules, which SQL cannot sort by:
        the order fields of all of them are sorted here, and only the page is read whole."""
        self.catalog.require_reader()
        if not where.software_name:
            raise InvalidArgument("software_name is required")
        where = _checked_filter(where)
        listing = scope("versions", *astuple(where))
        limit, after = page_size(size), _versions_position(token, listing)
        async with self.catalog.db.transaction() as session:
            rows = list(await session.exec(_filtered(select(*_ORDER_FIELDS), where)))
            ordered = _after(rows, after) if after else newest_first(rows)
            views = await _full(session, ordered[:limit])
        more = len(ordered) > limit
        return PackagePage(views, _versions_token(listing, ordered[limit - 1]) if more else "", len(rows))

    async def latest(self, software_name: str, package_family: str, arch: str, format: str) -> PackageView:
        self.catalog.require_reader()
        if not software_name or not package_family or not arch:
            raise InvalidArgument("software_name, package_family and arch are required")
        filter = PackageFilter(software_name, format, package_family, installable_arch=arch)
        where = _checked_filter(filter)
        async with self.catalog.db.transaction() as session:
            rows = list(await session.exec(_filtered(select(*_ORDER_FIELDS), where)))
            if not rows:
                raise NotFound(_nothing_installable(where))
            return (await _full(session, [_newest(rows)]))[0]

    async def list_software(self, query: str, *, size: int, token: str) -> SoftwarePage:
        self.catalog.require_reader()
        text = checks.check_query(query)
        listing = scope("software", text)
        limit, after = page_size(size), read_token(token, listing, "after")
        names = select(Package.software_name).distinct()
        if text:
            names = names.where(col(Package.software_name).contains(text, autoescape=True))
        async with self.catalog.db.transaction() as session:
            total = (await session.exec(select(func.count()).select_from(names.subquery()))).one()
            if after:
                names = names.where(col(Package.software_name) > after["after"])
            page = list(await session.exec(names.order_by(col(Package.software_name)).limit(limit + 1)))
            software = await _summaries(session, page[:limit])
        next_token = write_token(listing, after=page[limit - 1]) if len(page) > limit else ""
        return SoftwarePage(software, next_token, total)


def _nothing_installable(where: PackageFilter) -> str:
    return (
        f"no package of {where.software_name} for the {where.package_family} family and {where.installable_arch}"
        + (f" in {where.format} format" if where.format else "")
    )
