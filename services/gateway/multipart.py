"""Incremental multipart/form-data parsing: small fields are collected, a file is handed out in chunks."""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header

from services.gateway.errors import ApiError

__all__ = ["FormReader", "FormField", "FileStart", "FileData", "FileEnd", "FormEvent"]


@dataclass(frozen=True)
class FormField:
    name: str
    value: str


@dataclass(frozen=True)
class FileStart:
    name: str
    filename: str
    content_type: str


@dataclass(frozen=True)
class FileData:
    data: bytes


@dataclass(frozen=True)
class FileEnd:
    pass


FormEvent = FormField | FileStart | FileData | FileEnd


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_argument", message)


class FormReader:
    """Feeds request body pieces to a streaming parser; memory stays at one chunk plus one small field."""

    def __init__(self, content_type: str, *, chunk_bytes: int, max_field_bytes: int = 8192) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise ApiError(415, "unsupported_media_type", "send the package as multipart/form-data")
        self._chunk_bytes, self._max_field = chunk_bytes, max_field_bytes
        self._events: list[FormEvent] = []
        self._headers: dict[str, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._part: FileStart | FormField | None = None
        self._buffer = bytearray()
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def feed(self, data: bytes) -> list[FormEvent]:
        try:
            self._parser.write(data)
        except ValueError as exc:  # the library's parse errors derive from ValueError
            raise _bad(f"the multipart body is malformed: {exc}") from exc
        events, self._events = self._events, []
        return events

    def finish(self) -> list[FormEvent]:
        self._parser.finalize()
        if self._part is not None:
            raise _bad("the multipart body ended in the middle of a part")
        events, self._events = self._events, []
        return events

    # Parser callbacks (synchronous; they only collect events).

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise _bad("every form part needs a name")
        if b"filename" in options:
            filename = options[b"filename"].decode("utf-8", "replace")
            content_type = self._headers.get("content-type", b"").decode("latin-1")
            self._part = FileStart(name, filename, content_type)
            self._events.append(self._part)
        else:
            self._part = FormField(name, "")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if isinstance(self._part, FileStart):
            self._buffer += data[start:end]
            if len(self._buffer) >= self._chunk_bytes:
                self._events.append(FileData(bytes(self._buffer)))
                self._buffer.clear()
        else:
            self._buffer += data[start:end]
            if len(self._buffer) > self._max_field:
                raise _bad(f"form field {self._part.name if self._part else ''!r} is too long")

    def _part_end(self) -> None:
        if isinstance(self._part, FileStart):
            if self._buffer:
                self._events.append(FileData(bytes(self._buffer)))
            self._events.append(FileEnd())
        elif self._part is not None:
            try:
                value = self._buffer.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _bad(f"form field {self._part.name!r} is not UTF-8 text") from exc
            self._events.append(FormField(self._part.name, value))
        self._buffer.clear()
        self._part = None
