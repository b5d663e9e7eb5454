"""Wrong requests a client may send (for fuzzing every field of an RPC or route) and staged database races."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg
import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = [
    "Mistake",
    "client_mistakes",
    "server_faults",
    "wait_for_blocked",
    "wrong_bodies",
    "MISTAKEN_TEXT",
    "MISTAKEN_NUMBERS",
    "MISTAKEN_TIMES",
]


def _token(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


# Text a client may send by mistake or on purpose: empty, huge, NUL (which PostgreSQL cannot store),
# other scripts, control characters, wildcards, ids that are not UUIDs, and page tokens that were
# never issued: nested, NUL inside, wrong types, or a valid shape from another listing.
_ANY_ID = str(uuid.uuid4())
MISTAKEN_TEXT = (
    "",
    "   ",
    "x" * 70_000,
    "\x00",
    "a\x00b",
    "é漢字💥",
    "%_\\",
    "\n\t\x1b[31m",
    "not-a-uuid",
    "garbage!",
    _token([]),
    _token({"f": "x", "h": "\x00", "id": _ANY_ID}),
    _token({"f": "x", "h": "a", "id": 5}),
    _token({"f": "x", "n": "\x00", "s": _ANY_ID}),
    _token({"name": "\x00", "at": "2020-01-01T00:00:00", "id": 5}),
    _token({"offset": True, "after": ["x"]}),
    base64.urlsafe_b64encode(b"[" * 3000).decode(),
)
MISTAKEN_NUMBERS = (-1, 99, 2**31 - 1, -(2**31))
# (seconds, nanos) outside what a Timestamp may hold.
MISTAKEN_TIMES = ((2**40, 0), (-(2**40), 0), (0, -5), (0, 2 * 10**9), (253402300800, 0))


@dataclass(frozen=True)
class Mistake:
    """One field of a request set to one wrong value; `path` may go into sub-messages ("os.arch")."""

    path: str
    value: object

    def apply(self, request: Message) -> None:
        *parents, name = self.path.split(".")
        target = request
        for parent in parents:
            target = getattr(target, parent.removesuffix("[0]"))
            target = target[0] if parent.endswith("[0]") else target
        field = target.DESCRIPTOR.fields_by_name[name]
        if isinstance(self.value, tuple):
            getattr(target, name).seconds, getattr(target, name).nanos = self.value
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(target, name)[self.value] = self.value  # type: ignore[index]
        elif field.is_repeated:
            getattr(target, name).append(self.value)
        else:
            setattr(target, name, self.value)

    def __str__(self) -> str:
        return f"{self.path}={self.value!r:.60}"


def client_mistakes(request: Message, prefix: str = "") -> Iterator[Mistake]:
    """Every field of `request` (and of its sub-messages, and of the first element of repeated ones)
    set in turn to each wrong value of its type."""
    for field in request.DESCRIPTOR.fields:
        path = f"{prefix}{field.name}"
        if field.message_type is None:
            yield from _scalar_mistakes(field, path)
        elif field.message_type.GetOptions().map_entry:
            yield from (Mistake(path, text) for text in MISTAKEN_TEXT[:9])
        elif field.message_type.full_name == "google.protobuf.Timestamp":
            yield from (Mistake(path, when) for when in MISTAKEN_TIMES)
        elif not field.is_repeated:
            yield from client_mistakes(getattr(request, field.name), f"{path}.")
        elif len(getattr(request, field.name)):
            yield from client_mistakes(getattr(request, field.name)[0], f"{path}[0].")


def _scalar_mistakes(field: FieldDescriptor, path: str) -> Iterator[Mistake]:
    if field.type == FieldDescriptor.TYPE_STRING:
        yield from (Mistake(path, text) for text in MISTAKEN_TEXT)
    elif field.type in (FieldDescriptor.TYPE_ENUM, FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
        yield from (Mistake(path, number) for number in MISTAKEN_NUMBERS)
    elif field.type == FieldDescriptor.TYPE_BOOL:
        yield Mistake(path, True)


async def server_faults(call: Callable[[Message], object], make_request: Callable[[], Message]) -> list[str]:
    """The mistakes that `call` answers as a server fault (INTERNAL or UNKNOWN) instead of a client error."""
    faults = []
    for mistake in client_mistakes(make_request()):
        request = make_request()
        mistake.apply(request)
        try:
            await call(request)  # type: ignore[misc]
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                faults.append(f"{mistake}: {exc.code().name}")
    return faults


async def wait_for_blocked(connection: asyncpg.Connection, count: int, timeout: float = 10) -> None:
    """Waits until `count` other sessions of the database wait for a lock (to stage a race exactly)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(timeout):
        while await connection.fetchval(query) < count:
            await asyncio.sleep(0.02)


# JSON a client may send: wrong types, nothing, huge, NUL, and escapes of lone surrogates (valid JSON, but
# text that no protobuf string can carry).
WRONG_JSON = ["null", "[]", '"x"', "1", "{}", '{"\\ud800": 1}']
WRONG_VALUES = [
    "null",
    "1",
    "[]",
    "{}",
    '"\\ud800"',
    '"a\\u0000b"',
    '"' + "x" * 70_000 + '"',
    '{"\\ud800": "x"}',
]


def wrong_bodies(valid: dict) -> list[str]:
    """Whole bodies of the wrong shape, then `valid` with each field in turn set to each wrong value."""
    bodies = list(WRONG_JSON)
    for field in valid:
        for value in WRONG_VALUES:
            others = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in valid.items() if k != field)
            bodies.append("{" + (others + ", " if others else "") + f"{json.dumps(field)}: {value}" + "}")
    return bodies
