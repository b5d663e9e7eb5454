"""Shared infrastructure of every Convoy service: settings, database, gRPC bootstrap, TLS, telemetry."""
