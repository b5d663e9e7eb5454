"""Deploy profiles: what the agent does around a package operation, checked and kept as JSON."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from services.kit.errors import InvalidArgument

__all__ = ["HealthCheckSpec", "DeployProfileSpec", "check_profile", "profile_to_json", "profile_from_json"]

MAX_TIMEOUT_SECONDS = 600
# A script inside the artifact: relative, '/'-separated, no '..' that could climb out of it.
_HOOK_PATTERN = re.compile(r"^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$")
# systemd unit names: letters, digits, ":-_.\", an optional "@instance", usually a ".service" suffix.
_UNIT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.\\-]*(@[A-Za-z0-9:_.\\-]*)?$")
_MAX_ARGS, _MAX_ARG_CHARS = 64, 1024


@dataclass(frozen=True)
class HealthCheckSpec:
    """Exactly one of `command` (argv, no shell) and `http_url` (a loopback URL on the node)."""

    command: tuple[str, ...] = ()
    http_url: str = ""
    timeout_seconds: int = 0


@dataclass(frozen=True)
class DeployProfileSpec:
    pre_hook: str = ""
    post_hook: str = ""
    health_check: HealthCheckSpec | None = None
    restart_service: str = ""


def _check_hook(field: str, value: str) -> str:
    if not value:
        return ""
    parts = value.split("/")
    if len(value) > 256 or not _HOOK_PATTERN.fullmatch(value) or ".." in parts:
        raise InvalidArgument(
            f"{field} must name a script inside the artifact: a relative path of letters, digits and "
            f"'._+-' without '..' or a leading '/', at most 256 characters; got {value[:300]!r}"
        )
    return value


def _check_unit(value: str) -> str:
    if value and (len(value) > 255 or not _UNIT_PATTERN.fullmatch(value)):
        raise InvalidArgument(
            f"restart_service must be a systemd unit name such as 'myapp.service'; got {value[:300]!r}"
        )
    return value


def _check_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is out of range
    except ValueError as exc:
        raise InvalidArgument(f"health_check.http_url is not a valid URL: {exc}") from exc
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(url) > 2048
        or not url.isprintable()
    ):
        raise InvalidArgument("health_check.http_url must be an http:// or https:// URL")
    if parts.username is not None or not _is_loopback(parts.hostname):
        raise InvalidArgument(
            "health_check.http_url must point at the node itself (localhost, 127.0.0.1 or [::1]), "
            f"got host {parts.hostname!r}"
        )
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_command(argv: tuple[str, ...]) -> tuple[str, ...]:
    if not argv[0]:
        raise InvalidArgument("health_check.command needs a program as its first argument")
    if len(argv) > _MAX_ARGS or any(len(arg) > _MAX_ARG_CHARS or "\0" in arg for arg in argv):
        raise InvalidArgument(
            f"health_check.command takes at most {_MAX_ARGS} arguments of at most {_MAX_ARG_CHARS} "
            "characters, without NUL bytes"
        )
    return argv


def _check_health(check: HealthCheckSpec) -> HealthCheckSpec:
    if not 0 <= check.timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise InvalidArgument(f"health_check.timeout_seconds must be 0 to {MAX_TIMEOUT_SECONDS}")
    if bool(check.command) == bool(check.http_url):
        raise InvalidArgument("health_check needs either a command (argv) or an http_url")
    if check.command:
        return HealthCheckSpec(command=_check_command(check.command), timeout_seconds=check.timeout_seconds)
    return HealthCheckSpec(http_url=_check_url(check.http_url.strip()), timeout_seconds=check.timeout_seconds)


def check_profile(profile: DeployProfileSpec) -> DeployProfileSpec:
    """The profile with its fields checked (INVALID_ARGUMENT naming the wrong field)."""
    return DeployProfileSpec(
        pre_hook=_check_hook("pre_hook", profile.pre_hook.strip()),
        post_hook=_check_hook("post_hook", profile.post_hook.strip()),
        health_check=_check_health(profile.health_check) if profile.health_check else None,
        restart_service=_check_unit(profile.restart_service.strip()),
    )


def profile_to_json(profile: DeployProfileSpec | None) -> dict[str, Any] | None:
    if profile is None:
        return None
    check = profile.health_check
    health = None
    if check is not None:
        probe = {"command": list(check.command)} if check.command else {"http_url": check.http_url}
        health = {**probe, "timeout_seconds": check.timeout_seconds}
    return {
        "pre_hook": profile.pre_hook,
        "post_hook": profile.post_hook,
        "health_check": health,
        "restart_service": profile.restart_service,
    }


def profile_from_json(data: dict[str, Any] | None) -> DeployProfileSpec | None:
    if data is None:
        return None
    health = data.get("health_check")
    check = None
    if health is not None:
        check = HealthCheckSpec(
            command=tuple(health.get("command", ())),
            http_url=health.get("http_url", ""),
            timeout_seconds=int(health.get("timeout_seconds", 0)),
        )
    return DeployProfileSpec(
        pre_hook=data.get("pre_hook", ""),
        post_hook=data.get("post_hook", ""),
        health_check=check,
        restart_service=data.get("restart_service", ""),
    )
