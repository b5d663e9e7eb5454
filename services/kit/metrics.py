"""Prometheus metrics every process shares, and the /metrics listener for gRPC-only processes."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping

from google.protobuf import descriptor_pool
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

__all__ = [
    "GRPC_SERVER_HANDLED",
    "GRPC_SERVER_SECONDS",
    "GRPC_CLIENT_HANDLED",
    "GRPC_CLIENT_SECONDS",
    "DB_POOLS",
    "precreate_server_series",
    "CountGauge",
    "refresh_every",
    "start_metrics_listener",
]

log = logging.getLogger("convoy.metrics")

GRPC_SERVER_HANDLED = Counter(
    "convoy_grpc_server_handled_total", "gRPC calls completed on the server", ["service", "method", "code"]
)
GRPC_SERVER_SECONDS = Histogram(
    "convoy_grpc_server_handling_seconds", "Time to complete a gRPC call on the server", ["service", "method"]
)
GRPC_CLIENT_HANDLED = Counter(
    "convoy_grpc_client_handled_total",
    "gRPC calls this process made to another service, by the answer's code",
    ["service", "method", "code"],
)
GRPC_CLIENT_SECONDS = Histogram(
    "convoy_grpc_client_handling_seconds",
    "Time until the answer of a gRPC call to another service",
    ["service", "method"],
)


def precreate_server_series(server_descriptor_names: Iterable[str]) -> None:
    """Every method of the named services (full names, as the default descriptor pool knows them) at 0,
    code OK, and its histogram: rate() then sees a method's first calls too. A name the pool does not know
    (a service registered by hand) is left to appear at its first call."""
    pool = descriptor_pool.Default()
    for name in server_descriptor_names:
        try:
            service = pool.FindServiceByName(name)
        except KeyError:
            continue
        for method in service.methods:
            GRPC_SERVER_HANDLED.labels(service.full_name, method.name, "OK")
            GRPC_SERVER_SECONDS.labels(service.full_name, method.name)


class _Pools(Collector):
    """The database pools of this process, read when Prometheus scrapes. Tests run several services in one
    process, so the live pools add up; a closed or collected engine drops out."""

    def __init__(self) -> None:
        # Scrapes run on the listener's thread while the event loop adds and drops engines.
        self._lock = threading.Lock()
        self._limits: weakref.WeakKeyDictionary[AsyncEngine, int] = weakref.WeakKeyDictionary()
        self._registered = False

    def track(self, engine: AsyncEngine, limit: int) -> None:
        """Counts `engine`'s pool, which may grow to `limit` connections; registers once per process."""
        with self._lock:
            self._limits[engine] = limit
            first, self._registered = not self._registered, True
        if first:  # outside the lock: registering collects once, which takes it
            REGISTRY.register(self)

    def forget(self, engine: AsyncEngine) -> None:
        with self._lock:
            self._limits.pop(engine, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            tracked = list(self._limits.items())
        in_use = idle = size = 0
        for engine, limit in tracked:
            pool = engine.pool
            if isinstance(pool, QueuePool):
                in_use += pool.checkedout()
                idle += pool.checkedin()
            size += limit
        connections = GaugeMetricFamily(
            "convoy_db_pool_connections", "Connections of this process's database pool", labels=["state"]
        )
        connections.add_metric(["in_use"], in_use)
        connections.add_metric(["idle"], idle)
        yield connections
        yield GaugeMetricFamily(
            "convoy_db_pool_size", "Size the pool may grow to (pool size plus overflow)", value=size
        )


DB_POOLS = _Pools()


class CountGauge:
    """A labelled gauge of counts read from the database. A label set shown once stays, at 0 when the
    database no longer has it: a series that vanished would read as "no data" rather than as none."""

    def __init__(self, gauge: Gauge, known: Iterable[tuple[str, ...]] = ()) -> None:
        self._gauge = gauge
        self._shown: set[tuple[str, ...]] = set()
        self.show({}, known)

    def show(self, counts: Mapping[tuple[str, ...], float], also: Iterable[tuple[str, ...]] = ()) -> None:
        """Sets every label set in `counts`, in `also` and shown before (0 when not in `counts`)."""
        self._shown.update(counts, also)
        for labels in self._shown:
            self._gauge.labels(*labels).set(counts.get(labels, 0))


async def refresh_every(seconds: float, refresh: Callable[[], Awaitable[None]], what: str) -> None:
    """Runs `refresh` now and then every `seconds`, until cancelled. A failed read is logged and retried on
    the next round; the gauges keep their last values meanwhile."""
    while True:
        try:
            await refresh()
        except Exception:  # noqa: BLE001 - the next round tries again; metrics must not stop the process
            log.warning(
                "could not read %s for the metrics; trying again in %g s", what, seconds, exc_info=True
            )
        await asyncio.sleep(seconds)


def start_metrics_listener(listen: str) -> int:
    """Serves /metrics on `host:port` ("" disables it); returns the bound port."""
    if not listen:
        return 0
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1")
    return int(server.server_port)
