"""Incremental multipart/form-data parsing: small fields are collected, a file is handed out in chunks."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header

from services.gateway.errors import ApiError

__all__ = ["FormReader", "FormField", "FileStart", "FileData", "FileEnd", "FormEvent"]

# RFC 5987 `filename*=charset'language'percent-encoded`. RFC 7578 forbids it in forms, so the library
# drops it, but some clients send only that form for a non-ASCII name.
_EXTENDED_FILENAME = re.compile(r"""(?:^|;)\s*filename\*\s*=\s*"?([^'";]*)'[^']*'([^";\s]*)""", re.IGNORECASE)


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


def _boundary(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ApiError(415, "unsupported_media_type", "send the package as multipart/form-data")
    return boundary


def _extended_filename(disposition: str) -> str:
    match = _EXTENDED_FILENAME.search(disposition)
    if match is None:
        return ""
    charset, encoded = match.groups()
    try:
        return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know: UTF-8 is what every client means today
        return urllib.parse.unquote(encoded, errors="replace")


class FormReader:
    """Feeds request body pieces to a streaming parser; memory stays at one chunk plus one small field.

    A part is a file when it carries a filename (plain or RFC 5987) or is named `file_field`, so
    `curl -F file=<package.deb` (no filename) streams too instead of being read as a text field.
    """

    def __init__(
        self, content_type: str, *, chunk_bytes: int, max_field_bytes: int = 16384, file_field: str = "file"
    ) -> None:
        self._chunk_bytes, self._max_field, self._file_field = chunk_bytes, max_field_bytes, file_field
        self._events: list[FormEvent] = []
        self._headers: dict[str, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._part: FileStart | FormField | None = None
        self._buffer = bytearray()
        self._ended = False
        try:
            self._parser = MultipartParser(_boundary(content_type), callbacks=self._callbacks())
        except ValueError as exc:  # e.g. a boundary longer than the library accepts
            raise _bad(f"the multipart Content-Type is invalid: {exc}") from exc

    def _callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def feed(self, data: bytes) -> list[FormEvent]:
        try:
            self._parser.write(data)
        except ValueError as exc:  # the library's parse errors derive from ValueError
            raise _bad(f"the multipart body is malformed: {exc}") from exc
        events, self._events = self._events, []
        return events

    def finish(self) -> list[FormEvent]:
        # The parser does not notice a body cut between two parts; only the closing boundary proves that
        # the client sent everything it meant to.
        if not self._ended:
            raise _bad("the multipart body ended early: its closing boundary is missing")
        events, self._events = self._events, []
        return events

    # Parser callbacks (synchronous; they only collect events). The parser bounds each header's size and
    # the number of headers per part, so header buffers stay small.

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
        disposition = self._headers.get("content-disposition", b"").decode("latin-1")
        _, options = parse_options_header(disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise _bad("every form part needs a Content-Disposition header with a name")
        filename = options.get(b"filename", b"").decode("utf-8", "replace") or _extended_filename(disposition)
        if name == self._file_field or filename or b"filename" in options:
            content_type = self._headers.get("content-type", b"").decode("latin-1")
            self._part = FileStart(name, filename, content_type)
            self._events.append(self._part)
        else:
            self._part = FormField(name, "")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if isinstance(self._part, FileStart):
            self._file_data(memoryview(data)[start:end])
        else:
            self._buffer += data[start:end]
            if len(self._buffer) > self._max_field:
                raise _bad(f"form field {self._part.name if self._part else ''!r} is too long")

    def _file_data(self, data: memoryview) -> None:
        """Cuts the file into chunks of at most chunk_bytes, however large the piece the server handed us
        (one gRPC message must stay under its size limit)."""
        while data:
            room = self._chunk_bytes - len(self._buffer)
            self._buffer += data[:room]
            data = data[room:]
            if len(self._buffer) == self._chunk_bytes:
                self._events.append(FileData(bytes(self._buffer)))
                self._buffer.clear()

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

    def _end(self) -> None:
        self._ended = True
