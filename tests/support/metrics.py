"""Reading Prometheus text exposition the way Prometheus does, instead of matching strings."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["sample_value"]


def sample_value(exposition: str, name: str, labels: dict[str, str]) -> float | None:
    """The value of the sample `name{labels}` (exact label set), or None when absent."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None
