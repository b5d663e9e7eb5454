"""What can go wrong, each with the exit code scripts can rely on, and the one table from HTTP statuses."""

from __future__ import annotations

__all__ = [
    "EXIT_OK",
    "EXIT_DEPLOYMENT_FAILED",
    "EXIT_USAGE",
    "EXIT_AUTH",
    "EXIT_NOT_FOUND",
    "EXIT_CLIENT",
    "EXIT_UNAVAILABLE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "CliError",
    "DeploymentFailed",
    "UsageError",
    "AuthError",
    "NotFound",
    "ClientError",
    "Unavailable",
    "Interrupted",
    "error_for_status",
]

EXIT_OK = 0
EXIT_DEPLOYMENT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_CLIENT = 5
EXIT_UNAVAILABLE = 6
# A bug in convoyctl, or an answer it does not understand: EX_SOFTWARE of sysexits.h, so that a crash is
# never read as a failed deployment (1).
EXIT_INTERNAL = 70
# What a shell reports for a command ended by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """An error that ends the command: its message goes to stderr, its exit code to the shell."""

    exit_code = EXIT_CLIENT

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        # The HTTP status the server answered with, when it did.
        self.message, self.status = message, status


class DeploymentFailed(CliError):
    """The deployment ended failed or cancelled, or paused with failed nodes."""

    exit_code = EXIT_DEPLOYMENT_FAILED


class UsageError(CliError):
    """The command line is wrong: convoyctl's own checks, or the server's 400."""

    exit_code = EXIT_USAGE


class AuthError(CliError):
    """Not logged in, the session is over, a wrong password (401), or the role may not do it (403)."""

    exit_code = EXIT_AUTH


class NotFound(CliError):
    exit_code = EXIT_NOT_FOUND


class ClientError(CliError):
    """A conflict (409) or another refusal of the request (413, 429 …)."""

    exit_code = EXIT_CLIENT


class Unavailable(CliError):
    """The server answered 5xx, or could not be reached (connection, TLS, timeout)."""

    exit_code = EXIT_UNAVAILABLE


class Interrupted(CliError):
    """Ctrl-C: the command stopped; whatever it started on the server goes on."""

    exit_code = EXIT_INTERRUPTED


_BY_STATUS: dict[int, type[CliError]] = {
    400: UsageError,
    401: AuthError,
    403: AuthError,
    404: NotFound,
}


def error_for_status(status: int) -> type[CliError]:
    """The error an HTTP error status becomes; any other 4xx is a client error, 5xx unavailable."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ClientError if 400 <= status < 500 else Unavailable
