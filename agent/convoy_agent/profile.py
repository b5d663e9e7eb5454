"""What a package's deploy profile adds after a successful install, update or rollback.

`restart_service`: `systemctl restart UNIT` (skipped, with a log line, in a sandbox root: the unit would be
the host's). `health_check`: a command run without a shell, healthy when it exits 0, or an HTTP GET of
`http_url`, healthy on a 2xx answer; each bounded by `timeout_seconds` (default 30). A failure fails the
task with the reason. The tar executor runs `pre_hook`/`post_hook` itself (scripts inside the artifact).
"""

import re
from typing import Callable, Dict, Optional

from convoy_agent.executors.base import ExecutorError

LogFn = Callable[[str], None]
DEFAULT_HEALTH_TIMEOUT = 30
_UNIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_.@-]*")


class ProfileError(Exception):
    """A deploy-profile step failed; the task fails with this message."""


def restart_service(unit: str, executor: object, log: LogFn, timeout: float) -> None:
    if not _UNIT.fullmatch(unit):
        raise ProfileError("restart_service %r is not a systemd unit name" % unit)
    if executor.sandbox.enabled:  # type: ignore
        log("restart_service %s skipped: the agent works in a sandbox root" % unit)
        return
    try:
        executor.run(["systemctl", "restart", "--", unit], log, timeout=timeout)  # type: ignore
    except ExecutorError as error:
        raise ProfileError("restarting %s failed: %s" % (unit, error)) from None


def health_check(
    check: object, executor: object, log: LogFn, env: Dict[str, str], timeout_cap: Optional[float] = None
) -> None:
    """Runs the profile's HealthCheck message; ProfileError when unhealthy."""
    timeout = float(getattr(check, "timeout_seconds", 0) or DEFAULT_HEALTH_TIMEOUT)
    if timeout_cap is not None:
        timeout = max(1.0, min(timeout, timeout_cap))
    kind = check.WhichOneof("probe")  # type: ignore
    if kind == "command":
        argv = [str(part) for part in check.command.argv]  # type: ignore
        if not argv:
            raise ProfileError("the health check command is empty")
        log("health check: %s" % " ".join(argv))
        try:
            executor.run(argv, log, env=env, timeout=timeout)  # type: ignore
        except ExecutorError as error:
            raise ProfileError("health check failed: %s" % error) from None
        log("health check passed")
    elif kind == "http_url":
        _http_check(str(check.http_url), timeout, log)  # type: ignore
    else:
        log("the health check names no probe; nothing to check")


def _http_check(url: str, timeout: float, log: LogFn) -> None:
    import urllib.error
    import urllib.request

    if not (url.startswith("http://") or url.startswith("https://")):
        raise ProfileError("health check URL %r is not http(s)" % url)
    log("health check: GET %s" % url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (scheme checked above)
            status = answer.status
    except urllib.error.HTTPError as error:
        raise ProfileError("health check failed: GET %s answered %d" % (url, error.code)) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise ProfileError("health check failed: GET %s: %s" % (url, reason)) from None
    if not 200 <= status < 300:
        raise ProfileError("health check failed: GET %s answered %d" % (url, status))
    log("health check passed: GET %s answered %d" % (url, status))
