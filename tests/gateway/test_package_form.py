"""The upload form and the package's own inspection: defaults, contradictions and byte ranges."""

from __future__ import annotations

import pytest

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from services.gateway.downloads import ByteRange, parse_range
from services.gateway.errors import ApiError
from services.gateway.multipart import FileData, FileEnd, FileStart, FormField, FormReader
from services.gateway.package_form import registration

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
        ({"colour": "red"}, "unknown form field(s) colour"),
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
    ],
)
def test_byte_ranges(header: str, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
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
