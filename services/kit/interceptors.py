"""The one server interceptor: request id, caller identity, domain error → status, logs and metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from services.kit import errors
from services.kit.context import AGENT, SERVICE, CallContext, Principal, use_call
from services.kit.metrics import GRPC_SERVER_HANDLED, GRPC_SERVER_SECONDS
from services.kit.tls import NodeCa

__all__ = ["STATUS_BY_ERROR", "status_for", "CallInterceptor", "BearerVerifier"]

log = logging.getLogger("convoy.grpc")

# The one table from domain errors to gRPC status codes (most specific class first).
STATUS_BY_ERROR: tuple[tuple[type[errors.DomainError], grpc.StatusCode], ...] = (
    (errors.OutOfRange, grpc.StatusCode.OUT_OF_RANGE),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Conflict, grpc.StatusCode.ABORTED),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
)

# Health probes and reflection would drown the logs; they still count in metrics.
_QUIET_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


class BearerVerifier(Protocol):
    def verify(self, token: str) -> Principal: ...


def status_for(exc: errors.DomainError) -> grpc.StatusCode:
    for error_type, code in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return code
    return grpc.StatusCode.UNKNOWN


class _Call:
    """Per-call bookkeeping: builds the CallContext, maps failures, records the outcome."""

    def __init__(
        self, method: str, verifier: Callable[[], BearerVerifier | None], node_ca: NodeCa | None
    ) -> None:
        self.method = method
        self.service, _, self.rpc = method.lstrip("/").rpartition("/")
        self._verifier = verifier
        self._node_ca = node_ca
        self.code = grpc.StatusCode.OK
        self.started = time.perf_counter()

    def enter(self, context: grpc.aio.ServicerContext) -> CallContext:
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        peer = _peer_principal(context, self._node_ca)
        call = CallContext(
            request_id=metadata.get("x-request-id") or uuid.uuid4().hex,
            client_address=_client_address(metadata, peer, context),
            peer=peer,
            metadata=metadata,
        )
        use_call(call)
        return call

    def authenticate(self, call: CallContext) -> None:
        header = call.metadata.get("authorization", "")
        if not header:
            return
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise errors.Unauthenticated("authorization metadata must be 'Bearer <access token>'")
        verifier = self._verifier()
        if verifier is None:
            raise errors.Unavailable(
                "this service has not loaded the token keys from auth yet; retry shortly"
            )
        use_call(dataclasses.replace(call, user=verifier.verify(token.strip())))

    def cancelled(self, context: grpc.aio.ServicerContext) -> None:
        """The call ended under the handler: its deadline passed, or the caller cancelled it or went away."""
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        self.code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED

    async def fail(self, context: grpc.aio.ServicerContext, exc: BaseException) -> None:
        if isinstance(exc, errors.DomainError):
            self.code = status_for(exc)
            trailers = (
                (("retry-after", str(exc.retry_after)),) if isinstance(exc, errors.ResourceExhausted) else ()
            )
            await context.abort(self.code, exc.message, trailing_metadata=trailers)
        self.code = grpc.StatusCode.INTERNAL
        log.exception("unhandled error in %s", self.method)
        await context.abort(self.code, "internal error; the request id is in the server log")

    def finish(self, context: grpc.aio.ServicerContext) -> None:
        code = context.code() if self.code == grpc.StatusCode.OK and context.code() else self.code
        code_name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        elapsed = time.perf_counter() - self.started
        GRPC_SERVER_HANDLED.labels(self.service, self.rpc, code_name).inc()
        GRPC_SERVER_SECONDS.labels(self.service, self.rpc).observe(elapsed)
        if not self.method.startswith(_QUIET_PREFIXES):
            log.info("%s %s %.1fms", self.method, code_name, elapsed * 1000, extra={"grpc_code": code_name})


def _client_address(
    metadata: dict[str, str], peer: Principal | None, context: grpc.aio.ServicerContext
) -> str:
    """Where the call comes from, for audit records and throttling. Only a service (the gateway, or the
    scheduler for an enrolling agent) may say whom it calls for; a node or an anonymous caller would use
    x-client-address to forge the address in its own audit records."""
    forwarded = metadata.get("x-client-address") if peer is not None and peer.kind == SERVICE else ""
    return forwarded or context.peer()


def _peer_principal(context: grpc.aio.ServicerContext, node_ca: NodeCa | None) -> Principal | None:
    """The machine behind the verified client certificate, if any: a node or a service.

    The TLS handshake has already checked the chain against the port's client roots: the service CA, and
    the node CA on ports that accept nodes. A certificate the process's node CA signed is a node's; any
    other one can only come from the service CA. Without a node CA no port of the process trusts node
    certificates, so every certificate is a service's.
    """
    values = context.auth_context().get("x509_pem_cert") or []
    return _certificate_principal(values[0], node_ca) if values else None


# A peer shows the same certificate on every call of its connection: parse and verify it once.
@functools.lru_cache(maxsize=4096)
def _certificate_principal(pem: bytes, node_ca: NodeCa | None) -> Principal | None:
    certificate = x509.load_pem_x509_certificate(pem)
    name = _common_name(certificate.subject)
    if not name:
        return None
    if node_ca is not None and node_ca.issued(certificate):
        return Principal(kind=AGENT, subject=name, role=AGENT, name=name)
    return Principal(kind=SERVICE, subject=name, role=SERVICE, name=name)


def _common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = values[0].value if values else ""
    return value if isinstance(value, str) else value.decode()


class CallInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler kind with the same call bookkeeping."""

    def __init__(self, verifier: Callable[[], BearerVerifier | None] = lambda: None) -> None:
        self._verifier = verifier
        self._node_ca: NodeCa | None = None

    def recognise_nodes(self, node_ca: NodeCa) -> None:
        """Callers whose certificate `node_ca` issued are agents; call before the server starts."""
        self._node_ca = node_ca

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary), *_serdes(handler)
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream), *_serdes(handler)
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, handler.stream_unary), *_serdes(handler)
            )
        return grpc.stream_stream_rpc_method_handler(
            self._stream(method, handler.stream_stream), *_serdes(handler)
        )

    def _unary(self, method: str, behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = _Call(method, self._verifier, self._node_ca)
            try:
                call.authenticate(call.enter(context))
                return await behaviour(request, context)
            except asyncio.CancelledError:
                call.cancelled(context)
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is mapped to a status here
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                await call.fail(context, exc)
            finally:
                call.finish(context)

        return wrapped

    def _stream(
        self, method: str, behaviour: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call = _Call(method, self._verifier, self._node_ca)
            try:
                call.authenticate(call.enter(context))
                responses = behaviour(request, context)
                if inspect.isawaitable(responses):
                    await responses  # a handler that sends with context.write() (the health Watch)
                else:
                    async for response in responses:
                        yield response
            except (asyncio.CancelledError, GeneratorExit):
                # The call ended under the handler: cancelled while it waited, or closed at a yield.
                call.cancelled(context)
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is mapped to a status here
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                await call.fail(context, exc)
            finally:
                call.finish(context)

        return wrapped


def _serdes(handler: grpc.RpcMethodHandler) -> tuple[Any, Any]:
    return handler.request_deserializer, handler.response_serializer
