"""Enum values of the REST API: lowercase names in JSON, their numbers in the protobuf messages."""

from __future__ import annotations

__all__ = ["enum_values", "enum_names"]


def enum_values(enum: object, prefix: str) -> dict[str, int]:
    """Lowercase names without the prefix ("running"), by number, from a generated enum wrapper; the
    UNSPECIFIED value has no name (it shows as null)."""
    return {
        name.removeprefix(prefix).lower(): number
        for name, number in enum.items()  # type: ignore[attr-defined]
        if number != 0
    }


def enum_names(values: dict[str, int]) -> dict[int, str]:
    """The other way round: the JSON name of each number."""
    return {number: name for name, number in values.items()}
