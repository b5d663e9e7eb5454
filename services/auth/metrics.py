"""Prometheus metrics of the auth service: refused logins and throttled attempts (no names, no addresses)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["LOGIN_FAILURES", "LOGIN_THROTTLED", "LOGIN", "ENROLLMENT", "login_refused", "throttled"]

BAD_CREDENTIALS, DISABLED = "bad_credentials", "disabled"
LOGIN, ENROLLMENT = "login", "enrollment"

LOGIN_FAILURES = Counter("convoy_login_failures_total", "Logins refused, by reason", ["reason"])
LOGIN_THROTTLED = Counter(
    "convoy_login_throttled_total",
    "Attempts refused because a user or address tried too often, by kind",
    ["kind"],
)
for _reason in (BAD_CREDENTIALS, DISABLED):
    LOGIN_FAILURES.labels(_reason)
for _kind in (LOGIN, ENROLLMENT):
    LOGIN_THROTTLED.labels(_kind)


def login_refused(*, disabled: bool) -> None:
    """A refused login: the right password of a disabled account, or else bad credentials (an unknown
    user and a wrong password look the same, as they do to the caller)."""
    LOGIN_FAILURES.labels(DISABLED if disabled else BAD_CREDENTIALS).inc()


def throttled(kind: str) -> None:
    """An attempt refused unseen because its user or address is blocked (`login` or `enrollment`)."""
    LOGIN_THROTTLED.labels(kind).inc()
