"""Prometheus metrics of the transfer service (no ids in labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["UPLOAD_REJECTIONS", "TRANSFER_BYTES", "ACTIVE_STREAMS", "UPLOAD", "DOWNLOAD"]

UPLOAD, DOWNLOAD = "upload", "download"

UPLOAD_REJECTIONS = Counter(
    "convoy_transfer_upload_rejections_total",
    "Uploads refused for their content or size, by reason",
    ["reason"],
)
TRANSFER_BYTES = Counter(
    "convoy_transfer_bytes_total", "Artifact bytes received (upload) or sent (download)", ["direction"]
)
ACTIVE_STREAMS = Gauge(
    "convoy_transfer_active_streams", "Upload and download streams in progress", ["direction"]
)
for _direction in (UPLOAD, DOWNLOAD):
    TRANSFER_BYTES.labels(_direction)
    ACTIVE_STREAMS.labels(_direction)
