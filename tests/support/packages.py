"""Builds real packages for tests: debs with dpkg-deb, rpms with rpmbuild, tarballs and image archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import textwrap
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = [
    "build_deb",
    "build_rpm",
    "build_tarball",
    "build_image_archive",
    "build_malicious_tar",
    "ar_archive",
    "ar_members",
    "MALICIOUS_CASES",
    "INSTALL_SCRIPT",
]

INSTALL_SCRIPT = b"#!/bin/sh\nset -e\necho installing\n"
# Each dangerous case, and the words transfer's refusal must contain.
MALICIOUS_CASES = {
    "parent_path": "member '../x' has a '..' component",
    "dot_parent_path": "member './../x' has a '..' component",
    "inner_parent_path": "member 'a/../../x' has a '..' component",
    "absolute_path": "member '/etc/x' has an absolute path",
    "backslash_path": "the name of member '..\\\\..\\\\x' has a control character or a backslash in it",
    "nul_in_name": "the name of member 'bin/tool\\x00.txt' has a control character or a backslash in it",
    "nul_in_link": "the link target of 'l' has a control character or a backslash in it",
    "long_name": "is longer than 4096 bytes",
    "long_component": "has a path component longer than 255 bytes",
    "longname_then_pax_path": "member 'notes.txt' has another name in its pax header ('install.sh')",
    "global_pax_path": "a global pax header sets 'path' for every member",
    "sparse_file": "member 'sparse.bin' is a sparse file",
    "symlink_to_root": "symlink 'root' points to the absolute path '/'",
    "symlink_up": "symlink 'a' points outside the archive ('../..')",
    "symlink_chain": "member 'l/x' escapes the archive root",
    "symlink_redirected_later": "symlink 'l' points outside the archive once every symlink is in place",
    "symlink_bomb": "goes through too many symlinks",
    "hardlink_escape": "hardlink 'passwd' points outside the archive ('../../etc/passwd')",
    "hardlink_to_symlink": "hardlink 'h' points to 'a/b/s', which is not a regular file earlier in the archive",
    "dir_then_symlink": "member 'x' would overwrite 'x', which is earlier in the archive",
    "symlink_over_implicit_dir": "member 'd' would replace a directory",
    "install_script_twice": "member 'install.sh' would overwrite 'install.sh', which is earlier in the archive",
    "install_script_through_symlink": "member 'x/install.sh' would overwrite 'install.sh'",
    "root_replaced": "member '.' would replace the archive root",
    "directory_with_data": "member 'd' is not a regular file but carries data",
    "negative_size": "member 'neg' has a negative size",
    "file_capabilities": "member 'bin/tool' carries file capabilities",
    "huge_header_record": "the archive has a header record larger than 16 KiB",
    "long_digit_run": "the archive has a header record with an absurdly long number",
    "char_device": "member 'dev/null' is a character device",
    "fifo": "member 'dev/null' is a FIFO",
    "setuid": "member 'bin/tool' has the setuid bit set",
    "setgid": "member 'bin/tool' has the setgid bit set",
    "too_many_members": "the archive has more than",
    "expansion_bomb": "member 'big.bin' brings the archive's contents to",
}
_BLOCK = tarfile.BLOCKSIZE
# dpkg-deb and rpmbuild get this long: a payload of a few hundred MiB is written in time.
BUILD_TIMEOUT = 120.0


def _workdir(tmp_path: Path, prefix: str) -> Path:
    directory = tmp_path / f"{prefix}-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    return directory


def build_deb(
    tmp_path: Path,
    name: str,
    version: str,
    arch: str = "all",
    depends: str = "",
    description: str = "A test package\n Built by the test suite.",
    payload_bytes: int = 0,
    *,
    compression: str = "xz",
    scripts: Mapping[str, str] | None = None,
) -> Path:
    """A real .deb from `dpkg-deb --build`: control fields as given, /usr/share/<name>/VERSION holding the
    version, with `payload_bytes` a random payload.bin beside it, and `scripts` (maintainer script name →
    the whole file, shebang included) in DEBIAN/."""
    work = _workdir(tmp_path, "deb")
    root = work / "root"
    (root / "DEBIAN").mkdir(parents=True)
    fields = [
        f"Package: {name}",
        f"Version: {version}",
        f"Architecture: {arch}",
        "Maintainer: Convoy Tests <tests@example.com>",
    ]
    if depends:
        fields.append(f"Depends: {depends}")
    fields.append(f"Description: {description}")
    (root / "DEBIAN" / "control").write_text("\n".join(fields) + "\n")
    for script, text in (scripts or {}).items():
        path = root / "DEBIAN" / script
        path.write_text(text)
        path.chmod(0o755)
    share = root / "usr" / "share" / name
    share.mkdir(parents=True)
    (share / "VERSION").write_text(f"{version}\n")
    if payload_bytes:
        _write_payload(share / "payload.bin", payload_bytes)
    out = work / f"{name}_{version}_{arch}.deb"
    _run_tool(["dpkg-deb", f"-Z{compression}", "--root-owner-group", "--build", str(root), str(out)])
    return out


def ar_members(data: bytes) -> list[tuple[str, bytes]]:
    """The members of an ar archive (a .deb), in order."""
    members, offset = [], len(b"!<arch>\n")
    while offset < len(data):
        header = data[offset : offset + 60]
        size = int(header[48:58])
        members.append(
            (header[:16].decode().rstrip().removesuffix("/"), data[offset + 60 : offset + 60 + size])
        )
        offset += 60 + size + size % 2
    return members


def ar_archive(members: list[tuple[str, bytes]], *, sizes: dict[str, bytes] | None = None) -> bytes:
    """An ar archive of `members`; `sizes` writes a member's size field as given instead of its length."""
    out = [b"!<arch>\n"]
    for name, data in members:
        size = (sizes or {}).get(name, str(len(data)).encode())
        out.append(f"{name}/".encode().ljust(16) + b"0".ljust(12) + b"0".ljust(6) * 2 + b"100644".ljust(8))
        out.append(size.ljust(10) + b"`\n" + data + b"\n" * (len(data) % 2))
    return b"".join(out)


def build_rpm(
    tmp_path: Path,
    name: str,
    version: str,
    release: str = "1",
    arch: str = "noarch",
    *,
    epoch: int | None = None,
    requires: tuple[str, ...] = (),
    summary: str = "A test package",
    scripts: Mapping[str, str] | None = None,
) -> Path:
    """A real binary rpm from `rpmbuild -bb` with one file, /opt/<name>/VERSION holding the version, no
    automatic dependencies, and `scripts` (scriptlet tag such as "post" → its body)."""
    work = _workdir(tmp_path, "rpm")
    spec = work / f"{name}.spec"
    header = [
        f"Name: {name}",
        f"Version: {version}",
        f"Release: {release}",
        f"Summary: {summary}",
        "License: MIT",
        "AutoReqProv: no",
    ]
    if arch == "noarch":
        header.append("BuildArch: noarch")
    if epoch is not None:
        header.append(f"Epoch: {epoch}")
    header += [f"Requires: {requirement}" for requirement in requires]
    body = f"""
        %description
        {summary}.

        %install
        mkdir -p %{{buildroot}}/opt/{name}
        echo {version} > %{{buildroot}}/opt/{name}/VERSION

        %files
        /opt/{name}/VERSION
        """
    scriptlets = "".join(f"\n%{tag}\n{text}" for tag, text in (scripts or {}).items())
    spec.write_text("\n".join(header) + "\n" + textwrap.dedent(body) + scriptlets)
    top = work / "rpmbuild"
    command = ["rpmbuild", "--define", f"_topdir {top}", "--define", "_build_id_links none"]
    if arch != "noarch":
        command += ["--target", arch]  # the package has no binaries, so any architecture can be built here
    command += ["-bb", str(spec)]
    _run_tool(command)
    (built,) = (top / "RPMS").rglob("*.rpm")
    return built


def build_tarball(
    tmp_path: Path,
    name: str,
    version: str,
    files: dict[str, str | bytes] | None = None,
    manifest: bool = True,
    gzip: bool = True,
    *,
    description: str = "A tar package",
    arch: str | None = None,
) -> Path:
    """A tar package: `files` (default: install.sh only) and, with `manifest`, a root convoy.json."""
    members: dict[str, str | bytes] = dict(files if files is not None else {"install.sh": INSTALL_SCRIPT})
    if manifest:
        fields = {"name": name, "version": version, "description": description}
        if arch is not None:
            fields["arch"] = arch
        members["convoy.json"] = json.dumps(fields)
    out = _workdir(tmp_path, "tar") / f"{name}-{version}.tar{'.gz' if gzip else ''}"
    with tarfile.open(out, "w:gz" if gzip else "w") as tar:
        for path, content in members.items():
            data = content.encode() if isinstance(content, str) else content
            mode = 0o755 if path.endswith(".sh") else 0o644
            tar.addfile(_info(path, size=len(data), mode=mode), io.BytesIO(data))
    return out


def build_image_archive(
    tmp_path: Path, repo_tag: str, oci: bool = False, *, arch: str = "amd64", gzip: bool = False
) -> Path:
    """A hand-made `docker save` archive (manifest.json + config + one layer), or an OCI image layout."""
    layer = _tar_bytes({"app/hello.txt": b"hello from the image\n"})
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        }
    ).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    members = _oci_layout(repo_tag, layer, config) if oci else _docker_save(repo_tag, layer, config)
    out = _workdir(tmp_path, "image") / f"image-{config_digest[:12]}.tar{'.gz' if gzip else ''}"
    out.write_bytes(_tar_bytes(members, compress=gzip))
    return out


def _docker_save(repo_tag: str, layer: bytes, config: bytes) -> dict[str, bytes]:
    layer_dir = hashlib.sha256(layer).hexdigest()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": [f"{layer_dir}/layer.tar"]}]
    return {
        f"{layer_dir}/layer.tar": layer,
        config_name: config,
        "manifest.json": json.dumps(manifest).encode(),
        "repositories": b"{}",
    }


def _oci_layout(repo_tag: str, layer: bytes, config: bytes) -> dict[str, bytes]:
    def descriptor(media_type: str, data: bytes) -> dict[str, object]:
        return {
            "mediaType": media_type,
            "digest": f"sha256:{hashlib.sha256(data).hexdigest()}",
            "size": len(data),
        }

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
        }
    ).encode()
    entry = descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
    entry["annotations"] = {
        "io.containerd.image.name": repo_tag,
        "org.opencontainers.image.ref.name": repo_tag.rsplit(":", 1)[-1],
    }
    blobs = {f"blobs/sha256/{hashlib.sha256(data).hexdigest()}": data for data in (layer, config, manifest)}
    return {
        "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
        "index.json": json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode(),
        **blobs,
    }


def build_malicious_tar(
    tmp_path: Path, case: str, *, members: int = 10_001, bomb_bytes: int = 8 * 1024 * 1024
) -> Path:
    """A tar.gz that would be a valid tar package but for one dangerous part (see MALICIOUS_CASES).

    Written record by record rather than with tarfile, which would refuse or repair most of these."""
    records = [_record(_info("install.sh", 0o755, len(INSTALL_SCRIPT)), INSTALL_SCRIPT)]
    if case == "too_many_members":
        records += [_record(_info(f"files/{index}")) for index in range(members)]
    elif case == "expansion_bomb":
        records.append(_record(_info("big.bin", size=bomb_bytes), bytes(bomb_bytes)))
    else:
        records += _MALICIOUS_RECORDS[case]()
    out = _workdir(tmp_path, "evil") / f"{case}.tar.gz"
    with gzip.open(out, "wb") as stream:
        stream.writelines(records)
        stream.write(bytes(2 * _BLOCK))  # the end-of-archive marker
    return out


def _padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % _BLOCK)


def _record(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    """One member as tarfile writes it (pax format), with `data` whatever its header says."""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + _padded(data)


def _pax_record(key: str, value: str) -> bytes:
    """ "<length> key=value\n", the length counting its own digits."""
    body = f" {key}={value}\n".encode()
    length = len(body) + len(str(len(body)))
    length += len(str(length)) - len(str(len(body)))
    return str(length).encode() + body


def _extension(kind: bytes, data: bytes) -> bytes:
    """A pax (x, g) or GNU long-name (L) record: a header of its own, then its data."""
    info = _info("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "././@PaxHeader", size=len(data))
    info.type = kind
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape") + _padded(data)


def _with_pax(info: tarfile.TarInfo, headers: dict[str, str]) -> tarfile.TarInfo:
    info.pax_headers = headers
    return info


def _negative_size_record() -> bytes:
    """A header whose size field holds -1 in GNU's base-256 form, checksum fixed up."""
    header = bytearray(_record(_info("neg")))
    header[124:136] = b"\xff" * 12
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header[:_BLOCK])
    return bytes(header)


def _symlink_bomb() -> list[bytes]:
    """a0 -> a1/../a1 -> ... -> d: each link stays inside, but following one takes twice the work of the
    next, so a checker without a budget never finishes."""
    depth = 60
    records = [
        _record(_info("d", 0o755, kind=tarfile.DIRTYPE)),
        _record(_link(f"a{depth}", "d", tarfile.SYMTYPE)),
    ]
    for index in range(depth - 1, -1, -1):
        records.append(_record(_link(f"a{index}", f"a{index + 1}/../a{index + 1}", tarfile.SYMTYPE)))
    return records


_PAYLOAD = b"owned\n"
_MALICIOUS_RECORDS: dict[str, Callable[[], list[bytes]]] = {
    "parent_path": lambda: [_record(_info("../x", size=len(_PAYLOAD)), _PAYLOAD)],
    "dot_parent_path": lambda: [_record(_info("./../x", size=len(_PAYLOAD)), _PAYLOAD)],
    "inner_parent_path": lambda: [_record(_info("a/../../x", size=len(_PAYLOAD)), _PAYLOAD)],
    "absolute_path": lambda: [_record(_info("/etc/x", size=len(_PAYLOAD)), _PAYLOAD)],
    "backslash_path": lambda: [_record(_info("..\\..\\x", size=len(_PAYLOAD)), _PAYLOAD)],
    "nul_in_name": lambda: [_record(_with_pax(_info("bin/tool"), {"path": "bin/tool\0.txt"}))],
    # Extractors stop at the NUL and see a link to "..".
    "nul_in_link": lambda: [_record(_with_pax(_link("l", "x", tarfile.SYMTYPE), {"linkpath": "..\0/x"}))],
    "long_name": lambda: [_record(_info(("a" * 200 + "/") * 25))],
    "long_component": lambda: [_record(_info("a" * 300))],
    # tarfile keeps the GNU long name, GNU tar the pax path: two tools, two different files.
    "longname_then_pax_path": lambda: [
        _extension(tarfile.GNUTYPE_LONGNAME, b"notes.txt\0")
        + _extension(tarfile.XHDTYPE, _pax_record("path", "install.sh"))
        + _record(_info("short", size=len(_PAYLOAD)), _PAYLOAD)
    ],
    "global_pax_path": lambda: [
        _extension(tarfile.XGLTYPE, _pax_record("path", "install.sh")),
        _record(_info("notes.txt", size=len(_PAYLOAD)), _PAYLOAD),
    ],
    "sparse_file": lambda: [
        _record(
            _with_pax(
                _info("sparse.bin", size=_BLOCK + len(_PAYLOAD)),
                {
                    "GNU.sparse.major": "1",
                    "GNU.sparse.minor": "0",
                    "GNU.sparse.name": "sparse.bin",
                    "GNU.sparse.realsize": str(len(_PAYLOAD)),
                },
            ),
            _padded(b"1\n0\n6\n") + _PAYLOAD,
        )
    ],
    "symlink_to_root": lambda: [_record(_link("root", "/", tarfile.SYMTYPE))],
    "symlink_up": lambda: [_record(_link("a", "../..", tarfile.SYMTYPE))],
    # Each link stays inside when it is made; then a/b -> .. turns l into a link above the root.
    "symlink_chain": lambda: [
        _record(_link("l", "a/b/../..", tarfile.SYMTYPE)),
        _record(_info("a", 0o755, kind=tarfile.DIRTYPE)),
        _record(_link("a/b", "..", tarfile.SYMTYPE)),
        _record(_info("l/x", size=len(_PAYLOAD)), _PAYLOAD),
    ],
    "symlink_redirected_later": lambda: [
        _record(_link("l", "a/b/../..", tarfile.SYMTYPE)),
        _record(_info("a", 0o755, kind=tarfile.DIRTYPE)),
        _record(_link("a/b", "..", tarfile.SYMTYPE)),
    ],
    "symlink_bomb": _symlink_bomb,
    "hardlink_escape": lambda: [_record(_link("passwd", "../../etc/passwd", tarfile.LNKTYPE))],
    # GNU tar links to the symlink itself, whose "../../t" then counts from the root.
    "hardlink_to_symlink": lambda: [
        _record(_info("a/b", 0o755, kind=tarfile.DIRTYPE)),
        _record(_link("a/b/s", "../../t", tarfile.SYMTYPE)),
        _record(_link("h", "a/b/s", tarfile.LNKTYPE)),
    ],
    "dir_then_symlink": lambda: [
        _record(_info("x", 0o755, kind=tarfile.DIRTYPE)),
        _record(_link("x", ".", tarfile.SYMTYPE)),
    ],
    "symlink_over_implicit_dir": lambda: [
        _record(_info("d/f", size=len(_PAYLOAD)), _PAYLOAD),
        _record(_link("d", "e", tarfile.SYMTYPE)),
    ],
    "install_script_twice": lambda: [_record(_info("install.sh", 0o755, len(_PAYLOAD)), _PAYLOAD)],
    "install_script_through_symlink": lambda: [
        _record(_link("x", ".", tarfile.SYMTYPE)),
        _record(_info("x/install.sh", 0o755, len(_PAYLOAD)), _PAYLOAD),
    ],
    "root_replaced": lambda: [_record(_link(".", "elsewhere", tarfile.SYMTYPE))],
    # tarfile reads the next header right after a directory; an extractor that skips the data does not.
    "directory_with_data": lambda: [_record(_info("d", 0o755, 1024, kind=tarfile.DIRTYPE), bytes(1024))],
    "negative_size": lambda: [_negative_size_record()],
    "file_capabilities": lambda: [
        _record(
            _with_pax(_info("bin/tool", 0o755, len(_PAYLOAD)), {"SCHILY.xattr.security.capability": "\x01"}),
            _PAYLOAD,
        )
    ],
    "huge_header_record": lambda: [_record(_with_pax(_info("notes.txt"), {"comment": "x" * (1 << 20)}))],
    # Python before 3.11.10 parses such a record in quadratic time (CVE-2024-6232).
    "long_digit_run": lambda: [_record(_with_pax(_info("notes.txt"), {"comment": "1" * 10_000}))],
    "char_device": lambda: [_record(_info("dev/null", kind=tarfile.CHRTYPE))],
    "fifo": lambda: [_record(_info("dev/null", kind=tarfile.FIFOTYPE))],
    "setuid": lambda: [_record(_info("bin/tool", 0o4755, len(_PAYLOAD)), _PAYLOAD)],
    "setgid": lambda: [_record(_info("bin/tool", 0o2755, len(_PAYLOAD)), _PAYLOAD)],
}


def _info(name: str, mode: int = 0o644, size: int = 0, *, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.size = kind, mode, 1_700_000_000, size
    return info


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = _info(name, 0o777, kind=kind)
    info.linkname = target
    return info


def _tar_bytes(members: dict[str, bytes], *, compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as tar:
        for path, data in members.items():
            tar.addfile(_info(path, size=len(data)), io.BytesIO(data))
    return buffer.getvalue()


def _run_tool(argv: list[str]) -> None:
    """Runs a package build tool; when it fails, the error carries what the tool said."""
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def _write_payload(path: Path, size: int) -> None:
    """`size` random bytes (they do not compress), written a MiB at a time."""
    with path.open("wb") as handle:
        left = size
        while left:
            block = os.urandom(min(left, 1 << 20))
            handle.write(block)
            left -= len(block)
