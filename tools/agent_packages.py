"""Builds the agent's native packages (`make agent-packages`): convoy-agent_<version>-<release>_<arch>.deb
with dpkg-deb and convoy-agent-<version>-<release>.<arch>.rpm with rpmbuild, into dist/agent.

Each holds the agent's code, the wheels of agent/requirements.txt for every supported CPython on its
machine (extracted on the node for the python3 it has: packaging/agent/convoy_vendor.py), the launcher,
the enroll helper, the systemd unit and the default configuration (packaging/agent/); the wheels are the
ones packaging/agent/wheels.lock names, checked against their SHA-256. The host's machine is built by
default; `--arch all` builds amd64/x86_64 and arm64/aarch64. docs/agent-packages.md tells more.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.agent_wheels import DEFAULT_LOCK, PYTHONS, WheelError, collect  # noqa: E402

AGENT = REPO / "agent"
PACKAGING = REPO / "packaging" / "agent"
DEFAULT_OUT = REPO / "dist" / "agent"
DEFAULT_CACHE = REPO / "var" / "agent-wheels"
# Debian's name of each machine → the kernel's (and rpm's).
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
ARCH_NAMES = {"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64"}
TOOL_TIMEOUT = 600.0
LIB = "usr/lib/convoy-agent"
# The shipped defaults: package data, not a conffile. Enrollment writes /etc/convoy-agent/agent.json (the
# enroll helper starts it from these), so a conffile would be a changed conffile on every enrolled node,
# and dpkg would stop at its prompt on the first upgrade that changes the defaults.
DEFAULTS = "usr/share/convoy-agent/agent.json"
CONFIG_DIR = "etc/convoy-agent"
DEB_UNIT_DIR = "lib/systemd/system"
RPM_UNIT_DIR = "usr/lib/systemd/system"


class BuildError(Exception):
    """A package could not be built; the message says why."""


@dataclass(frozen=True)
class Target:
    """One machine's pair of packages."""

    arch: str  # Debian's name: amd64, arm64
    version: str  # the agent's version
    release: str

    @property
    def machine(self) -> str:
        return MACHINES[self.arch]

    @property
    def full_version(self) -> str:
        return f"{self.version}-{self.release}"

    @property
    def deb_name(self) -> str:
        return f"convoy-agent_{self.full_version}_{self.arch}.deb"

    @property
    def rpm_name(self) -> str:
        return f"convoy-agent-{self.full_version}.{self.machine}.rpm"


def agent_version() -> str:
    text = (AGENT / "convoy_agent" / "__init__.py").read_text()
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if found is None:
        raise BuildError("agent/convoy_agent/__init__.py names no __version__")
    return found.group(1)


def host_arch() -> str:
    machine = platform.machine()
    if machine not in ARCH_NAMES:
        raise BuildError(f"no agent package for this machine ({machine}): choose one with --arch")
    return ARCH_NAMES[machine]


def arches(choice: str) -> list[str]:
    if choice == "host":
        return [host_arch()]
    if choice == "all":
        return sorted(MACHINES)
    if choice not in ARCH_NAMES:
        raise BuildError(f"unknown architecture {choice!r}: amd64, arm64, x86_64, aarch64, host or all")
    return [ARCH_NAMES[choice]]


# --- the files -----------------------------------------------------------------------------------------


def _sources(directory: Path, pattern: str = "*") -> list[Path]:
    """The files below the directory, without caches and other dot-directories (.ruff_cache, .mypy_cache)
    that tools write there at any time."""
    found = []
    for path in directory.rglob(pattern):
        parts = path.relative_to(directory).parts
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in parts[:-1]):
            found.append(path)
    return found


def _inputs() -> list[Path]:
    """Everything a package is made of, for --if-stale."""
    found = [AGENT / "requirements.txt", AGENT / "README.md", REPO / "docs" / "agent-packages.md"]
    found += _sources(AGENT / "convoy_agent", "*.py") + _sources(PACKAGING)
    found += [Path(__file__), REPO / "tools" / "agent_wheels.py"]
    return [path for path in found if path.exists()]


def stale(out: Path, names: Iterable[str]) -> bool:
    """Whether a package is missing or older than any of its inputs."""
    outputs = [out / name for name in names]
    if not all(path.is_file() for path in outputs):
        return True
    oldest = min(path.stat().st_mtime for path in outputs)
    return any(path.stat().st_mtime > oldest for path in _inputs())


def _put(source: Path, target: Path, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(mode)


def stage(
    root: Path, target: Target, wheels: dict[str, Path], per_python: dict[str, list[str]], unit_dir: str
) -> None:
    """The installed tree of the package under `root` (paths as on the node)."""
    lib = root / LIB
    for source in _sources(AGENT / "convoy_agent", "*.py"):
        _put(source, lib / source.relative_to(AGENT))
    _put(PACKAGING / "convoy_vendor.py", lib / "convoy_vendor.py")
    for name, source in wheels.items():
        _put(source, lib / "wheels" / name)
    manifest = {
        "package": "convoy-agent",
        "version": target.full_version,
        "machine": target.machine,
        "requirements": _requirements(),
        "pythons": per_python,
    }
    (lib / "wheels" / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    _put(PACKAGING / "convoy-agent", root / "usr/bin/convoy-agent", 0o755)
    _put(PACKAGING / "convoy-agent-enroll", root / "usr/sbin/convoy-agent-enroll", 0o755)
    _put(PACKAGING / "convoy-agent.service", root / unit_dir / "convoy-agent.service")
    _put(PACKAGING / "agent.json", root / DEFAULTS)
    (root / CONFIG_DIR).mkdir(parents=True, exist_ok=True)
    docs = root / "usr/share/doc/convoy-agent"
    _put(AGENT / "README.md", docs / "README.md")
    if (REPO / "docs" / "agent-packages.md").exists():
        _put(REPO / "docs" / "agent-packages.md", docs / "agent-packages.md")
    for directory in [root, *[path for path in root.rglob("*") if path.is_dir()]]:
        directory.chmod(0o755)


def _requirements() -> list[str]:
    lines = (AGENT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TOOL_TIMEOUT
        )
    except FileNotFoundError:
        raise BuildError(
            f"{argv[0]} is not installed: it builds the {what} (tools/bootstrap.sh installs it)"
        ) from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"{argv[0]} did not finish the {what} within {TOOL_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        said = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise BuildError(f"{argv[0]} failed to build the {what}:\n{said}")


# --- deb -----------------------------------------------------------------------------------------------


def build_deb(
    target: Target, wheels: dict[str, Path], per_python: dict[str, list[str]], work: Path, out: Path
) -> Path:
    root = work / "deb"
    stage(root, target, wheels, per_python, DEB_UNIT_DIR)
    files = sorted(path for path in root.rglob("*") if path.is_file())
    control = root / "DEBIAN"
    control.mkdir()
    size_kib = sum((path.stat().st_size + 1023) // 1024 for path in files)
    fields = {"@VERSION@": target.full_version, "@ARCH@": target.arch, "@INSTALLED_SIZE@": str(size_kib)}
    text = (PACKAGING / "deb" / "control").read_text()
    for placeholder, value in fields.items():
        text = text.replace(placeholder, value)
    (control / "control").write_text(text)
    (control / "md5sums").write_text("".join(f"{_md5(path)}  {path.relative_to(root)}\n" for path in files))
    for script in ("postinst", "prerm", "postrm"):
        _put(PACKAGING / "deb" / script, control / script, 0o755)
    control.chmod(0o755)
    built = out / target.deb_name
    # gzip: every dpkg reads it, and the wheels inside are compressed already.
    _run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(built)], target.deb_name)
    return built


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- rpm -----------------------------------------------------------------------------------------------


def build_rpm(
    target: Target, wheels: dict[str, Path], per_python: dict[str, list[str]], work: Path, out: Path
) -> Path:
    root = work / "rpm-stage"
    stage(root, target, wheels, per_python, RPM_UNIT_DIR)
    (root / "var/lib/convoy-agent").mkdir(parents=True)
    fields = {"@VERSION@": target.version, "@RELEASE@": target.release, "@STAGE@": str(root)}
    spec = (PACKAGING / "rpm" / "convoy-agent.spec").read_text()
    for placeholder, value in fields.items():
        spec = spec.replace(placeholder, value)
    spec_file = work / "convoy-agent.spec"
    spec_file.write_text(spec)
    top = work / "rpmbuild"
    command = [
        "rpmbuild",
        "--define",
        f"_topdir {top}",
        "--define",
        "_build_id_links none",
        # The files are the machine's own (its wheels); nothing is compiled, so any host builds any machine.
        "--target",
        target.machine,
        "-bb",
        str(spec_file),
    ]
    _run(command, target.rpm_name)
    (built,) = (top / "RPMS").rglob("*.rpm")
    if built.name != target.rpm_name:
        raise BuildError(f"rpmbuild made {built.name}, not {target.rpm_name}")
    result = out / target.rpm_name
    shutil.move(str(built), result)
    return result


# --- the command ---------------------------------------------------------------------------------------


def build(
    target: Target,
    formats: list[str],
    out: Path,
    cache: Path,
    pythons: Iterable[str],
    refresh: bool,
    pip_options: Iterable[str] = (),
    lock: Path = DEFAULT_LOCK,
) -> list[Path]:
    """Both packages of one machine, replacing older ones of that machine in `out`."""
    requirements = AGENT / "requirements.txt"
    per_python, wheels = collect(
        target.machine, requirements, cache, pythons, lock=lock, refresh=refresh, pip_options=pip_options
    )
    out.mkdir(parents=True, exist_ok=True)
    built = []
    with tempfile.TemporaryDirectory(prefix="convoy-agent-build-") as scratch:
        for kind in formats:
            work = Path(scratch) / kind
            work.mkdir()
            builder = build_deb if kind == "deb" else build_rpm
            built.append(builder(target, wheels, per_python, work, out))
    _drop_older(out, target, formats)
    return built


def _drop_older(out: Path, target: Target, formats: list[str]) -> None:
    """Other versions of the same machine's packages: the gateway offers one version per machine."""
    patterns = {
        "deb": (f"convoy-agent_*_{target.arch}.deb", target.deb_name),
        "rpm": (f"convoy-agent-*.{target.machine}.rpm", target.rpm_name),
    }
    for kind in formats:
        pattern, keep = patterns[kind]
        for path in out.glob(pattern):
            if path.name != keep:
                path.unlink()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tools/agent_packages.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--arch", default="host", help="amd64 (x86_64), arm64 (aarch64), host (default) or all"
    )
    parser.add_argument(
        "--release", default="1", help="the package release of this agent version (default 1)"
    )
    parser.add_argument("--format", choices=["deb", "rpm", "both"], default="both")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the packages go (dist/agent)")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="downloaded wheels (var/agent-wheels)"
    )
    parser.add_argument("--python", action="append", dest="pythons", help="only this CPython (repeatable)")
    parser.add_argument("--refresh", action="store_true", help="download the wheels again")
    parser.add_argument("--if-stale", action="store_true", help="build only when a package is missing or old")
    parser.add_argument("--best-effort", action="store_true", help="a failure is a warning (make up)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except (BuildError, WheelError, OSError) as error:
        if args.best_effort:
            print(f"agent packages: WARNING: not built, so the install command cannot work yet: {error}")
            print("agent packages: run `make agent-packages` once this is fixed")
            return 0
        print(f"agent packages: {error}", file=sys.stderr)
        return 1


def _main(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[0-9][A-Za-z0-9.+~]*", args.release):
        raise BuildError(f"--release must be a number such as 1 or 2, not {args.release!r}")
    formats = ["deb", "rpm"] if args.format == "both" else [args.format]
    pythons = args.pythons or list(PYTHONS)
    version = agent_version()
    for arch in arches(args.arch):
        target = Target(arch, version, args.release)
        names = [target.deb_name if kind == "deb" else target.rpm_name for kind in formats]
        if args.if_stale and not stale(args.out, names):
            continue
        # Best effort (make up): an unreachable index fails after one short try, not minutes of retries.
        quick = ["--retries", "1", "--timeout", "15"] if args.best_effort else []
        for path in build(target, formats, args.out, args.cache, pythons, args.refresh, quick):
            print(f"agent packages: built {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
