"""/api/v1/agent: the agent's native packages (`make agent-packages`) and the script behind the one-line
install command. No login: nothing here is secret (the join token stays in the node's environment), and a
node has no Convoy credentials before it enrolls."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.responses import FileResponse

from services.gateway.config import GatewaySettings
from services.gateway.errors import ApiError

__all__ = ["router", "InstallOffer", "install_command", "install_offer", "available_packages"]

router = APIRouter(prefix="/api/v1/agent", tags=["enrollment"])

INSTALL_PATH = "/api/v1/agent/install.sh"
TOKEN_VARIABLE = "CONVOY_JOIN_TOKEN"
_TEMPLATE = Path(__file__).with_name("agent_install.sh")
# The names tools/agent_packages.py gives; nothing else in the directory is ever served.
_NAMES = {
    "deb": re.compile(r"convoy-agent_(?P<version>[0-9][A-Za-z0-9.+~-]*)_(?P<arch>amd64|arm64)\.deb"),
    "rpm": re.compile(r"convoy-agent-(?P<version>[0-9][A-Za-z0-9.+~-]*)\.(?P<arch>x86_64|aarch64)\.rpm"),
}
_MEDIA_TYPES = {"deb": "application/vnd.debian.binary-package", "rpm": "application/x-rpm"}
# sha256 of each package file, by (path, size, modification time): the files are large and seldom change.
_DIGESTS: dict[tuple[str, int, int], str] = {}


class AgentPackage(BaseModel):
    file: str
    family: str
    arch: str
    version: str
    size: int
    sha256: str


@dataclass(frozen=True)
class _Found:
    path: Path
    family: str
    arch: str
    version: str


def _version_key(version: str) -> tuple:
    """Numbers compare as numbers: 0.10.0-1 comes after 0.9.0-2."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.+~-]", version)
    )


def _scan(directory: Path | None) -> list[_Found]:
    """The newest package per (family, arch) among the regular files of the directory."""
    if directory is None or not directory.is_dir():
        return []
    newest: dict[tuple[str, str], _Found] = {}
    for entry in directory.iterdir():
        for family, pattern in _NAMES.items():
            match = pattern.fullmatch(entry.name)
            if match is None or entry.is_symlink() or not entry.is_file():
                continue
            found = _Found(entry, family, match["arch"], match["version"])
            kept = newest.get((family, found.arch))
            if kept is None or _version_key(found.version) > _version_key(kept.version):
                newest[(family, found.arch)] = found
    return sorted(newest.values(), key=lambda found: (found.family, found.arch))


def _sha256(path: Path) -> str:
    status = path.stat()
    key = (str(path), status.st_size, status.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def _describe(found: _Found) -> AgentPackage:
    return AgentPackage(
        file=found.path.name,
        family=found.family,
        arch=found.arch,
        version=found.version,
        size=found.path.stat().st_size,
        sha256=_sha256(found.path),
    )


async def available_packages(settings: GatewaySettings) -> list[AgentPackage]:
    """What the install script may offer, hashed off the event loop (the files are large)."""

    def describe() -> list[AgentPackage]:
        return [_describe(found) for found in _scan(settings.agent_packages_dir)]

    return await asyncio.to_thread(describe)


def gateway_url(request: Request, settings: GatewaySettings) -> str:
    """The gateway as nodes reach it: the configured public URL, else the URL this request came in on."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


def public_key_pin(certificate_file: Path) -> str:
    """curl's --pinnedpubkey form of a certificate's public key: sha256// and the base64 of the SHA-256 of
    its DER SubjectPublicKeyInfo."""
    certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


def curl_tls_options(url: str, settings: GatewaySettings) -> list[str]:
    """How curl on the node trusts this gateway. Reached directly (no public URL set) over HTTPS that the
    gateway serves itself, its certificate may come from a private CA the node does not know: curl then
    pins the certificate's public key, which the operator got from this gateway over the connection they
    trust, and skips the CA check (--insecure; curl still refuses any other key). With a public URL, nodes
    reach the gateway through something else (a TLS proxy, possibly one that encrypts again towards the
    gateway), whose key is not the gateway's: curl checks its certificate against the node's CAs."""
    if settings.public_url or not url.startswith("https://") or not settings.https or not settings.https_cert:
        return []
    return ["--pinnedpubkey", public_key_pin(settings.https_cert), "--insecure"]


def plain_http_refusal(url: str, settings: GatewaySettings) -> str | None:
    """Why a script run as root must not come over plain HTTP here, or None (HTTPS, or dev mode)."""
    if settings.dev_mode or not url.startswith("http://"):
        return None
    return (
        f"nodes would fetch the install script over plain HTTP ({url}), which only dev mode (CONVOY_ENV=dev) "
        "allows: serve HTTPS (CONVOY_GATEWAY_HTTPS_CERT and _KEY) or set CONVOY_GATEWAY_PUBLIC_URL to the "
        "https:// URL nodes reach the gateway at"
    )


def install_command(url: str, tls: list[str], server: str, token: str, fingerprint: str) -> str:
    """The one line to run on a node: fetch the install script from this gateway and run it as root. The
    token goes in the environment, which sudo hands on by name: on a command line (of sh, of sudo) every
    user of the node could read it in ps while the install runs."""
    fetch = " ".join(shlex.quote(part) for part in ["curl", "-fsSL", *tls, url + INSTALL_PATH])
    options = f"--server {shlex.quote(server)} --ca-fingerprint {shlex.quote(fingerprint)}"
    pipeline = f"{fetch} | sudo --preserve-env={TOKEN_VARIABLE} sh -s -- {options}"
    return f"{TOKEN_VARIABLE}={shlex.quote(token)} sh -c {shlex.quote(pipeline)}"


@dataclass(frozen=True)
class InstallOffer:
    """The install command for a join token, or None and why there is none."""

    command: str | None
    unavailable: str | None = None


def install_offer(
    request: Request, settings: GatewaySettings, server: str, token: str, fingerprint: str
) -> InstallOffer:
    """A command only when it can work: this gateway has packages to offer, over HTTPS outside dev mode."""
    url = gateway_url(request, settings)
    refusal = plain_http_refusal(url, settings)
    if refusal is not None:
        return InstallOffer(None, refusal)
    if not _scan(settings.agent_packages_dir):
        return InstallOffer(
            None,
            f"this gateway has no agent packages in {settings.agent_packages_dir} "
            "(CONVOY_GATEWAY_AGENT_PACKAGES_DIR): build them with `make agent-packages AGENT_ARCH=all`",
        )
    tls = curl_tls_options(url, settings)
    return InstallOffer(install_command(url, tls, server, token, fingerprint))


def render_script(url: str, tls: list[str], packages: list[AgentPackage]) -> str:
    cases = "".join(
        f"        {package.family}/{package.arch}) "
        f"echo {shlex.quote(f'{package.file} {package.sha256} {package.version}')} ;;\n"
        for package in packages
    )
    script = _TEMPLATE.read_text()
    script = script.replace("@GATEWAY@", shlex.quote(url)).replace("@CURL_TLS@", shlex.quote(" ".join(tls)))
    return script.replace("@PACKAGES@\n", cases)


def _settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


@router.get(
    "/install.sh",
    summary="The script of the one-line install command: downloads the node's package and enrolls it",
    response_class=Response,
    responses={
        200: {"content": {"text/x-shellscript": {}}},
        409: {"description": "outside dev mode, nodes would fetch it over plain HTTP"},
    },
)
async def install_script(request: Request) -> Response:
    settings = _settings(request)
    url = gateway_url(request, settings)
    refusal = plain_http_refusal(url, settings)
    if refusal is not None:
        raise ApiError(409, "failed_precondition", refusal)
    packages = await available_packages(settings)
    body = render_script(url, curl_tls_options(url, settings), packages)
    return Response(
        body, media_type="text/x-shellscript; charset=utf-8", headers={"Cache-Control": "no-store"}
    )


@router.get("/packages", response_model=list[AgentPackage], summary="The agent packages this gateway serves")
async def list_packages(request: Request) -> list[AgentPackage]:
    return await available_packages(_settings(request))


@router.get("/packages/{file}", summary="Download one agent package", response_class=FileResponse)
async def download_package(file: str, request: Request) -> FileResponse:
    # Only a name that a scan of the directory found: no path from the request ever reaches the disk.
    for found in _scan(_settings(request).agent_packages_dir):
        if found.path.name == file:
            return FileResponse(found.path, media_type=_MEDIA_TYPES[found.family], filename=file)
    raise ApiError(
        404, "not_found", f"no agent package {file!r} on this gateway (make agent-packages builds them)"
    )
