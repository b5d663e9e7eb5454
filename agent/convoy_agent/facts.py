"""What the agent tells the scheduler about its node: os-release, the package family, addresses, arch.

The package family is probed, not inferred from the distribution's ID: Kylin and UOS ship apt-based
desktop and rpm-based server editions under one ID. When both dpkg and rpm are present (a Debian host with
the rpm tool installed, a converted system) the populated package database decides, and only a tie falls
back to the os-release names."""

import array
import fcntl
import os
import platform
import re
import socket
import struct
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Tuple

from convoy_agent import __version__

DEB = "deb"
RPM = "rpm"
OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
# Distribution IDs whose own tools are these; compared lowercase, against ID and ID_LIKE.
DEB_IDS = ("debian", "ubuntu", "deepin", "linuxmint", "raspbian", "kali", "elementary", "pop")
RPM_IDS = (
    "rhel",
    "fedora",
    "centos",
    "rocky",
    "almalinux",
    "ol",
    "openeuler",
    "anolis",
    "opencloudos",
    "tencentos",
    "alinux",
    "euleros",
    "suse",
    "opensuse",
    "sles",
    "amzn",
)
# Words of NAME/PRETTY_NAME that say which edition of a two-family distribution this is.
DEB_WORDS = ("desktop",)
RPM_WORDS = ("server", "advanced server")

Which = Callable[[str], Optional[str]]
Counter = Callable[[], Tuple[int, int]]


class OsRelease:
    def __init__(self, fields: Dict[str, str]) -> None:
        self.fields = fields
        self.id = fields.get("ID", "").lower()
        self.id_like = fields.get("ID_LIKE", "").lower().split()
        self.version_id = fields.get("VERSION_ID", "")
        self.pretty_name = fields.get("PRETTY_NAME", "") or fields.get("NAME", "") or "Linux"
        self.name = fields.get("NAME", "")

    def __repr__(self) -> str:
        return f"OsRelease({self.id!r}, {self.version_id!r})"


def parse_os_release(text: str) -> Dict[str, str]:
    """KEY=value lines with shell-style quoting and escapes (no expansion), comments and blanks ignored."""
    fields = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = re.sub(r'\\([\\$"`])', r"\1", value)
        fields[key] = value
    return fields


def read_os_release(path: Optional[str] = None) -> OsRelease:
    """/etc/os-release, else /usr/lib/os-release (as os-release(5) says); empty fields when neither exists."""
    for candidate in (path,) if path else OS_RELEASE_PATHS:
        try:
            with open(candidate, encoding="utf-8", errors="replace") as handle:
                return OsRelease(parse_os_release(handle.read()))
        except OSError:
            continue
    return OsRelease({})


def package_family(
    release: OsRelease,
    which: Optional[Which] = None,
    counts: Optional[Counter] = None,
    sandbox_root: Optional[str] = None,
) -> str:
    """ "deb", "rpm" or "" (neither tool): the tools present decide; with both, a sandbox root's own database
    (it has one kind only), else the database that holds more packages (`counts()` -> (deb, rpm)); with a
    tie, the os-release names."""
    if which is None:
        from convoy_agent.executors.base import default_which

        which = default_which
    has_deb = which("dpkg") is not None and which("dpkg-query") is not None
    has_rpm = which("rpm") is not None
    if has_deb != has_rpm:
        return DEB if has_deb else RPM
    if not has_deb:
        return ""
    if sandbox_root:
        deb_db, rpm_db = databases(sandbox_root)
        if deb_db != rpm_db:
            return DEB if deb_db else RPM
    deb_count, rpm_count = (counts or (lambda: count_packages(sandbox_root or "/")))()
    if deb_count != rpm_count:
        return DEB if deb_count > rpm_count else RPM
    hint = family_hint(release)
    if hint:
        return hint
    # Both tools, neither database, no hint: apt-get/dnf/yum being there is the last clue.
    if which("apt-get") is not None:
        return DEB
    if which("dnf") is not None or which("yum") is not None:
        return RPM
    return DEB


def family_hint(release: OsRelease) -> str:
    """What os-release alone suggests; "" when it says nothing (UOS and Kylin without edition words)."""
    names = [release.id] + release.id_like
    for name in names:
        if name in DEB_IDS:
            return DEB
        if name in RPM_IDS:
            return RPM
    words = (release.name + " " + release.pretty_name + " " + release.fields.get("VERSION", "")).lower()
    if any(word in words for word in RPM_WORDS):
        return RPM
    if any(word in words for word in DEB_WORDS):
        return DEB
    return ""


def databases(root: str) -> Tuple[bool, bool]:
    """Whether `root` holds a dpkg database, and whether an rpm one."""
    deb = os.path.isfile(os.path.join(root, "var/lib/dpkg/status"))
    rpm_dirs = ("var/lib/rpm", "usr/lib/sysimage/rpm")
    rpm_files = ("rpmdb.sqlite", "Packages", "Packages.db")
    rpm = any(os.path.exists(os.path.join(root, d, f)) for d in rpm_dirs for f in rpm_files)
    return deb, rpm


def count_packages(root: str = "/") -> Tuple[int, int]:
    """(packages dpkg knows as installed, packages rpm knows) on this node."""
    return _count_dpkg(root), _count_rpm(root)


def _count_dpkg(root: str) -> int:
    count = 0
    try:
        with open(os.path.join(root, "var/lib/dpkg/status"), encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("Status:") and line.rstrip().endswith(" installed"):
                    count += 1
    except OSError:
        return 0
    return count


def _count_rpm(root: str) -> int:
    argv = ["rpm", "-qa", "--qf", "x\n"]
    if root not in ("", "/"):
        argv[1:1] = ["--root", root]
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return result.stdout.count(b"x\n") if result.returncode == 0 else 0


def ip_addresses() -> List[str]:
    """Non-loopback IPv4 addresses of the up interfaces, then global IPv6 ones; the default route's first."""
    primary = default_route_address()
    addresses = [primary] if primary else []
    for address in _ipv4_addresses() + _ipv6_addresses():
        if address not in addresses:
            addresses.append(address)
    return addresses


def default_route_address() -> Optional[str]:
    """The source address the kernel picks for the default route (a UDP connect sends nothing)."""
    interface = _default_route_interface()
    if interface:
        address = _interface_ipv4(interface)
        if address:
            return address
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere, only looked up
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _default_route_interface() -> Optional[str]:
    """The interface of the lowest-metric default route in /proc/net/route."""
    best = None  # type: Optional[Tuple[int, str]]
    try:
        with open("/proc/net/route") as handle:
            next(handle, None)
            for line in handle:
                fields = line.split()
                if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
                    flags, metric = int(fields[3], 16), int(fields[6])
                    if flags & 0x1 and (best is None or metric < best[0]):  # RTF_UP
                        best = (metric, fields[0])
    except (OSError, ValueError):
        return None
    return best[1] if best else None


_SIOCGIFADDR = 0x8915


def _interface_ipv4(interface: str) -> Optional[str]:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        request = struct.pack("256s", interface.encode()[:15])
        answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
        return socket.inet_ntoa(answer[20:24])
    except OSError:
        return None
    finally:
        probe.close()


def _ipv4_addresses() -> List[str]:
    addresses = []
    try:
        interfaces = [name for _, name in socket.if_nameindex()]
    except OSError:
        return []
    for interface in interfaces:
        if interface == "lo":
            continue
        address = _interface_ipv4(interface)
        if address and not address.startswith("127."):
            addresses.append(address)
    return addresses


def _ipv6_addresses() -> List[str]:
    """Global-scope addresses from /proc/net/if_inet6 (scope 00)."""
    addresses = []
    try:
        with open("/proc/net/if_inet6") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 6 and fields[3] == "00" and fields[5] != "lo":
                    raw = array.array("B", bytes.fromhex(fields[0])).tobytes()
                    addresses.append(socket.inet_ntop(socket.AF_INET6, raw))
    except (OSError, ValueError):
        return []
    return addresses


def collect(
    os_release_path: Optional[str] = None,
    which: Optional[Which] = None,
    counts: Optional[Counter] = None,
    sandbox_root: Optional[str] = None,
) -> Dict[str, object]:
    """Every fact, keyed like the Facts message's fields (package_family as "deb", "rpm" or ""). With a
    sandbox root the family is the one of the root's package database: a demo agent on an rpm root of a
    Debian host is an rpm node."""
    release = read_os_release(os_release_path)
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "ip_addresses": ip_addresses(),
        "os_id": release.id,
        "id_like": list(release.id_like),
        "version_id": release.version_id,
        "pretty_name": release.pretty_name,
        "package_family": package_family(release, which, counts, sandbox_root),
        "arch": uname.machine,
        "kernel": uname.release,
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "agent_version": __version__,
    }
