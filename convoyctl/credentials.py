"""Saved sessions: `$XDG_CONFIG_HOME/convoy/credentials.json` (default ~/.config/convoy), mode 0600 in a
0700 directory, replaced atomically, and a lock so that two commands never both spend one refresh token."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from convoyctl.errors import AuthError

__all__ = ["Session", "CredentialStore", "config_dir", "FILE_MODE", "DIR_MODE"]

FILE_MODE = 0o600
DIR_MODE = 0o700
_FILE = "credentials.json"
_LOCK = "credentials.lock"


@dataclass(frozen=True)
class Session:
    """One logged-in session on one server."""

    server: str
    username: str
    access_token: str
    refresh_token: str
    access_expires_at: str | None = None
    refresh_expires_at: str | None = None
    # The CA file given at login (absolute), used for this server when no other is given.
    ca_file: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Session:
        names = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in names})


def config_dir(environ: Mapping[str, str]) -> Path:
    """convoy/ under $XDG_CONFIG_HOME; the XDG rules ignore a relative value, and default to ~/.config."""
    base = environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "convoy"


class CredentialStore:
    """The credentials file: `current` names the server used when none is given; `sessions` by server."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / _FILE

    def load(self) -> dict[str, Any]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"current": None, "sessions": {}}
        except (OSError, ValueError) as exc:
            raise AuthError(f"cannot read {self.path} ({exc}); remove it and log in again") from exc
        if not isinstance(document, dict) or not isinstance(document.get("sessions"), dict):
            raise AuthError(f"{self.path} is not a credentials file; remove it and log in again")
        return document

    def current_server(self) -> str | None:
        current = self.load().get("current")
        return current if isinstance(current, str) else None

    def session(self, server: str) -> Session | None:
        data = self.load()["sessions"].get(server)
        return Session.from_dict(data) if isinstance(data, dict) else None

    def save(self, session: Session, *, make_current: bool = True) -> None:
        document = self._load_for_change()
        document["sessions"][session.server] = asdict(session)
        if make_current or not document.get("current"):
            document["current"] = session.server
        self._write(document)

    def remove(self, server: str) -> bool:
        """Forgets the server's session (it stays the current server: the next login goes to it, and a
        command says it is not logged in there); whether there was one."""
        document = self._load_for_change()
        found = document["sessions"].pop(server, None) is not None
        self._write(document)
        return found

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Holds an exclusive lock across a read, a refresh and the write of its result."""
        self._ensure_directory()
        fd = os.open(self.directory / _LOCK, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _load_for_change(self) -> dict[str, Any]:
        # A damaged file is replaced by a change (a new login) rather than standing in its way.
        try:
            return self.load()
        except AuthError:
            return {"current": None, "sessions": {}}

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if self.directory.stat().st_mode & 0o077:
            self.directory.chmod(DIR_MODE)

    def _write(self, document: dict[str, Any]) -> None:
        """A new file beside the old one, flushed to disk, then renamed over it: a reader sees the old file
        or the new one, never half of one, and a crash leaves one of the two."""
        self._ensure_directory()
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".credentials.", suffix=".tmp")
        try:
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _sync_directory(self.directory)


def _sync_directory(directory: Path) -> None:
    """Makes the rename itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
