"""Target selectors: `key=value` / `key!=value` terms joined by commas, all of which must hold.

Keys are os_family (deb|rpm), os_id, arch, category, status, group (a group name) or a label name;
labels match exactly. The parser is pure; `conditions()` turns terms into SQLAlchemy conditions on servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, func, not_, select
from sqlmodel import col

from services.inventory.models import CATEGORIES, PACKAGE_FAMILIES, STATUSES, Group, Membership, Server
from services.inventory.validation import LABEL_KEY, MAX_LABEL_VALUE
from services.kit.errors import InvalidArgument

__all__ = ["Term", "SYNTAX", "MAX_LENGTH", "MAX_TERMS", "parse", "conditions", "group_names"]

SYNTAX = (
    "a selector is comma-separated key=value or key!=value terms that must all hold, "
    "e.g. 'os_family=rpm,category=web,env=prod'; keys are os_family, os_id, arch, category, status, "
    "group (a group name) or a label name"
)
MAX_LENGTH, MAX_TERMS = 4096, 64
# Keys whose values are one of a fixed set.
_CHOICES: dict[str, Sequence[str]] = {
    "os_family": PACKAGE_FAMILIES,
    "category": CATEGORIES,
    "status": STATUSES,
}
_FIELDS = ("os_family", "os_id", "arch", "category", "status", "group")


@dataclass(frozen=True)
class Term:
    key: str
    value: str
    negated: bool = False


def parse(text: str) -> list[Term]:
    """The terms of `text`; InvalidArgument saying what is wrong and what the syntax is."""
    if not text.strip():
        raise InvalidArgument(f"selector is empty; {SYNTAX}")
    if len(text) > MAX_LENGTH:
        raise InvalidArgument(f"selector is longer than {MAX_LENGTH} characters")
    parts = text.split(",")
    if len(parts) > MAX_TERMS:
        raise InvalidArgument(f"selector has more than {MAX_TERMS} terms")
    return [_term(part.strip()) for part in parts]


def _term(text: str) -> Term:
    key, equals, value = text.partition("=")
    negated = key.endswith("!")
    key, value = key.removesuffix("!").strip(), value.strip()
    if not equals or not key or "=" in value:
        raise InvalidArgument(f"selector term {text[:100]!r} is not key=value or key!=value; {SYNTAX}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise InvalidArgument(f"selector key {key!r} takes one of {', '.join(_CHOICES[key])}, got {value!r}")
    if key not in _FIELDS and not LABEL_KEY.fullmatch(key):
        raise InvalidArgument(f"selector key {key[:100]!r} is neither a known key nor a label name; {SYNTAX}")
    if len(value) > MAX_LABEL_VALUE or not value.isprintable():
        raise InvalidArgument(
            f"selector value for {key!r} must be at most {MAX_LABEL_VALUE} printable characters"
        )
    if key == "group" and not value:
        raise InvalidArgument("selector key 'group' needs a group name")
    return Term(key, value, negated)


def group_names(terms: Sequence[Term]) -> list[str]:
    """The group names the terms mention, each once, as written; PostgreSQL folds their case when they
    are matched, as it does for the unique index on group names."""
    return list(dict.fromkeys(term.value for term in terms if term.key == "group"))


def conditions(terms: Sequence[Term]) -> list[ColumnElement[bool]]:
    return [_condition(term) for term in terms]


def _condition(term: Term) -> ColumnElement[bool]:
    holds = _holds(term.key, term.value)
    return not_(holds) if term.negated else holds


def _holds(key: str, value: str) -> ColumnElement[bool]:
    if key == "os_family":
        return col(Server.package_family) == value
    if key == "os_id":
        # os-release IDs differ in case between distributions ("openEuler", "ubuntu").
        return func.lower(col(Server.os_id)) == func.lower(value)
    if key == "arch":
        return col(Server.arch) == value
    if key == "category":
        return col(Server.category) == value
    if key == "status":
        return col(Server.status) == value
    if key == "group":
        return _in_group_named(value)
    return col(Server.labels).contains({key: value})


def _in_group_named(name: str) -> ColumnElement[bool]:
    member = (
        select(Membership.server_id)
        .join(Group, col(Group.id) == col(Membership.group_id))
        .where(
            and_(col(Membership.server_id) == col(Server.id), func.lower(col(Group.name)) == func.lower(name))
        )
    )
    return exists(member)
