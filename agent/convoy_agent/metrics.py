"""The agent's Prometheus metrics, on a registry of their own, served on `metrics_listen` (off by default).

The registry is the agent's alone so that a process embedding the agent (its tests) keeps the agent's
series apart from its own. Label values are small fixed sets: no assignment ids, no package names.
"""

import logging
import socket
import threading
from http.server import HTTPServer
from socketserver import ThreadingMixIn

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import MetricsHandler

from convoy_agent import config as configuration
from convoy_agent.proto import agent_pb2

LOG = logging.getLogger("convoy_agent.metrics")

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

ACTIONS = {
    agent_pb2.ACTION_INSTALL: "install",
    agent_pb2.ACTION_UPDATE: "update",
    agent_pb2.ACTION_UNINSTALL: "uninstall",
    agent_pb2.ACTION_ROLLBACK: "rollback",
}
RESULTS = {
    agent_pb2.TASK_STATE_SUCCEEDED: "succeeded",
    agent_pb2.TASK_STATE_UNCHANGED: "unchanged",
    agent_pb2.TASK_STATE_FAILED: "failed",
    agent_pb2.TASK_STATE_SKIPPED: "skipped",
    agent_pb2.TASK_STATE_CANCELLED: "cancelled",
}
UNKNOWN = "unknown"

CONNECTED = Gauge("convoy_agent_connected", "1 while the stream to the scheduler is open", registry=REGISTRY)
RECONNECTS = Counter(
    "convoy_agent_reconnects_total", "Connection attempts after the first", registry=REGISTRY
)
TASKS = Counter("convoy_agent_tasks_total", "Tasks run", ["action", "result"], registry=REGISTRY)
# A task may wait for approval or for another task's package operation: hours are possible.
TASK_SECONDS = Histogram(
    "convoy_agent_task_seconds",
    "Time from assignment to result",
    ["action"],
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
    registry=REGISTRY,
)
DOWNLOAD_BYTES = Counter("convoy_agent_download_bytes_total", "Artifact bytes downloaded", registry=REGISTRY)

for _action in ACTIONS.values():
    TASK_SECONDS.labels(_action)
    for _result in RESULTS.values():
        TASKS.labels(_action, _result)


def task_finished(action, state, seconds=None):
    # type: (int, int, Optional[float]) -> None
    """A task's result; `seconds` from its assignment, None for a task recovered after a restart (its
    assignment came to an earlier run of the agent)."""
    name = ACTIONS.get(action, UNKNOWN)
    TASKS.labels(name, RESULTS.get(state, UNKNOWN)).inc()
    if seconds is not None:
        TASK_SECONDS.labels(name).observe(max(seconds, 0.0))


class _Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def serve(listen):
    # type: (str) -> Optional[HTTPServer]
    """Serves the registry over HTTP on `listen` (host:port; port 0 picks a free one) on a thread of its
    own; None when `listen` is empty. The caller shuts the server down."""
    if not listen:
        return None
    host, port = configuration.split_address(listen)
    server_type = _Server6 if ":" in host else _Server
    try:
        server = server_type((host, port), MetricsHandler.factory(REGISTRY))
    except OSError as error:
        raise configuration.ConfigError(
            "cannot serve metrics on %s: %s" % (listen, error.strerror or error)
        ) from None
    thread = threading.Thread(target=server.serve_forever, name="metrics")
    thread.daemon = True
    thread.start()
    bound = server.server_address
    LOG.info("metrics on http://%s:%d/metrics", "[%s]" % host if ":" in host else host, bound[1])
    return server
