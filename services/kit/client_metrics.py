"""Client interceptors that count every call a channel makes to another service and time its answer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, Callable
from typing import Any

import grpc

from services.kit.metrics import GRPC_CLIENT_HANDLED, GRPC_CLIENT_SECONDS

__all__ = ["client_metrics_interceptors"]

# Tasks that read a finished call's code: held here until done, or the loop could drop them unfinished.
_READING: set[asyncio.Task[None]] = set()


def _names(details: grpc.aio.ClientCallDetails) -> tuple[str, str]:
    """(full service name, method name) of "/convoy.x.v1.XService/Method"."""
    method = details.method
    path = method.decode() if isinstance(method, bytes) else str(method)
    service, _, name = path.lstrip("/").rpartition("/")
    return service, name


def _record(service: str, method: str, code: grpc.StatusCode, seconds: float) -> None:
    GRPC_CLIENT_HANDLED.labels(service, method, code.name).inc()
    GRPC_CLIENT_SECONDS.labels(service, method).observe(seconds)


async def _read_code(call: Any, service: str, method: str, seconds: float) -> None:
    _record(service, method, await call.code(), seconds)


def _read_later(call: Any, service: str, method: str, seconds: float) -> None:
    task = asyncio.ensure_future(_read_code(call, service, method, seconds))
    _READING.add(task)
    task.add_done_callback(_READING.discard)


def _code_now(call: Any) -> grpc.StatusCode | None:
    """A finished call's code without a trip through the loop: code() is a coroutine, but on a finished call
    it returns without waiting. None if it would wait after all."""
    reading = call.code()
    try:
        reading.send(None)
    except StopIteration as answer:
        return answer.value
    reading.close()
    return None


async def _observe(details: grpc.aio.ClientCallDetails, start_call: Callable[[], Any]) -> Any:
    """Starts the call and records it once it is over. The call itself goes back to the caller untouched
    (streams keep read() and write()); its final status, for a stream the one it ended with, is read
    once the call is done, when reading it no longer waits."""
    service, method = _names(details)
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    try:
        call = await start_call()
    except grpc.aio.AioRpcError as exc:
        _record(service, method, exc.code(), time.perf_counter() - started)
        raise

    def done(finished: Any) -> None:
        # Read at once where possible: a task could still be pending when the loop closes (at exit), and
        # its coroutine would then never run.
        seconds = time.perf_counter() - started
        code = _code_now(finished)
        if code is not None:
            _record(service, method, code, seconds)
            return
        # The callback may run on another thread (a call cancelled from there): the task goes to the loop.
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
            loop.call_soon_threadsafe(_read_later, finished, service, method, seconds)

    call.add_done_callback(done)
    return call


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await _observe(details, lambda: continuation(details, request))


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await _observe(details, lambda: continuation(details, request))


class _StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self, continuation: Any, details: Any, request_iterator: AsyncIterable[Any]
    ) -> Any:
        return await _observe(details, lambda: continuation(details, request_iterator))


class _StreamStream(grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Any, details: Any, request_iterator: AsyncIterable[Any]
    ) -> Any:
        return await _observe(details, lambda: continuation(details, request_iterator))


def client_metrics_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """One interceptor per call kind: a channel files each interceptor under the first kind it is."""
    return [_UnaryUnary(), _UnaryStream(), _StreamUnary(), _StreamStream()]
