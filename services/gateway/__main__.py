"""Command line of the gateway: serve the REST API with uvicorn (HTTPS when a certificate is set)."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.kit.logs import configure_logging
from services.kit.metrics import start_metrics_listener
from services.kit.settings import load_settings
from services.kit.telemetry import configure_tracing

_UNTRACED_PATHS = "/healthz$,/readyz$"
_EXCLUDED_URLS_VARIABLES = ("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS")


def serve(settings: GatewaySettings) -> None:
    configure_logging("gateway", settings.log_level)
    traced = configure_tracing("gateway")
    app = create_app(settings)
    # Metrics on a port of their own, reachable by the scraper only: the API port is public.
    start_metrics_listener(settings.metrics_listen)
    if traced:
        _trace_requests(app)
    host, _, port = settings.addr.rpartition(":")
    config = uvicorn.Config(
        app,
        host=host.strip("[]"),
        port=int(port),
        ssl_certfile=str(settings.https_cert) if settings.https else None,
        ssl_keyfile=str(settings.https_key) if settings.https else None,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    uvicorn.Server(config).run()


def _trace_requests(app: FastAPI) -> None:
    """A server span per request. Probes are left out unless the operator names the excluded
    URLs (OTEL_PYTHON_FASTAPI_EXCLUDED_URLS, OTEL_PYTHON_EXCLUDED_URLS), and so are the per-message spans
    of a response: a download or an event stream would have thousands."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    named = any(name in os.environ for name in _EXCLUDED_URLS_VARIABLES)
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=None if named else _UNTRACED_PATHS, exclude_spans=["receive", "send"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway", description=__doc__)
    parser.add_argument("command", choices=["serve"])
    parser.parse_args(argv)
    serve(load_settings(GatewaySettings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
