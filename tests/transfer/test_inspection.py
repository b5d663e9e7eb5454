"""Inspection by content of real packages: what each format says about itself, and what is refused."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from services.transfer.errors import Rejected
from services.transfer.inspection import Inspection, Limits, detect, inspect_artifact
from services.transfer.inspection.images import split_reference
from tests.support.packages import (
    INSTALL_SCRIPT,
    MALICIOUS_CASES,
    ar_archive,
    ar_members,
    build_deb,
    build_image_archive,
    build_malicious_tar,
    build_rpm,
    build_tarball,
)

LIMITS = Limits(max_members=200, max_expansion_ratio=100, timeout_seconds=30)


def inspect(path: Path) -> Inspection:
    return inspect_artifact(path, LIMITS)


def refusal(path: Path) -> Rejected:
    with pytest.raises(Rejected) as refused:
        inspect(path)
    return refused.value


@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_a_deb_reports_its_control_fields(tmp_path: Path, compression: str) -> None:
    description = "Says hello\n A longer text that is not the summary."
    deb = build_deb(
        tmp_path, "hello", "1.2-3", "amd64", "libc6 (>= 2.17), bash", description, compression=compression
    )
    assert inspect(deb) == Inspection(
        format="deb",
        name="hello",
        version="1.2-3",
        arch="x86_64",
        depends=("libc6 (>= 2.17)", "bash"),
        description="Says hello",
    )


@pytest.mark.parametrize(
    ("deb_arch", "arch"), [("arm64", "aarch64"), ("all", "noarch"), ("riscv64", "riscv64")]
)
def test_deb_architectures_are_named_as_rpm_names_them(tmp_path: Path, deb_arch: str, arch: str) -> None:
    assert inspect(build_deb(tmp_path, "hello", "1.0", deb_arch)).arch == arch


def test_an_rpm_reports_its_header(tmp_path: Path) -> None:
    rpm = build_rpm(tmp_path, "hello", "1.2", "3", epoch=2, requires=("bash", "coreutils >= 8"), summary="Hi")
    assert inspect(rpm) == Inspection(
        format="rpm",
        name="hello",
        version="2:1.2",
        release="3",
        arch="noarch",
        depends=("bash", "coreutils >= 8"),
        description="Hi",
    )


def test_an_rpm_without_epoch_has_a_plain_version(tmp_path: Path) -> None:
    result = inspect(build_rpm(tmp_path, "plain", "4.5.6", "7"))
    assert (result.version, result.release, result.depends) == ("4.5.6", "7", ())


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_an_rpm_keeps_its_architecture(tmp_path: Path, arch: str) -> None:
    assert inspect(build_rpm(tmp_path, "native", "1.0", arch=arch)).arch == arch


def test_a_damaged_rpm_is_refused_with_rpms_reason(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.rpm"
    damaged.write_bytes(build_rpm(tmp_path, "broken", "1.0").read_bytes()[:400])
    refused = refusal(damaged)
    assert refused.reason == "bad_rpm"
    assert refused.message.startswith("rpm refused the package: ")
    assert str(damaged) not in refused.message


def test_an_rpm_that_takes_too_long_to_read_is_refused(tmp_path: Path) -> None:
    rpm = build_rpm(tmp_path, "slow", "1.0")
    with pytest.raises(Rejected) as refused:
        inspect_artifact(rpm, Limits(timeout_seconds=0.001))
    assert (refused.value.reason, refused.value.message) == (
        "bad_rpm",
        "rpm took longer than 0.001s to read the package",
    )


def test_an_rpm_with_absurdly_many_requirements_is_refused(tmp_path: Path) -> None:
    """rpm's output is read with a bound: a header of hundreds of MiB must fill neither our memory nor a
    reply larger than gRPC carries."""
    requires = tuple(f"lib{index:05d}-{'x' * 400}" for index in range(3000))
    refused = refusal(build_rpm(tmp_path, "greedy", "1.0", requires=requires))
    assert (refused.reason, refused.message) == (
        "bad_rpm",
        "the rpm header is absurdly large (over 1024 KiB of fields)",
    )


@pytest.mark.parametrize("compressed", [True, False])
def test_a_tar_package_reads_its_manifest_and_scripts(tmp_path: Path, compressed: bool) -> None:
    files = {"install.sh": INSTALL_SCRIPT, "uninstall.sh": "#!/bin/sh\n", "bin/app": b"\x7fELF"}
    tarball = build_tarball(
        tmp_path, "app", "2.0", files, gzip=compressed, description="The app", arch="amd64"
    )
    assert inspect(tarball) == Inspection(
        format="tar",
        name="app",
        version="2.0",
        arch="x86_64",
        description="The app",
        has_uninstall_script=True,
    )


def test_a_tar_package_without_manifest_is_noarch_and_unnamed(tmp_path: Path) -> None:
    files = {"./install.sh": INSTALL_SCRIPT}
    assert inspect(build_tarball(tmp_path, "x", "1", files, manifest=False)) == Inspection(
        format="tar", arch="noarch"
    )


def test_install_sh_must_be_at_the_root(tmp_path: Path) -> None:
    refused = refusal(build_tarball(tmp_path, "x", "1", {"scripts/install.sh": INSTALL_SCRIPT}))
    assert refused.reason == "missing_install_script"
    assert "no install.sh at its root" in refused.message


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        (b"[1, 2]", "convoy.json must be a JSON object"),
        (b'{"name": 7}', "convoy.json field 'name' must be a string"),
        (b"{not json", "convoy.json is not valid JSON"),
        (b'{"name": "' + os.urandom(40_000).hex().encode() + b'"}', "convoy.json is larger than 64 KiB"),
    ],
)
def test_a_bad_manifest_is_refused(tmp_path: Path, manifest: bytes, words: str) -> None:
    files = {"install.sh": INSTALL_SCRIPT, "convoy.json": manifest}
    refused = refusal(build_tarball(tmp_path, "x", "1", files, manifest=False))
    assert (refused.reason, words in refused.message) == ("bad_manifest", True), refused.message


def test_symlinks_that_stay_inside_are_fine(tmp_path: Path) -> None:
    source = tmp_path / "tree"
    (source / "lib64").mkdir(parents=True)
    (source / "lib64" / "libapp.so").write_bytes(b"so")
    (source / "install.sh").write_bytes(INSTALL_SCRIPT)
    os.symlink("lib64", source / "lib")
    os.symlink("../lib64/libapp.so", source / "lib64" / "current.so")
    archive = tmp_path / "tree.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=".")
    assert inspect(archive).format == "tar"


@pytest.mark.parametrize("oci", [False, True], ids=["docker-save", "oci-layout"])
def test_an_image_archive_names_its_image(tmp_path: Path, oci: bool) -> None:
    archive = build_image_archive(tmp_path, "registry:5000/team/app:1.2", oci=oci, arch="arm64")
    assert inspect(archive) == Inspection(
        format="container",
        name="app",
        version="1.2",
        arch="aarch64",
        image_name="registry:5000/team/app",
        image_tag="1.2",
    )


def test_a_gzipped_image_archive_is_an_image_too(tmp_path: Path) -> None:
    result = inspect(build_image_archive(tmp_path, "app:3", gzip=True))
    assert (result.format, result.image_name, result.image_tag, result.arch) == (
        "container",
        "app",
        "3",
        "x86_64",
    )


def test_an_image_manifest_naming_a_missing_layer_is_refused(tmp_path: Path) -> None:
    manifest = [{"Config": "c.json", "RepoTags": ["app:1"], "Layers": ["missing/layer.tar"]}]
    files = {"manifest.json": json.dumps(manifest), "c.json": "{}"}
    archive = _tar(tmp_path / "image.tar", files)
    refused = refusal(archive)
    assert refused.reason == "bad_image" and "'missing/layer.tar'" in refused.message


def test_install_sh_makes_a_tar_package_even_with_a_manifest_json(tmp_path: Path) -> None:
    files = {"install.sh": INSTALL_SCRIPT, "manifest.json": "[]"}
    assert inspect(build_tarball(tmp_path, "x", "1", files)).format == "tar"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("registry:5000/team/app:1.2", ("registry:5000/team/app", "1.2")),
        ("app:1.2", ("app", "1.2")),
        ("registry:5000/team/app", ("registry:5000/team/app", "latest")),
        ("app@sha256:" + "a" * 64, ("app", "latest")),
    ],
)
def test_image_references_split_at_the_last_colon_after_the_last_slash(
    reference: str, expected: tuple[str, str]
) -> None:
    assert split_reference(reference) == expected


@pytest.mark.parametrize("case", sorted(MALICIOUS_CASES))
def test_a_dangerous_tarball_is_refused_naming_the_problem(tmp_path: Path, case: str) -> None:
    refused = refusal(build_malicious_tar(tmp_path, case, members=LIMITS.max_members + 1))
    assert MALICIOUS_CASES[case] in refused.message


def test_unknown_content_is_refused(tmp_path: Path) -> None:
    for name, data in {
        "random.deb": os.urandom(4096),
        "empty.rpm": b"",
        "text.tar.gz": gzip.compress(b"hi"),
    }.items():
        (tmp_path / name).write_bytes(data)
        refused = refusal(tmp_path / name)
        assert (refused.reason, refused.message) == (
            "unknown_format",
            "not a deb, rpm, tar or container image archive",
        ), name


def test_content_decides_not_the_name(tmp_path: Path) -> None:
    disguised = tmp_path / "really-a-tarball.deb"
    disguised.write_bytes(build_tarball(tmp_path, "x", "1").read_bytes())
    assert detect(disguised) == "tar.gz"
    assert inspect(disguised).format == "tar"


def test_a_truncated_or_damaged_tar_is_refused(tmp_path: Path) -> None:
    whole = build_tarball(tmp_path, "x", "1", {"install.sh": INSTALL_SCRIPT, "data": os.urandom(20_000)})
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    plain = bytearray(build_tarball(tmp_path, "x", "1", gzip=False).read_bytes())
    plain[2 * 512 + 100 : 2 * 512 + 110] = b"X" * 10  # the second member's header
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(plain))
    for path in (truncated, damaged):
        refused = refusal(path)
        assert refused.reason == "corrupt_archive"
        assert refused.message.startswith("the archive is damaged"), refused.message


def _tar(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_repeating_one_name_does_not_get_around_the_member_limit(tmp_path: Path) -> None:
    archive = tmp_path / "repeated.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(_member("install.sh", INSTALL_SCRIPT), io.BytesIO(INSTALL_SCRIPT))
        for _ in range(LIMITS.max_members):
            info = tarfile.TarInfo("lib")  # a directory may repeat; anything else may not
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
    assert refusal(archive).reason == "too_many_members"


def _member(
    name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode = kind, len(data), link, 0o755
    return info


def _write_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes]], **options: object) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT, **options) as tar:  # type: ignore[call-overload]
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def test_a_refusal_quotes_a_long_name_only_in_part(tmp_path: Path) -> None:
    """The message travels in a gRPC trailer, which a name of kilobytes would overflow."""
    refused = refusal(build_malicious_tar(tmp_path, "long_name"))
    assert refused.reason == "unsafe_path"
    assert "(and 4904 more characters) is longer than 4096 bytes" in refused.message
    assert len(refused.message) < 300


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE], ids=["symlink", "hardlink"])
def test_an_install_script_that_is_a_link_is_refused(tmp_path: Path, kind: bytes) -> None:
    archive = _write_tar(
        tmp_path / "linked.tar",
        [
            (_member("real.sh", INSTALL_SCRIPT), INSTALL_SCRIPT),
            (_member("install.sh", kind=kind, link="real.sh"), b""),
        ],
    )
    refused = refusal(archive)
    assert (refused.reason, refused.message) == (
        "missing_install_script",
        "install.sh at the archive root must be a regular file",
    )


def test_hardlinks_repeated_directories_and_a_git_archive_header_are_fine(tmp_path: Path) -> None:
    """What real tools write stays accepted: `git archive` puts the commit in a global pax header, GNU tar
    repeats directories and stores a second name of a file as a hardlink."""
    archive = _write_tar(
        tmp_path / "real.tar",
        [
            (_member("bin", kind=tarfile.DIRTYPE), b""),
            (_member("bin/app", b"\x7fELF"), b"\x7fELF"),
            (_member("bin", kind=tarfile.DIRTYPE), b""),
            (_member("bin/app-alias", kind=tarfile.LNKTYPE, link="bin/app"), b""),
            (_member("install.sh", INSTALL_SCRIPT), INSTALL_SCRIPT),
        ],
        pax_headers={"comment": "4b825dc642cb6eb9a060e54bf8d69288fbee4904"},
    )
    assert inspect(archive).format == "tar"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("convoy.json", "convoy.json is not valid JSON"),
        ("manifest.json", "manifest.json in the image archive"),
    ],
)
def test_json_nested_too_deeply_is_refused(tmp_path: Path, name: str, words: str) -> None:
    nested = b"[" * 30_000 + b"]" * 30_000
    files = {name: nested} if name == "manifest.json" else {"install.sh": INSTALL_SCRIPT, name: nested}
    archive = _write_tar(
        tmp_path / "nested.tar", [(_member(path, data), data) for path, data in files.items()]
    )
    refused = refusal(archive)
    assert words in refused.message and "nested too deeply" in refused.message, refused.message


@pytest.mark.parametrize(
    "pax",
    [{"GNU.sparse.size": "abc"}, {"GNU.sparse.map": "1,a", "GNU.sparse.size": "5"}, {"size": "-1000000"}],
    ids=["sparse-size", "sparse-map", "negative-pax-size"],
)
def test_headers_that_trip_up_tarfile_are_refused_as_damage(tmp_path: Path, pax: dict[str, str]) -> None:
    """tarfile raises ValueError or seeks before the start on these: the uploader hears it is damaged."""
    notes = _member("notes.txt", b"data")
    notes.pax_headers = pax
    archive = _write_tar(
        tmp_path / "odd.tar", [(_member("install.sh", INSTALL_SCRIPT), INSTALL_SCRIPT), (notes, b"data")]
    )
    assert refusal(archive).reason == "corrupt_archive"


def _deb_like(tmp_path: Path, members: list[tuple[str, bytes]], **options: object) -> Path:
    path = tmp_path / f"{uuid.uuid4().hex[:8]}.deb"
    path.write_bytes(ar_archive(members, **options))  # type: ignore[arg-type]
    return path


def test_a_deb_whose_ar_header_claims_a_negative_size_is_refused(tmp_path: Path) -> None:
    """68 bytes that used to send the ar reader round one header until the process ran out of memory."""
    deb = _deb_like(tmp_path, [("debian-binary", b"")], sizes={"debian-binary": b"-60"})
    refused = refusal(deb)
    assert (refused.reason, refused.message) == (
        "bad_deb",
        "not a valid deb package: a damaged ar member header",
    )


def test_a_deb_is_read_in_dpkgs_member_order(tmp_path: Path) -> None:
    """dpkg wants a short debian-binary first, then control.tar, then data.tar; anything else would pass
    here and fail on every node."""
    parts = dict(ar_members(build_deb(tmp_path, "ordered", "1.0").read_bytes()))
    control = next(name for name in parts if name.startswith("control.tar"))
    data = next(name for name in parts if name.startswith("data.tar"))
    cases = {
        "data before control": [
            ("debian-binary", parts["debian-binary"]),
            (data, parts[data]),
            (control, parts[control]),
        ],
        "huge debian-binary": [
            ("debian-binary", b"2.0\n" + bytes(1 << 20)),
            (control, parts[control]),
            (data, parts[data]),
        ],
        "version 3": [("debian-binary", b"3.0\n"), (control, parts[control]), (data, parts[data])],
    }
    for case, members in cases.items():
        refused = refusal(_deb_like(tmp_path, members))
        assert refused.reason == "bad_deb" and refused.message.startswith("not a valid deb package"), case
    signed = [
        ("debian-binary", parts["debian-binary"]),
        ("_gpgorigin", b"sig"),
        (control, parts[control]),
        (data, parts[data]),
    ]
    assert inspect(_deb_like(tmp_path, signed)).name == "ordered"


@pytest.mark.timeout(60)
def test_a_deb_whose_control_tar_has_a_hostile_header_is_refused(tmp_path: Path) -> None:
    """The control tar is parsed by the same tarfile as tar packages, so it gets the same guard (here,
    against the quadratic pax parsing of CVE-2024-6232, which took minutes on this one header)."""
    parts = dict(ar_members(build_deb(tmp_path, "slow", "1.0", compression="none").read_bytes()))
    hostile = _member("./notes")
    hostile.pax_headers = {"comment": "1" * 300_000}
    control = hostile.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + parts["control.tar"]
    members = [
        ("debian-binary", parts["debian-binary"]),
        ("control.tar", control),
        ("data.tar", parts["data.tar"]),
    ]
    refused = refusal(_deb_like(tmp_path, members))
    assert (refused.reason, refused.message) == (
        "bad_deb",
        "the archive has a header record larger than 16 KiB",
    )
