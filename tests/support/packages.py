"""Builds real packages for tests: debs with dpkg-deb, rpms with rpmbuild, tarballs and image archives."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import textwrap
import uuid
from pathlib import Path

__all__ = [
    "build_deb",
    "build_rpm",
    "build_tarball",
    "build_image_archive",
    "build_malicious_tar",
    "MALICIOUS_CASES",
    "INSTALL_SCRIPT",
]

INSTALL_SCRIPT = b"#!/bin/sh\nset -e\necho installing\n"
# Each dangerous case, and the words transfer's refusal must contain.
MALICIOUS_CASES = {
    "parent_path": "member '../x' escapes the archive root",
    "absolute_path": "member '/etc/x' has an absolute path",
    "symlink_to_root": "symlink 'root' points to the absolute path '/'",
    "symlink_up": "symlink 'a' points outside the archive ('../..')",
    "symlink_chain": "member 'd/up/../x' escapes the archive root",
    "hardlink_escape": "hardlink 'passwd' points outside the archive ('../../etc/passwd')",
    "char_device": "member 'dev/null' is a character device",
    "fifo": "member 'dev/null' is a FIFO",
    "setuid": "member 'bin/tool' has the setuid bit set",
    "setgid": "member 'bin/tool' has the setgid bit set",
    "too_many_members": "the archive has more than",
    "expansion_bomb": "member 'big.bin' brings the archive's contents to",
}


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
) -> Path:
    """A real .deb from `dpkg-deb --build` (control fields as given, an optional random payload file)."""
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
    share = root / "usr" / "share" / name
    share.mkdir(parents=True)
    (share / "README").write_text(f"{name} {version}\n")
    if payload_bytes:
        (share / "payload.bin").write_bytes(_random_bytes(payload_bytes))
    out = work / f"{name}_{version}_{arch}.deb"
    command = ["dpkg-deb", f"-Z{compression}", "--root-owner-group", "--build", str(root), str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return out


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
) -> Path:
    """A real binary rpm from `rpmbuild -bb` with one file and no automatic dependencies."""
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
        echo {name} > %{{buildroot}}/opt/{name}/README

        %files
        /opt/{name}/README
        """
    spec.write_text("\n".join(header) + "\n" + textwrap.dedent(body))
    top = work / "rpmbuild"
    command = ["rpmbuild", "--define", f"_topdir {top}", "--define", "_build_id_links none"]
    if arch != "noarch":
        command += ["--target", arch]  # the package has no binaries, so any architecture can be built here
    command += ["-bb", str(spec)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
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
    """A tar.gz that would be a valid tar package but for one dangerous member (see MALICIOUS_CASES)."""
    entries: list[tuple[tarfile.TarInfo, bytes]] = [
        (_info("install.sh", 0o755, len(INSTALL_SCRIPT)), INSTALL_SCRIPT)
    ]
    entries += _malicious_entries(case, members, bomb_bytes)
    out = _workdir(tmp_path, "evil") / f"{case}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out


def _malicious_entries(case: str, members: int, bomb_bytes: int) -> list[tuple[tarfile.TarInfo, bytes]]:
    payload = b"owned\n"
    if case == "parent_path":
        return [(_info("../x", size=len(payload)), payload)]
    if case == "absolute_path":
        return [(_info("/etc/x", size=len(payload)), payload)]
    if case == "symlink_to_root":
        return [(_link("root", "/", tarfile.SYMTYPE), b"")]
    if case == "symlink_up":
        return [(_link("a", "../..", tarfile.SYMTYPE), b"")]
    if case == "symlink_chain":
        # Each link stays inside on its own; together "d/up/../x" lands above the root.
        return [
            (_info("d", 0o755, kind=tarfile.DIRTYPE), b""),
            (_link("d/up", "..", tarfile.SYMTYPE), b""),
            (_info("d/up/../x", size=len(payload)), payload),
        ]
    if case == "hardlink_escape":
        return [(_link("passwd", "../../etc/passwd", tarfile.LNKTYPE), b"")]
    if case in ("char_device", "fifo"):
        return [(_info("dev/null", kind=tarfile.CHRTYPE if case == "char_device" else tarfile.FIFOTYPE), b"")]
    if case in ("setuid", "setgid"):
        return [(_info("bin/tool", 0o4755 if case == "setuid" else 0o2755, len(payload)), payload)]
    if case == "too_many_members":
        return [(_info(f"files/{index}", size=0), b"") for index in range(members)]
    if case == "expansion_bomb":
        return [(_info("big.bin", size=bomb_bytes), bytes(bomb_bytes))]
    raise ValueError(f"unknown malicious case {case!r}")


def _info(name: str, mode: int = 0o644, size: int = 0, *, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 1_700_000_000
    info.size = size if kind == tarfile.REGTYPE else 0
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


def _random_bytes(size: int) -> bytes:
    return hashlib.shake_256(uuid.uuid4().bytes).digest(size)
