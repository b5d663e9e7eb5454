"""What the agent's packages hold: the agent, its wheels for every supported CPython on the package's machine,
the launcher, the enroll helper, the unit and the default configuration (package data, never a conffile),
with the right metadata; and what makes them stale."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.packaging.roots import Built, build_both
from tools import agent_packages
from tools.agent_wheels import PYTHONS

pytestmark = pytest.mark.timeout(900)

LIB = "/usr/lib/convoy-agent"
COMMON = [
    "/usr/bin/convoy-agent",
    "/usr/sbin/convoy-agent-enroll",
    "/usr/share/convoy-agent/agent.json",
    f"{LIB}/convoy_vendor.py",
    f"{LIB}/convoy_agent/__init__.py",
    f"{LIB}/convoy_agent/cli.py",
    f"{LIB}/convoy_agent/proto/agent_pb2.py",
    f"{LIB}/wheels/manifest.json",
    "/usr/share/doc/convoy-agent/README.md",
]


def _out(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True).stdout


def deb_listing(package: Path) -> dict[str, str]:
    """Path on the node → its permissions, as dpkg-deb lists them."""
    listing = {}
    for line in _out(["dpkg-deb", "--contents", str(package)]).splitlines():
        words = line.split()
        listing[words[5].removeprefix(".").rstrip("/") or "/"] = words[0]
    return listing


def deb_field(package: Path, name: str) -> str:
    return _out(["dpkg-deb", "--field", str(package), name]).strip()


def rpm_files(package: Path) -> dict[str, tuple[str, str]]:
    """Path → (rpm's file flags such as "cn" for %config(noreplace), permissions)."""
    query = "[%{FILENAMES}\t%{FILEFLAGS:fflags}\t%{FILEMODES:perms}\n]"
    rows = (line.split("\t") for line in _out(["rpm", "-qp", "--qf", query, str(package)]).splitlines())
    return {path: (flags, mode) for path, flags, mode in rows}


def manifest_of(deb: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """The wheel manifest of a .deb and the wheel files it carries."""
    tree = tmp_path / deb.stem
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True, timeout=120)
    wheels = tree / LIB.lstrip("/") / "wheels"
    return json.loads((wheels / "manifest.json").read_text()), sorted(p.name for p in wheels.glob("*.whl"))


def test_the_deb_holds_the_agent_its_wheels_and_the_service_files(built: Built, tmp_path: Path) -> None:
    target = built.first
    assert built.deb1.name == f"convoy-agent_{target.version}-1_{target.arch}.deb"
    fields = {name: deb_field(built.deb1, name) for name in ("Package", "Version", "Architecture", "Depends")}
    assert fields == {
        "Package": "convoy-agent",
        "Version": f"{target.version}-1",
        "Architecture": target.arch,
        "Depends": "python3 (>= 3.6)",
    }
    listing = deb_listing(built.deb1)
    for path in [*COMMON, "/lib/systemd/system/convoy-agent.service"]:
        assert path in listing, path
    assert listing["/usr/bin/convoy-agent"] == listing["/usr/sbin/convoy-agent-enroll"] == "-rwxr-xr-x"
    assert not [path for path in listing if "__pycache__" in path or path.endswith(".pyc")]
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "--control", str(built.deb1), str(control)], check=True, timeout=60)
    # Enrollment rewrites /etc/convoy-agent/agent.json: as a conffile it would be a changed one on every
    # node, and the first release with other defaults would stop dpkg at its question.
    assert not (control / "conffiles").exists()
    assert "/etc/convoy-agent/agent.json" not in listing and "/etc/convoy-agent" in listing
    assert {"postinst", "prerm", "postrm"} <= {path.name for path in control.iterdir()}

    manifest, wheels = manifest_of(built.deb1, tmp_path)
    assert (manifest["machine"], manifest["version"]) == (target.machine, f"{target.version}-1")
    assert sorted(manifest["pythons"]) == sorted(PYTHONS)
    listed = {name for names in manifest["pythons"].values() for name in names}
    assert listed == set(wheels)
    for python, names in manifest["pythons"].items():
        tag = "cp" + python.replace(".", "")
        grpcio = [name for name in names if name.startswith("grpcio-")]
        assert len(grpcio) == 1 and f"-{tag}-" in grpcio[0], (python, grpcio)
        assert any(name.startswith("protobuf-") for name in names)
        assert any(name.startswith("cryptography-") for name in names)
    # The newest releases for Python 3.6 (CentOS 7/8): nothing newer publishes wheels for it.
    assert any(name.startswith("grpcio-1.48.") for name in manifest["pythons"]["3.6"])


def test_the_rpm_holds_the_same_and_no_configuration_of_its_own(built: Built) -> None:
    target = built.first
    assert built.rpm1.name == f"convoy-agent-{target.version}-1.{target.machine}.rpm"
    header = _out(["rpm", "-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", str(built.rpm1)])
    assert header.split() == ["convoy-agent", target.version, "1", target.machine]
    requires = _out(["rpm", "-qp", "--requires", str(built.rpm1)]).split("\n")
    assert "/usr/bin/python3" in requires
    assert not [line for line in requires if line and not line.startswith(("/", "rpmlib("))]
    files = rpm_files(built.rpm1)
    for path in [*COMMON, "/usr/lib/systemd/system/convoy-agent.service"]:
        assert path in files, path
    assert "/etc/convoy-agent/agent.json" not in files and "/etc/convoy-agent" in files
    assert not [path for path, (flags, _) in files.items() if "c" in flags]
    assert files["/var/lib/convoy-agent"][1] == "drwx------"
    assert files["/usr/bin/convoy-agent"][1] == "-rwxr-xr-x"
    assert not [path for path in files if "__pycache__" in path or path.endswith(".pyc")]
    scripts = _out(["rpm", "-qp", "--scripts", str(built.rpm1)])
    for scriptlet in ("postinstall", "preuninstall", "postuninstall"):
        assert f"{scriptlet} scriptlet" in scripts
    assert "convoy_vendor.py install" in scripts
    # Readable by the rpm of CentOS 7: gzip payload, SHA-256 file digests.
    formats = _out(["rpm", "-qp", "--qf", "%{PAYLOADCOMPRESSOR} %{FILEDIGESTALGO}", str(built.rpm1)])
    assert formats.split() == ["gzip", "8"]


def test_the_other_machine_is_built_here_too(built: Built, tmp_path: Path) -> None:
    """Only the wheels differ: those of the other machine, each tagged for it (or for any machine)."""
    other = "arm64" if built.first.arch == "amd64" else "amd64"
    target = agent_packages.Target(other, built.first.version, "1")
    deb, rpm = build_both(target, tmp_path / "out", built.cache, ("3.11", "3.14"))
    assert deb_field(deb, "Architecture") == other
    arch = _out(["rpm", "-qp", "--qf", "%{ARCH}", str(rpm)])
    assert arch == target.machine
    manifest, wheels = manifest_of(deb, tmp_path)
    assert manifest["machine"] == target.machine and sorted(manifest["pythons"]) == ["3.11", "3.14"]
    for name in wheels:
        platforms = name.removesuffix(".whl").split("-")[-1].split(".")
        assert platforms == ["any"] or all(p.endswith("_" + target.machine) for p in platforms), name


def test_packages_are_rebuilt_only_when_missing_or_older_than_their_sources(built: Built) -> None:
    out = built.deb1.parent
    assert not agent_packages.stale(out, [built.deb1.name, built.rpm1.name])
    assert agent_packages.stale(out, [built.deb1.name, "convoy-agent-0.0.1-1.x86_64.rpm"])


def test_caches_that_tools_write_beside_the_sources_are_no_input(tmp_path: Path) -> None:
    """A linter run writes .ruff_cache into packaging/agent at any time: were it an input, the packages
    would always be stale and `make up` would rebuild them every time."""
    for name in ("agent.json", "deb/postinst", ".ruff_cache/0.1/x", "__pycache__/a.pyc", "deb/.cache/y"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    assert sorted(path.relative_to(tmp_path).as_posix() for path in agent_packages._sources(tmp_path)) == [
        "agent.json",
        "deb/postinst",
    ]
    relative = [path.relative_to(agent_packages.REPO).parts for path in agent_packages._inputs()]
    assert not [parts for parts in relative if any(part.startswith(".") for part in parts)]
    assert ("packaging", "agent", "wheels.lock") in relative


def test_a_bad_release_or_architecture_is_refused_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert agent_packages.main(["--release", "1; rm", "--out", "/nonexistent"]) == 1
    assert "--release must be a number" in capsys.readouterr().err
    assert agent_packages.main(["--arch", "sparc"]) == 1
    assert "unknown architecture 'sparc'" in capsys.readouterr().err
    # `make up` builds with --best-effort: a failure is a warning, and the stack comes up all the same.
    assert agent_packages.main(["--arch", "sparc", "--best-effort"]) == 0
    assert "WARNING: not built" in capsys.readouterr().out
