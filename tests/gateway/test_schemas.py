"""The REST API's enum fields take their names from the proto enums, so the two cannot drift: a value added
to a proto is accepted and returned, and a reply carrying one is never a failed response validation."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal, get_args, get_origin

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from pydantic import BaseModel, TypeAdapter, ValidationError

import services.gateway
from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.gateway.schemas import Input, UserCreate
from services.gateway.schemas_deployments import DeploymentCreate, deployment_out
from services.gateway.schemas_enums import PROTO_ENUM_KEY, JsonEnum, ProtoEnum, json_enum
from services.gateway.schemas_packages import package_out

# A number no proto enum of ours uses: what an upstream built from a later proto could send.
NEWER = 99


def schema_modules() -> list[ModuleType]:
    """Every schemas* module of the gateway, found by name so a new one is walked too."""
    found = pkgutil.iter_modules(services.gateway.__path__)
    return [
        importlib.import_module(f"services.gateway.{m.name}") for m in found if m.name.startswith("schemas")
    ]


def schema_models() -> list[type[BaseModel]]:
    return [
        value
        for module in schema_modules()
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__
    ]


def enum_fields() -> Iterator[tuple[type[BaseModel], str, tuple[str, ...], ProtoEnum | None]]:
    """Each Literal inside each field of each model, with the proto enum it is marked as (None: unmarked)."""
    for model in schema_models():
        for name, field in model.model_fields.items():
            for names, marker in literals(field.annotation, field.metadata):
                yield model, name, names, marker


def literals(annotation: Any, metadata: list[Any]) -> Iterator[tuple[tuple[str, ...], ProtoEnum | None]]:
    """The Literal types in an annotation (inside unions, lists and Annotated), with their marker."""
    origin = get_origin(annotation)
    if origin is Literal:
        yield get_args(annotation), next((m for m in metadata if isinstance(m, ProtoEnum)), None)
    elif origin is Annotated:
        inner, *extra = get_args(annotation)
        yield from literals(inner, extra)
    else:
        for argument in get_args(annotation):
            yield from literals(argument, [])


def proto_names(marker: ProtoEnum) -> list[str]:
    """The enum's JSON names, read from the descriptor pool: the value names without the prefix the zero
    value carries before UNSPECIFIED, lowercase, UNSPECIFIED itself left out."""
    enum = descriptor_pool.Default().FindEnumTypeByName(marker.full_name)
    prefix = enum.values_by_number[0].name.removesuffix("UNSPECIFIED")
    return [
        value.name.removeprefix(prefix).lower().replace("_", marker.separator)
        for value in enum.values
        if value.number != 0
    ]


def test_every_enum_field_lists_exactly_its_proto_enums_names() -> None:
    seen: set[str] = set()
    for model, name, names, marker in enum_fields():
        where = f"{model.__name__}.{name}"
        assert marker is not None, f"{where}: a hand-written Literal; build it with json_enum"
        if marker.subset:
            assert issubclass(model, Input), f"{where}: only a request may accept fewer names"
            assert set(names) < set(proto_names(marker)), where
        else:
            assert list(names) == proto_names(marker), where
        if not issubclass(model, Input):
            seen.add(marker.full_name)
    defined = {
        value.marker.full_name
        for module in schema_modules()
        for value in vars(module).values()
        if isinstance(value, JsonEnum)
    }
    # Each enum the gateway defines shows in some reply, so the walk above reached all of them.
    assert defined == seen


def test_the_openapi_document_lists_each_enums_names_and_names_the_proto(pki_dir: Path) -> None:
    settings = GatewaySettings(env="dev", pki_dir=pki_dir, auth_target="127.0.0.1:1")
    schemas = create_app(settings).openapi()["components"]["schemas"]
    enums = list(openapi_enums(schemas))
    assert enums
    for where, node in enums:
        assert PROTO_ENUM_KEY in node, f"{where}: an enum that does not say which proto enum it is"
        # Compared with words joined by "_", whichever separator the field spells them with.
        listed = {name.replace("-", "_") for name in node["enum"]}
        assert listed <= set(proto_names(ProtoEnum(node[PROTO_ENUM_KEY]))), where
    state = schemas["DeploymentPublic"]["properties"]["state"]["anyOf"][0]
    assert state["enum"] == proto_names(ProtoEnum("convoy.scheduler.v1.DeploymentState"))


def openapi_enums(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "enum" in node:
            yield where, node
        for key, value in node.items():
            yield from openapi_enums(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from openapi_enums(value, f"{where}/{index}")


@pytest.mark.parametrize(
    ("model", "body", "listed"),
    [
        (
            DeploymentCreate,
            {"package_id": "p", "action": "explode", "target": {"all": True}},
            "'install', 'update', 'uninstall' or 'rollback'",
        ),
        # Agent and service are roles of processes: no person's account may be given one.
        (
            UserCreate,
            {"username": "someone", "role": "agent", "password": "secret"},
            "'admin', 'operator' or 'viewer'",
        ),
    ],
)
def test_a_request_with_a_name_it_does_not_accept_is_refused_with_the_names_listed(
    model: type[BaseModel], body: dict[str, Any], listed: str
) -> None:
    with pytest.raises(ValidationError, match=listed):
        model.model_validate(body)


def test_a_number_newer_than_the_gateway_shows_as_null_or_is_left_out_of_a_list() -> None:
    deployment = deployment_out(sched_pb.Deployment(action=NEWER, state=NEWER, origin=NEWER))
    assert (deployment.action, deployment.state, deployment.origin) == (None, None, None)
    package = package_out(
        catalog_pb.Package(format=NEWER, package_families=[catalog_pb.PACKAGE_FAMILY_RPM, NEWER])
    )
    assert (package.format, package.os_families) == (None, ["rpm"])


def colour_enum(*values: str) -> EnumTypeWrapper:
    """A proto enum of its own file in a private pool, as generated code would define it."""
    file = descriptor_pb2.FileDescriptorProto(name="colour.proto", package="convoy.test.v1", syntax="proto3")
    enum = file.enum_type.add(name="Colour")
    for number, name in enumerate(values):
        enum.value.add(name=name, number=number)
    pool = descriptor_pool.DescriptorPool()
    return EnumTypeWrapper(pool.Add(file).enum_types_by_name["Colour"])


def test_a_value_added_to_a_proto_enum_is_accepted_and_named() -> None:
    colour = json_enum(colour_enum("COLOUR_UNSPECIFIED", "COLOUR_RED", "COLOUR_DARK_BLUE"), separator="-")
    assert colour.values == {"red": 1, "dark-blue": 2}
    field = TypeAdapter(colour.type)
    assert field.validate_python("dark-blue") == "dark-blue"
    assert field.json_schema() == {
        "enum": ["red", "dark-blue"],
        "type": "string",
        PROTO_ENUM_KEY: "convoy.test.v1.Colour",
    }
    assert (colour.name(2), colour.name(0), colour.name(NEWER)) == ("dark-blue", None, None)


@pytest.mark.parametrize(
    "values",
    [("COLOUR_NONE", "COLOUR_RED"), ("COLOUR_UNSPECIFIED", "RED")],
    ids=["zero-value-not-unspecified", "value-without-the-prefix"],
)
def test_an_enum_off_the_proto_style_is_refused_at_import(values: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="convoy.test.v1.Colour"):
        json_enum(colour_enum(*values))


def test_a_request_subset_must_name_values_the_enum_has() -> None:
    colour = json_enum(colour_enum("COLOUR_UNSPECIFIED", "COLOUR_RED"))
    with pytest.raises(ValueError, match="green"):
        colour.subset("red", "green")
