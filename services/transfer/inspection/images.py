"""Container image archives: `docker save` (manifest.json) and OCI layouts (oci-layout + index.json)."""

from __future__ import annotations

from typing import Any

from services.transfer.errors import Rejected
from services.transfer.inspection.archives import ScannedArchive, load_json, normal_name, shown
from services.transfer.inspection.model import CONTAINER, Inspection, normal_arch

__all__ = ["is_image", "inspect_image", "split_reference"]

DOCKER_MANIFEST, OCI_LAYOUT, OCI_INDEX = "manifest.json", "oci-layout", "index.json"
_MAX_JSON_BYTES = 4 * 1024 * 1024
_REF_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


def is_image(archive: ScannedArchive) -> bool:
    members = archive.members
    return DOCKER_MANIFEST in members or (OCI_LAYOUT in members and OCI_INDEX in members)


def split_reference(reference: str) -> tuple[str, str]:
    """("registry:5000/team/app", "1.2") from "registry:5000/team/app:1.2"; the tag is after the last ':'
    that follows the last '/', "latest" when there is none."""
    reference = reference.split("@", 1)[0]
    colon = reference.rfind(":")
    if colon > reference.rfind("/"):
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"


def inspect_image(archive: ScannedArchive) -> Inspection:
    reference, config = _docker(archive) if DOCKER_MANIFEST in archive.members else _oci(archive)
    if not reference:
        raise Rejected("bad_image", "the image archive does not name its image (no repo tag or image name)")
    image_name, image_tag = split_reference(reference)
    arch = config.get("architecture") if isinstance(config, dict) else None
    return Inspection(
        format=CONTAINER,
        name=image_name.rsplit("/", 1)[-1],
        version=image_tag,
        arch=normal_arch(arch) if isinstance(arch, str) else "",
        image_name=image_name,
        image_tag=image_tag,
    )


def _docker(archive: ScannedArchive) -> tuple[str, Any]:
    """(first repo tag, image config) from a `docker save` manifest.json."""
    manifest = _read_json(archive, DOCKER_MANIFEST)
    if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict):
        raise Rejected("bad_image", f"{DOCKER_MANIFEST} must be a non-empty list of images")
    image = manifest[0]
    config, layers, tags = image.get("Config"), image.get("Layers"), image.get("RepoTags") or []
    if not isinstance(config, str) or not _strings(layers) or not _strings(tags):
        raise Rejected("bad_image", f"{DOCKER_MANIFEST} needs Config, Layers and RepoTags (lists of strings)")
    for path in [config, *layers]:
        if normal_name(path) not in archive.members:
            raise Rejected("bad_image", f"{DOCKER_MANIFEST} names {shown(path)}, which is not in the archive")
    return (tags[0] if tags else ""), _try_json(archive, normal_name(config))


def _oci(archive: ScannedArchive) -> tuple[str, Any]:
    """(image name from the index annotations, image config) from an OCI image layout."""
    layout = _read_json(archive, OCI_LAYOUT)
    if not isinstance(layout, dict) or not isinstance(layout.get("imageLayoutVersion"), str):
        raise Rejected("bad_image", f"{OCI_LAYOUT} must name the imageLayoutVersion")
    index = _read_json(archive, OCI_INDEX)
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not manifests or not isinstance(manifests[0], dict):
        raise Rejected("bad_image", f"{OCI_INDEX} must list at least one manifest")
    annotations = manifests[0].get("annotations") or {}
    names = [annotations.get(key) for key in _REF_ANNOTATIONS] if isinstance(annotations, dict) else []
    # A bare ref name ("1.2") is only a tag and does not name the image.
    reference = next((n for n in names if isinstance(n, str) and ("/" in n or ":" in n)), "")
    return reference, _oci_config(archive, manifests[0])


def _oci_config(archive: ScannedArchive, descriptor: dict[str, Any]) -> Any:
    """The image config a descriptor leads to (through a nested index), or None when unreadable."""
    document = _try_json(archive, _blob_path(descriptor.get("digest")))
    if isinstance(document, dict) and isinstance(document.get("manifests"), list) and document["manifests"]:
        first = document["manifests"][0]
        platform = first.get("platform") if isinstance(first, dict) else None
        if isinstance(platform, dict):
            return platform
        document = _try_json(archive, _blob_path(first.get("digest") if isinstance(first, dict) else None))
    config = document.get("config") if isinstance(document, dict) else None
    return _try_json(archive, _blob_path(config.get("digest"))) if isinstance(config, dict) else None


def _blob_path(digest: object) -> str:
    algorithm, _, encoded = digest.partition(":") if isinstance(digest, str) else ("", "", "")
    if not algorithm.isalnum() or not encoded.isalnum():
        return ""
    return f"blobs/{algorithm}/{encoded}"


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _read_json(archive: ScannedArchive, name: str) -> Any:
    return archive.read_json(name, _MAX_JSON_BYTES, reason="bad_image", where=" in the image archive")


def _try_json(archive: ScannedArchive, name: str) -> Any:
    """Best effort: None when the member is missing, too big or not JSON."""
    info = archive.regular(name) if name else None
    data = archive.read(info, _MAX_JSON_BYTES) if info is not None else None
    try:
        return load_json(data) if data is not None else None
    except ValueError:
        return None
