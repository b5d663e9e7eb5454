"""The one HTTP client of the REST API: the bearer token, one refresh and retry on a 401, cursor paging,
and every failure turned into the error (and exit code) that says what went wrong."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from convoyctl import __version__
from convoyctl.config import Connection
from convoyctl.credentials import CredentialStore, Session
from convoyctl.errors import AuthError, ClientError, Unavailable, UsageError, error_for_status

__all__ = ["ApiClient", "PAGE_SIZE", "error_message"]

TIMEOUT = 30.0
# Longer than the gateway's heartbeat (15 s): a stream this quiet has been lost.
STREAM_READ_TIMEOUT = 60.0
# The gateway answers an upload once transfer has stored and inspected it, which takes a while for GiBs.
UPLOAD_READ_TIMEOUT = 600.0
# The largest page the API serves.
PAGE_SIZE = 500
# A token this close to its expiry is refreshed before it is sent.
REFRESH_MARGIN = timedelta(seconds=30)

Build = Callable[[dict[str, str]], httpx.Request]


class ApiClient:
    """Talks to one gateway as the session saved for it."""

    def __init__(self, connection: Connection, store: CredentialStore, *, timeout: float = TIMEOUT) -> None:
        self.connection, self.store, self.timeout = connection, store, timeout
        self._http = httpx.Client(
            base_url=connection.server,
            verify=connection.verify(),
            timeout=timeout,
            headers={"User-Agent": f"convoyctl/{__version__}"},
        )
        self._session: Session | None = None

    def close(self) -> None:
        self._http.close()

    @property
    def server(self) -> str:
        return self.connection.server

    @property
    def access_token(self) -> str:
        return self._require_session().access_token

    # --- sessions ----------------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> dict[str, Any]:
        """Exchanges the password for tokens, saves them as the current session; the user."""
        request = self._http.build_request(
            "POST", "/api/v1/auth/login", json={"username": username, "password": password}
        )
        body = self._json(self._send(request))
        session = _session(body, self.server, self.connection.ca_file)
        with self.store.locked():
            self.store.save(session)
        self._session = session
        user: dict[str, Any] = body["user"]
        return user

    def logout(self) -> bool:
        """Ends the session on the server (if it still can) and forgets it here; whether there was one."""
        session = self.store.session(self.server)
        if session is None:
            return False
        try:
            request = self._http.build_request(
                "POST", "/api/v1/auth/logout", json={"refresh_token": session.refresh_token}
            )
            response = self._send(request)
            if response.status_code not in (400, 401):  # already ended there
                self._json(response)
        finally:
            with self.store.locked():
                self.store.remove(self.server)
        return True

    def refresh(self, stale_token: str) -> None:
        """New tokens for the session whose access token `stale_token` was. Under the file lock: when
        another command refreshed first, its tokens are taken (a refresh token works only once)."""
        with self.store.locked():
            saved = self.store.session(self.server)
            if saved is not None and saved.access_token != stale_token:
                self._session = saved
                return
            current = saved or self._require_session()
            request = self._http.build_request(
                "POST", "/api/v1/auth/refresh", json={"refresh_token": current.refresh_token}
            )
            response = self._send(request)
            if response.status_code in (400, 401):
                raise AuthError(
                    f"the session on {self.server} has ended ({error_message(response)}); "
                    "log in again: convoyctl login",
                    response.status_code,
                )
            self._session = _session(self._json(response), self.server, current.ca_file)
            self.store.save(self._session, make_current=False)

    # --- requests ----------------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body=body)

    def call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> Any:
        def build(auth: dict[str, str]) -> httpx.Request:
            return self._http.build_request(method, path, params=_query(params), json=body, headers=auth)

        return self._json(self._authed(build))

    def walk(self, path: str, params: Mapping[str, Any] | None = None, limit: int | None = None) -> list[Any]:
        """Every item of a paged list, page after page (at most `limit`)."""
        items: list[Any] = []
        token = ""
        while limit is None or len(items) < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
            page = self.get(path, {**(params or {}), "page_size": size, "page_token": token})
            items += page["items"]
            token = page.get("next_page_token") or ""
            if not token:
                break
        return items if limit is None else items[:limit]

    def upload(self, file: Path, fields: Mapping[str, str]) -> Any:
        """POST /api/v1/packages as multipart, the file streamed from disk."""
        try:
            handle = file.open("rb")
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from exc
        with handle:

            def build(auth: dict[str, str]) -> httpx.Request:
                handle.seek(0)  # a retry after a refresh sends the file again from its start
                return self._http.build_request(
                    "POST",
                    "/api/v1/packages",
                    data=dict(fields),
                    files={"file": (file.name, handle, "application/octet-stream")},
                    headers=auth,
                    timeout=httpx.Timeout(self.timeout, read=UPLOAD_READ_TIMEOUT),
                )

            return self._json(self._authed(build))

    @contextlib.contextmanager
    def stream(
        self, path: str, params: Mapping[str, Any], headers: Mapping[str, str]
    ) -> Iterator[httpx.Response]:
        """An open streaming response (Server-Sent Events); errors raised before the first byte."""

        def build(auth: dict[str, str]) -> httpx.Request:
            timeout = httpx.Timeout(self.timeout, read=STREAM_READ_TIMEOUT)
            headers_ = {**headers, **auth, "Accept": "text/event-stream"}
            return self._http.build_request(
                "GET", path, params=_query(params), headers=headers_, timeout=timeout
            )

        response = self._authed(build, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            yield response
        finally:
            response.close()

    # --- internals ---------------------------------------------------------------------------------------

    def _require_session(self) -> Session:
        if self._session is None:
            self._session = self.store.session(self.server)
        if self._session is None:
            raise AuthError(f"not logged in to {self.server}: run convoyctl login")
        return self._session

    def _authed(self, build: Build, *, stream: bool = False) -> httpx.Response:
        session = self._require_session()
        if _expiring(session):
            self.refresh(session.access_token)
        token = self._require_session().access_token
        response = self._send(build({"Authorization": f"Bearer {token}"}), stream=stream)
        if response.status_code != 401:
            return response
        response.close()
        self.refresh(token)
        retry = {"Authorization": f"Bearer {self._require_session().access_token}"}
        return self._send(build(retry), stream=stream)

    def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            return self._http.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise Unavailable(f"{self.server} did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Unavailable(transport_message(self.server, exc)) from exc

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ClientError(
                f"{response.request.url} did not answer with JSON: is {self.server} a Convoy server?",
                response.status_code,
            ) from exc


def transport_message(server: str, exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"cannot verify the certificate of {server} ({text}); give its CA with --ca-file or CONVOY_CA_FILE"
    return f"cannot reach {server}: {text}"


def error_message(response: httpx.Response) -> str:
    """The message of the API's error body {"error": {"code", "message", "request_id"}}, or the status."""
    try:
        error = response.json()["error"]
        message, request_id = str(error["message"]), str(error.get("request_id") or "")
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase or f"HTTP {response.status_code}"
    return f"{message} (request id {request_id})" if request_id else message


def _error(response: httpx.Response) -> Exception:
    status = response.status_code
    return error_for_status(status)(f"{error_message(response)} [HTTP {status}]", status)


def _query(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query parameters without the ones left out (None): the API's defaults apply to those."""
    return {key: value for key, value in (params or {}).items() if value is not None}


def _session(body: Mapping[str, Any], server: str, ca_file: str | None) -> Session:
    return Session(
        server=server,
        username=str(body["user"]["username"]),
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]),
        access_expires_at=body.get("access_expires_at"),
        refresh_expires_at=body.get("refresh_expires_at"),
        ca_file=ca_file,
    )


def _expiring(session: Session) -> bool:
    if not session.access_expires_at:
        return False
    try:
        expires = datetime.fromisoformat(session.access_expires_at)
    except ValueError:
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return datetime.now(UTC) >= expires - REFRESH_MARGIN
