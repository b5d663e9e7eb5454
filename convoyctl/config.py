"""Which server to talk to and how to trust it: flags, then CONVOY_* variables, then the saved login."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from convoyctl.credentials import CredentialStore
from convoyctl.errors import AuthError, UsageError

__all__ = ["Connection", "normalise_server", "resolve_connection", "plaintext_to_remote"]

SERVER_ENV = "CONVOY_SERVER"
CA_FILE_ENV = "CONVOY_CA_FILE"
T = TypeVar("T")


@dataclass(frozen=True)
class Connection:
    server: str
    ca_file: str | None = None
    insecure: bool = False

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx checks the server's certificate with: the system's CAs, a private CA, or nothing."""
        if self.insecure:
            return False
        if not self.ca_file:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot use the CA file {self.ca_file}: {exc}") from exc


def normalise_server(url: str) -> str:
    """`https://host[:port][/prefix]` without a trailing slash; anything else is a usage error."""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"the server must be a URL such as https://convoy.example.com, got {url!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"the server URL takes no query or fragment, got {url!r}")
    return text


def plaintext_to_remote(server: str) -> bool:
    """http:// to anything but this machine: a password would cross the network in the clear."""
    parts = urlsplit(server)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def resolve_connection(
    *,
    server: str | None,
    ca_file: str | None,
    insecure: bool,
    environ: Mapping[str, str],
    store: CredentialStore,
    lenient: bool = False,
) -> Connection:
    """The flag wins over the environment, which wins over the saved login (the current server, and the
    CA file given when logging in to it). `lenient` (logging in) passes over a damaged credentials file,
    which the login then replaces."""
    chosen = server or environ.get(SERVER_ENV) or _saved(store.current_server, lenient)
    if not chosen:
        raise UsageError(f"no server: give --server URL, set {SERVER_ENV}, or log in with convoyctl login")
    url = normalise_server(chosen)
    ca = ca_file or environ.get(CA_FILE_ENV) or None
    if ca is None:
        saved = _saved(lambda: store.session(url), lenient)
        ca = saved.ca_file if saved else None
    return Connection(url, str(Path(ca).resolve()) if ca else None, insecure)


def _saved(read: Callable[[], T], lenient: bool) -> T | None:
    try:
        return read()
    except AuthError:
        if lenient:
            return None
        raise
