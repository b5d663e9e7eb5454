"""Checks and normalisation of everything a client can send: addresses, names, labels, windows, reports."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from services.inventory.models import CATEGORIES, PACKAGE_FAMILIES, SOURCES
from services.kit.errors import InvalidArgument
from services.kit.text import check_description as _check_description
from services.kit.text import check_query, has_control
from services.kit.timezones import check_timezone

__all__ = [
    "RESERVED_KEYS",
    "LABEL_KEY",
    "MaintenanceWindow",
    "check_hostname",
    "check_ip",
    "check_category",
    "check_optional_category",
    "check_package_family",
    "check_source",
    "check_labels",
    "check_label_key",
    "check_label_value",
    "check_group_name",
    "check_description",
    "check_window",
    "check_cron",
    "check_short",
    "check_query",
    "has_control",
    "search_address",
]

_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
# Selector keys that mean a server field, so a label of that name could never be selected.
RESERVED_KEYS = ("os_family", "os_id", "arch", "category", "status", "group")
MAX_LABELS = 64
MAX_LABEL_VALUE = 128
MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS = 60, 86400


@dataclass(frozen=True)
class MaintenanceWindow:
    cron: str
    duration_seconds: int
    timezone: str


def check_hostname(value: str) -> str:
    """An RFC 1123 host name, lowercased; "" means none."""
    name = value.strip().lower().removesuffix(".")
    if not name:
        return ""
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise InvalidArgument(
            f"hostname {value[:300]!r} is not a valid host name: at most 253 characters, dot-separated "
            "labels of 1-63 letters, digits or '-', not starting or ending with '-'"
        )
    return name


def check_ip(value: str) -> str:
    """An IPv4 or IPv6 address in its normalised text form."""
    text = value.strip()
    if not text:
        raise InvalidArgument("ip_address is required")
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise InvalidArgument(f"ip_address {text[:100]!r} is not an IPv4 or IPv6 address") from exc
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise InvalidArgument(f"ip_address {text[:100]!r} must not carry a zone (%{address.scope_id[:20]})")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        raise InvalidArgument(f"ip_address {text!r} cannot be a server's address")
    return str(address)


def check_category(value: str) -> str:
    if value not in CATEGORIES:
        raise InvalidArgument(f"category is required and must be one of {', '.join(CATEGORIES)}")
    return value


def check_optional_category(value: str | None) -> str | None:
    """A group's category: None (or "") for none."""
    return check_category(value) if value else None


def check_package_family(value: str) -> str:
    """ "" (not known) or a family name."""
    if value and value not in PACKAGE_FAMILIES:
        raise InvalidArgument(f"package_family must be one of {', '.join(PACKAGE_FAMILIES)}")
    return value


def check_source(value: str) -> str:
    if value not in SOURCES:
        raise InvalidArgument(f"source must be one of {', '.join(SOURCES)}")
    return value


def check_label_key(key: str) -> str:
    if not LABEL_KEY.fullmatch(key):
        raise InvalidArgument(
            f"label key {key[:100]!r} is not valid: 1-63 characters, letters, digits, '.', '_', '/' or '-', "
            "starting with a letter or digit"
        )
    if key in RESERVED_KEYS:
        raise InvalidArgument(
            f"label key {key!r} is reserved for selectors ({', '.join(RESERVED_KEYS)}); choose another name"
        )
    return key


def check_label_value(key: str, value: str) -> str:
    if len(value) > MAX_LABEL_VALUE or not value.isprintable() or "," in value or "=" in value:
        raise InvalidArgument(
            f"label {key!r} has an invalid value: at most {MAX_LABEL_VALUE} printable characters "
            "without ',' or '=' (selectors use them)"
        )
    if value != value.strip():
        raise InvalidArgument(f"label {key!r} value must not start or end with a space")
    return value


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(f"a server may have at most {MAX_LABELS} labels, got {len(labels)}")
    return {check_label_key(key): check_label_value(key, value) for key, value in labels.items()}


def check_group_name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 64:
        raise InvalidArgument("group name must be 1-64 characters")
    if not name.isprintable() or "," in name or "=" in name:
        raise InvalidArgument("group name must be printable and contain no ',' or '=' (selectors use them)")
    return name


def check_short(what: str, value: str, limit: int) -> str:
    """A free-text fact: trimmed, bounded, printable."""
    text = value.strip()
    if len(text) > limit or not text.isprintable():
        raise InvalidArgument(f"{what} must be at most {limit} printable characters")
    return text


def search_address(text: str) -> str | None:
    """The stored form of `text` when it is a whole IP address, so that any spelling of an address
    (uppercase or uncompressed IPv6, IPv4-mapped) finds it; None otherwise."""
    try:
        return check_ip(text)
    except InvalidArgument:
        return None


def check_window(window: MaintenanceWindow) -> MaintenanceWindow:
    if not MIN_WINDOW_SECONDS <= window.duration_seconds <= MAX_WINDOW_SECONDS:
        raise InvalidArgument(
            f"maintenance window duration_seconds must be {MIN_WINDOW_SECONDS}..{MAX_WINDOW_SECONDS}"
        )
    return MaintenanceWindow(
        check_cron(window.cron), window.duration_seconds, _check_timezone(window.timezone)
    )


def _check_timezone(name: str) -> str:
    return check_timezone(name, "maintenance window timezone")


# (name, lowest, highest, names for values) of the five cron fields.
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_ITEM = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")


def check_cron(expression: str) -> str:
    """A standard five-field cron expression (numbers, names, '*', ranges, lists and steps)."""
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidArgument(
            "maintenance window cron must have 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(fields)}"
        )
    for text, spec in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.lower().split(","):
            _check_cron_item(item, *spec)
    return " ".join(fields)


def _check_cron_item(item: str, name: str, low: int, high: int, names: tuple[str, ...]) -> None:
    match = _CRON_ITEM.fullmatch(item)
    if match is None:
        raise InvalidArgument(f"cron {name} field item {item!r} is not '*', a value, a range or a step")
    span, step = match.groups()
    if step is not None and int(step) == 0:
        raise InvalidArgument(f"cron {name} step must be at least 1")
    if span == "*":
        return
    bounds = [_cron_value(part, name, low, high, names) for part in span.split("-")]
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        raise InvalidArgument(f"cron {name} range {span!r} runs backwards")


def _cron_value(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text in names:
        return names.index(text) + low
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidArgument(f"cron {name} value {text!r} must be {low}-{high}")
    return int(text)


def check_description(value: str) -> str:
    return _check_description(value, 1024)
