"""What a running command has at hand: its arguments, the printer, the saved sessions, and the client."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TextIO

from convoyctl.client import ApiClient
from convoyctl.config import Connection, resolve_connection
from convoyctl.credentials import CredentialStore, config_dir
from convoyctl.output import Printer

__all__ = ["Context"]


class Context:
    def __init__(
        self,
        args: argparse.Namespace,
        environ: Mapping[str, str],
        stdin: TextIO,
        stdout: TextIO,
        stderr: TextIO,
    ) -> None:
        self.args, self.environ, self.stdin = args, environ, stdin
        self.printer = Printer(args.output, stdout, stderr)
        self.store = CredentialStore(config_dir(environ))
        self._api: ApiClient | None = None

    def connection(self, *, lenient: bool = False) -> Connection:
        return resolve_connection(
            server=self.args.server_url,
            ca_file=self.args.ca_file,
            insecure=self.args.insecure,
            environ=self.environ,
            store=self.store,
            lenient=lenient,
        )

    def client(self, *, lenient: bool = False) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(self.connection(lenient=lenient), self.store)
        return self._api

    @property
    def api(self) -> ApiClient:
        return self.client()

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
