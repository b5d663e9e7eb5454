"""Command line of the gateway: serve the REST API with uvicorn (HTTPS when a certificate is set)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.kit.logs import configure_logging
from services.kit.settings import load_settings
from services.kit.telemetry import configure_tracing


def serve(settings: GatewaySettings) -> None:
    configure_logging("gateway", settings.log_level)
    app = create_app(settings)
    if configure_tracing("gateway"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway", description=__doc__)
    parser.add_argument("command", choices=["serve"])
    parser.parse_args(argv)
    serve(load_settings(GatewaySettings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
