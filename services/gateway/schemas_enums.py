"""Enum fields of the REST API, each derived from its proto enum: lowercase names in JSON, numbers in the
protobuf messages. The field type, the OpenAPI enum and both lookups come from the one generated enum, so a
value added to the proto is accepted and returned without a hand-kept list falling behind (and turning a
valid reply into a failed response validation)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ["PROTO_ENUM_KEY", "ProtoEnum", "JsonEnum", "json_enum"]

# The OpenAPI extension that names the proto enum a field's values come from.
PROTO_ENUM_KEY = "x-proto-enum"
_UNSPECIFIED = "UNSPECIFIED"


@dataclass(frozen=True)
class ProtoEnum:
    """Marks a field type as the names of a proto enum (`full_name`), spelt with `separator` between
    words; `subset` when a request deliberately accepts fewer names than the enum has."""

    full_name: str
    separator: str = "_"
    subset: bool = False

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema[PROTO_ENUM_KEY] = self.full_name
        return schema


@dataclass(frozen=True)
class JsonEnum:
    """One proto enum as the REST API spells it. UNSPECIFIED has no name: it shows as null."""

    marker: ProtoEnum
    values: dict[str, int]
    names: dict[int, str]

    @property
    def type(self) -> Any:
        """The field type: exactly the enum's names, so a wrong one in a request is refused with the names
        listed, and the OpenAPI document lists them too."""
        return Annotated[Literal[tuple(self.values)], self.marker]

    def subset(self, *names: str) -> Any:
        """A request field that accepts only `names`; each must be one of the enum's."""
        unknown = [name for name in names if name not in self.values]
        if unknown or not names:
            raise ValueError(f"{self.marker.full_name} has no value named {unknown or 'at all'}")
        marker = ProtoEnum(self.marker.full_name, self.marker.separator, subset=True)
        return Annotated[Literal[names], marker]

    def name(self, number: int) -> str | None:
        """The JSON name of a number; None for UNSPECIFIED and for a number newer than this gateway's
        generated code (an upstream built from a later proto), which a response shows as null."""
        return self.names.get(number)

    def known(self, numbers: Iterable[int]) -> list[str]:
        """The names of a repeated enum field; a number this gateway has no name for is left out, since
        a list has no null to show it as."""
        return [name for name in map(self.name, numbers) if name is not None]


def json_enum(enum: EnumTypeWrapper, separator: str = "_") -> JsonEnum:
    """The JSON names of a generated enum: each value's name without the enum's prefix, lowercase, words
    joined by `separator`. The prefix is what the zero value's name has before UNSPECIFIED (the proto
    style every enum here follows), and every other value must carry it."""
    descriptor = enum.DESCRIPTOR
    zero = descriptor.values_by_number[0].name
    prefix = zero.removesuffix(_UNSPECIFIED)
    if prefix == zero:
        raise ValueError(f"{descriptor.full_name}: the zero value {zero} does not end in {_UNSPECIFIED}")
    values: dict[str, int] = {}
    for value in descriptor.values:
        if value.number == 0:
            continue
        if not value.name.startswith(prefix):
            raise ValueError(f"{descriptor.full_name}: {value.name} does not start with {prefix}")
        values[value.name.removeprefix(prefix).lower().replace("_", separator)] = value.number
    names = {number: name for name, number in values.items()}
    return JsonEnum(ProtoEnum(descriptor.full_name, separator), values, names)
