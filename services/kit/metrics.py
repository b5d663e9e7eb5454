"""Prometheus metrics every process shares, and the /metrics listener for gRPC-only processes."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

__all__ = ["GRPC_SERVER_HANDLED", "GRPC_SERVER_SECONDS", "start_metrics_listener"]

GRPC_SERVER_HANDLED = Counter(
    "convoy_grpc_server_handled_total", "gRPC calls completed on the server", ["service", "method", "code"]
)
GRPC_SERVER_SECONDS = Histogram(
    "convoy_grpc_server_handling_seconds", "Time to complete a gRPC call on the server", ["service", "method"]
)


def start_metrics_listener(listen: str) -> int:
    """Serves /metrics on `host:port` ("" disables it); returns the bound port."""
    if not listen:
        return 0
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1")
    return int(server.server_port)
