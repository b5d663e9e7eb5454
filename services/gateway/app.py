"""The FastAPI application: routes, request ids, error rendering, HTTP metrics, upstream lifecycle."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import grpc
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from services.gateway.config import GatewaySettings
from services.gateway.console import serve_console
from services.gateway.errors import ApiError, error_response, http_status
from services.gateway.routes import (
    agent_install,
    audit,
    auth,
    deployments,
    events,
    groups,
    health,
    join_tokens,
    packages,
    policies,
    schedules,
    servers,
    users,
)
from services.gateway.sse import StreamSlots
from services.gateway.upstream import Upstreams
from services.kit.context import CallContext, use_call
from services.kit.errors import DomainError, ResourceExhausted
from services.kit.interceptors import status_for

__all__ = ["create_app"]

log = logging.getLogger("convoy.gateway")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")

HTTP_REQUESTS = Counter("convoy_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_SECONDS = Histogram(
    "convoy_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"]
)
# Any token is a method to HTTP: anyone could add series by inventing methods, so the rest are OTHER.
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def create_app(settings: GatewaySettings) -> FastAPI:
    app = FastAPI(
        title="Convoy API",
        version="1",
        lifespan=_lifespan(settings),
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    routers = (
        auth,
        users,
        audit,
        servers,
        groups,
        packages,
        deployments,
        policies,
        schedules,
        events,
        join_tokens,
        agent_install,
        health,
    )
    for router in (module.router for module in routers):
        app.include_router(router)
    serve_console(app, settings.console_dir)
    _add_error_handlers(app)
    app.middleware("http")(_observe)
    app.state.event_streams = StreamSlots(settings.events_max_streams_per_user)
    app.state.settings = settings
    return app


def _lifespan(settings: GatewaySettings) -> Callable[[FastAPI], AsyncIterator[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        upstreams = Upstreams(settings)
        app.state.upstreams = upstreams
        loader = asyncio.create_task(upstreams.keys.keep_loading())
        try:
            yield
        finally:
            loader.cancel()
            await upstreams.close()

    return lifespan  # type: ignore[return-value]


async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Request id in and out, one metrics sample and one log line per request."""
    given = request.headers.get("x-request-id", "")
    request.state.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    use_call(CallContext(request_id=request.state.request_id))
    started = time.perf_counter()
    response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    elapsed = time.perf_counter() - started
    method = request.method if request.method in _METHODS else "OTHER"
    HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
    HTTP_SECONDS.labels(method, route).observe(elapsed)
    response.headers["X-Request-ID"] = request.state.request_id
    if route not in ("/healthz", "/readyz", "/metrics"):
        log.info("%s %s %d %.1fms", request.method, route, response.status_code, elapsed * 1000)
    return response


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(grpc.aio.AioRpcError)
    async def upstream_error(request: Request, exc: grpc.aio.AioRpcError) -> Response:
        status = http_status(exc.code())
        headers = {}
        retry_after = dict(exc.trailing_metadata() or ()).get("retry-after")
        if status == 429 and retry_after:
            headers["Retry-After"] = str(retry_after)
        message = exc.details() or exc.code().name.lower()
        if status >= 500 and status not in (503, 504):
            log.error("upstream failed: %s %s", exc.code().name, exc.details())
            message = "internal error; the request id is in the server log"
        elif status in (503, 504):
            message = "a Convoy service is unavailable or too slow; retry shortly"
        return error_response(request, status, exc.code().name.lower(), message, headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return error_response(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        # The gateway's own checks in shared code (a time outside what a Timestamp holds …) speak the
        # domain errors too; they are rendered as the same error from a service would be.
        code = status_for(exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, ResourceExhausted) else {}
        return error_response(request, http_status(code), code.name.lower(), exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return error_response(request, 400, "invalid_argument", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ClientDisconnect | OSError):
            # A client hanging up mid-transfer is not a server fault. The gateway does no file I/O, so an
            # OSError is the client's socket failing (ASGI 2.4 servers report a reset by a failing send).
            log.info("client went away during %s %s: %s", request.method, request.url.path, exc)
            return error_response(request, 499, "cancelled", "the client closed the connection")
        log.exception("unhandled error on %s", request.url.path)
        return error_response(request, 500, "internal", "internal error; the request id is in the server log")
