"""The upload form and the package's own inspection: defaults, contradictions and byte ranges."""

from __future__ import annotations

import urllib.parse

import pytest

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from services.gateway.downloads import ByteRange, content_disposition, parse_range
from services.gateway.errors import ApiError
from services.gateway.multipart import FileData, FileEnd, FileStart, FormField, FormReader
from services.gateway.package_form import check_field, registration

SHA = "ab" * 32


def deb_inspection(**overrides: object) -> transfer_pb.Inspection:
    values: dict[str, object] = {
        "format": transfer_pb.ARTIFACT_FORMAT_DEB,
        "name": "nginx-app",
        "version": "1:2.1-3",
        "arch": "x86_64",
        "depends": ["libc6 (>= 2.31)"],
        "description": "web front",
    }
    return transfer_pb.Inspection(**{**values, **overrides})


def test_a_deb_takes_name_version_and_arch_from_its_control_file() -> None:
    request = registration({}, deb_inspection(), SHA)
    assert (request.software_name, request.version, request.arch) == ("nginx-app", "1:2.1-3", "x86_64")
    assert request.format == catalog_pb.FORMAT_DEB and not request.HasField("release")
    assert list(request.depends) == ["libc6 (>= 2.31)"] and request.description == "web front"


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"software_name": "other"}, "software_name 'other' contradicts the package, which says 'nginx-app'"),
        ({"version": "2.2"}, "version '2.2' contradicts"),
        ({"format": "rpm"}, "declared rpm but the content is a deb package"),
        ({"format": "zip"}, "format must be one of"),
        ({"arch": "aarch64"}, "arch 'aarch64' contradicts"),
        ({"colour": "red"}, "unknown form field 'colour'"),
        ({"os_families": "rpm"}, "os_families applies to tar and container packages only"),
    ],
)
def test_a_form_that_contradicts_the_content_is_refused(fields: dict[str, str], fragment: str) -> None:
    with pytest.raises(ApiError) as refused:
        registration(fields, deb_inspection(), SHA)
    assert refused.value.status == 400 and fragment in refused.value.message


def test_an_rpm_version_may_be_given_with_its_release() -> None:
    found = transfer_pb.Inspection(
        format=transfer_pb.ARTIFACT_FORMAT_RPM, name="agentd", version="1.0", release="2", arch="noarch"
    )
    request = registration({"version": "1.0-2"}, found, SHA)
    assert (request.version, request.release) == ("1.0", "2")


def rpm_inspection(version: str, release: str = "3") -> transfer_pb.Inspection:
    return transfer_pb.Inspection(
        format=transfer_pb.ARTIFACT_FORMAT_RPM, name="agentd", version=version, release=release, arch="x86_64"
    )


@pytest.mark.parametrize(
    ("given", "found"),
    [
        ("1:2.0", "1:2.0"),
        ("1:2.0-3", "1:2.0"),
        ("2.0", "1:2.0"),  # the epoch left out, as in the file name
        ("2.0-3", "1:2.0"),
        ("0:2.0", "2.0"),  # epoch 0 is no epoch
        ("2.0", "0:2.0"),
    ],
)
def test_an_rpm_version_agrees_with_its_epoch_and_the_package_spelling_is_kept(
    given: str, found: str
) -> None:
    request = registration({"version": given}, rpm_inspection(found), SHA)
    assert (request.version, request.release) == (found, "3")


@pytest.mark.parametrize(
    ("given", "found"),
    [
        ("1:2.0", "2.0"),
        ("2:2.0", "1:2.0"),
        ("1:2.0-4", "1:2.0"),
        ("2.1", "1:2.0"),
        ("9" * 5000 + ":2.0", "2.0"),
    ],
)
def test_an_rpm_version_with_another_epoch_or_release_is_a_contradiction(given: str, found: str) -> None:
    with pytest.raises(ApiError, match="contradicts the package"):
        registration({"version": given}, rpm_inspection(found), SHA)


def test_a_deb_epoch_may_be_left_out_of_the_form() -> None:
    assert registration({"version": "2.1-3"}, deb_inspection(), SHA).version == "1:2.1-3"


def test_spellings_catalog_treats_as_equal_are_no_contradiction() -> None:
    request = registration({"arch": "amd64"}, deb_inspection(), SHA)
    assert request.arch == "x86_64"
    found = transfer_pb.Inspection(
        format=transfer_pb.ARTIFACT_FORMAT_RPM, name="PyYAML", version="6.0", release="1", arch="aarch64"
    )
    request = registration({"software_name": "pyyaml", "arch": "arm64"}, found, SHA)
    # The package's own spellings; catalog stores the name in lowercase.
    assert (request.software_name, request.arch) == ("PyYAML", "aarch64")
    with pytest.raises(ApiError, match="release '1.EL9' contradicts"):
        registration({"release": "1.EL9"}, rpm_inspection("6.0", release="1.el9"), SHA)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [("colour", "red", "unknown form field 'colour'"), ("format", "zip", "format must be one of")],
)
def test_a_field_is_checked_alone_as_soon_as_it_arrives(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_field(name, value)
    assert refused.value.status == 400 and fragment in refused.value.message
    check_field("format", "deb")


def test_a_tar_without_manifest_needs_name_and_version() -> None:
    found = transfer_pb.Inspection(format=transfer_pb.ARTIFACT_FORMAT_TAR, has_uninstall_script=True)
    with pytest.raises(ApiError, match="send software_name and version"):
        registration({}, found, SHA)
    request = registration({"software_name": "tool", "version": "3.0", "os_families": "rpm, deb"}, found, SHA)
    assert (request.software_name, request.version, request.arch) == ("tool", "3.0", "noarch")
    assert list(request.package_families) == [catalog_pb.PACKAGE_FAMILY_RPM, catalog_pb.PACKAGE_FAMILY_DEB]


def test_a_container_image_may_be_registered_under_another_name() -> None:
    found = transfer_pb.Inspection(
        format=transfer_pb.ARTIFACT_FORMAT_CONTAINER, name="app", version="1.2", image_name="reg/team/app"
    )
    request = registration({"software_name": "team-app"}, found, SHA)
    assert (request.software_name, request.version) == ("team-app", "1.2")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("bytes=0-", ByteRange(0, 999)),
        ("bytes=100-199", ByteRange(100, 199)),
        ("bytes=900-5000", ByteRange(900, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole body is an allowed answer
        ("items=0-1", None),
        ("bytes=20-10", None),
        ("bytes=0-0", ByteRange(0, 0)),
        ("Bytes=0-0", ByteRange(0, 0)),  # range units are case-insensitive
        ("bytes = 5 -\t9", ByteRange(5, 9)),
        (f"bytes=0-{'9' * 5000}", ByteRange(0, 999)),
        (f"bytes=-{'9' * 5000}", ByteRange(0, 999)),
        ("bytes=0-1,", None),
        ("bytes=-", None),
    ],
)
def test_byte_ranges(header: str, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0", f"bytes={'9' * 5000}-"])
def test_an_unsatisfiable_range_is_a_416_with_the_size(header: str) -> None:
    with pytest.raises(ApiError) as refused:
        parse_range(header, 1000)
    assert refused.value.status == 416 and refused.value.headers["Content-Range"] == "bytes */1000"


def multipart_body(boundary: str, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_the_form_reader_hands_out_fields_and_file_chunks_whatever_the_piece_size() -> None:
    payload = bytes(range(256)) * 40  # 10 KiB
    body = multipart_body(
        "XyZ", [("format", None, b"deb"), ("file", "a.deb", payload), ("version", None, b"1.0")]
    )
    reader = FormReader("multipart/form-data; boundary=XyZ", chunk_bytes=4096)
    events = []
    for start in range(0, len(body), 7):  # pieces that cut through boundaries and headers
        events += reader.feed(body[start : start + 7])
    events += reader.finish()
    data = b"".join(e.data for e in events if isinstance(e, FileData))
    assert data == payload
    assert all(len(e.data) <= 4096 + 7 for e in events if isinstance(e, FileData))
    assert events[0] == FormField("format", "deb")
    assert events[1] == FileStart("file", "a.deb", "application/octet-stream")
    assert [type(e) for e in events[-2:]] == [FileEnd, FormField]


def test_the_form_reader_refuses_other_content_types() -> None:
    with pytest.raises(ApiError) as refused:
        FormReader("application/json", chunk_bytes=4096)
    assert refused.value.status == 415


def test_the_form_reader_cuts_a_large_piece_into_chunks_of_at_most_the_chunk_size() -> None:
    payload = bytes(range(256)) * 200  # 50 KiB arriving in one piece, as an ASGI server may hand it over
    reader = FormReader("multipart/form-data; boundary=XyZ", chunk_bytes=4096)
    events = reader.feed(multipart_body("XyZ", [("file", "a.deb", payload)])) + reader.finish()
    chunks = [e.data for e in events if isinstance(e, FileData)]
    assert b"".join(chunks) == payload and max(len(chunk) for chunk in chunks) == 4096


def test_a_body_cut_between_parts_is_refused() -> None:
    body = multipart_body("XyZ", [("file", "a.deb", b"data"), ("version", None, b"1.0")])
    cut = body[: body.index(b"--XyZ", 10) + len(b"--XyZ\r\n")]  # the next part's boundary, then nothing
    reader = FormReader("multipart/form-data; boundary=XyZ", chunk_bytes=4096)
    reader.feed(cut)
    with pytest.raises(ApiError, match="closing boundary is missing"):
        reader.finish()


def test_a_file_part_is_recognised_by_its_name_or_an_rfc5987_filename() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\n\x00\xff\r\n'
        b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"; filename*=UTF-8''%E8%BD%AF%E4%BB%B6.deb"
        b"\r\n\r\nxy\r\n--XyZ--\r\n"
    )
    reader = FormReader("multipart/form-data; boundary=XyZ", chunk_bytes=4096)
    events = reader.feed(body) + reader.finish()
    starts = [e for e in events if isinstance(e, FileStart)]
    assert starts == [FileStart("file", "", ""), FileStart("other", "软件.deb", "")]


def test_a_raw_utf8_filename_is_kept() -> None:
    body = multipart_body("XyZ", [("file", "软件包.deb", b"x")])
    reader = FormReader("multipart/form-data; boundary=XyZ", chunk_bytes=4096)
    assert FileStart("file", "软件包.deb", "application/octet-stream") in reader.feed(body)


@pytest.mark.parametrize(
    "content_type", [f"multipart/form-data; boundary={'b' * 300}", 'multipart/form-data; boundary=""']
)
def test_a_bad_boundary_is_a_client_error(content_type: str) -> None:
    with pytest.raises(ApiError) as refused:
        FormReader(content_type, chunk_bytes=4096)
    assert refused.value.status in (400, 415)


@pytest.mark.parametrize(
    "filename",
    [
        'a"b_1.0_x86_64.deb',
        "evil\r\nSet-Cookie: x=1.deb",
        "软件_1.0_x86_64.deb",
        "café_1.0.deb",
        "../x;y=z.deb",
    ],
)
def test_the_download_name_cannot_break_or_inject_into_the_header(filename: str) -> None:
    header = content_disposition(filename)
    assert header.isascii() and "\r" not in header and "\n" not in header
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert all(c.isalnum() or c in "._+-" for c in fallback)
    exact = header.split("filename*=UTF-8''", 1)[1]
    assert ";" not in exact and '"' not in exact
    assert urllib.parse.unquote(exact) == filename.replace("/", "_")
