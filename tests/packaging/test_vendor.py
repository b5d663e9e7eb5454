"""packaging/agent/convoy_vendor.py: which wheels fit an interpreter, their extraction without pip, and the
launcher on every CPython this machine has; all of it Python 3.6 code."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from convoy_agent.sandbox import prepare_deb_root

from tests.packaging.roots import PYTHON, Built, dpkg

pytestmark = pytest.mark.timeout(600)

PACKAGING = Path(__file__).resolve().parents[2] / "packaging" / "agent"
_spec = importlib.util.spec_from_file_location("convoy_vendor", PACKAGING / "convoy_vendor.py")
assert _spec is not None and _spec.loader is not None
vendor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vendor)


def node(python: str = "3.6", machine: str = "x86_64", glibc: tuple[int, int] = (2, 17)) -> dict:
    minor = python.split(".")[1]
    abi = f"cp3{minor}m" if int(minor) < 8 else f"cp3{minor}"
    return {
        "implementation": "cpython",
        "python": python,
        "abi": abi,
        "machine": machine,
        "glibc": list(glibc),
    }


@pytest.mark.parametrize(
    ("wheel", "about", "fits"),
    [
        ("grpcio-1.48.2-cp36-cp36m-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", node("3.6"), True),
        ("grpcio-1.48.2-cp36-cp36m-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", node("3.7"), False),
        (
            "grpcio-1.48.2-cp36-cp36m-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            node("3.6", "aarch64"),
            False,
        ),
        (
            "grpcio-1.48.2-cp36-cp36m-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            node("3.6", glibc=(2, 12)),
            False,
        ),
        ("cffi-1.15.1-cp36-cp36m-manylinux_2_5_x86_64.manylinux1_x86_64.whl", node("3.6"), True),
        (
            "cryptography-40.0.2-cp36-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            node("3.12", "aarch64"),
            True,
        ),
        ("cryptography-45.0.7-cp37-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", node("3.6"), False),
        ("cryptography-45.0.7-cp37-abi3-manylinux_2_28_x86_64.whl", node("3.11"), False),
        ("cryptography-45.0.7-cp37-abi3-manylinux_2_28_x86_64.whl", node("3.11", glibc=(2, 28)), True),
        ("protobuf-3.19.6-py2.py3-none-any.whl", node("3.6", "aarch64"), True),
        ("pycparser-3.12-py3-none-any.whl", node("3.14"), True),
        ("grpcio-1.85.3-cp311-cp311-linux_x86_64.whl", node("3.11"), False),
        ("grpcio-1.85.3-cp311-cp311-musllinux_1_2_x86_64.whl", node("3.11"), False),
        ("not-a-wheel.zip", node("3.11"), False),
    ],
)
def test_a_wheel_fits_by_its_tags(wheel: str, about: dict, fits: bool) -> None:
    assert vendor.wheel_fits(wheel, about) is fits


def test_only_cpython_takes_wheels() -> None:
    assert not vendor.wheel_fits(
        "protobuf-3.19.6-py2.py3-none-any.whl", dict(node("3.9"), implementation="pypy")
    )


def fake_library(tmp_path: Path, built: Built, python: str) -> Path:
    """A library directory like the package's, with the real wheels pip picked for `python` here."""
    lib = tmp_path / "lib"
    (lib / "wheels").mkdir(parents=True)
    (lib / "convoy_agent").mkdir()
    (lib / "convoy_agent" / "__init__.py").write_text('__version__ = "0"\n')
    source = built.cache / vendor.interpreter()["machine"] / ("cp" + python.replace(".", ""))
    names = sorted(path.name for path in source.glob("*.whl"))
    for name in names:
        shutil.copyfile(source / name, lib / "wheels" / name)
    manifest = {"machine": vendor.interpreter()["machine"], "pythons": {python: names}}
    (lib / "wheels" / "manifest.json").write_text(json.dumps(manifest))
    return lib


def test_install_extracts_once_for_the_interpreter_and_remove_takes_everything_back(
    built: Built, tmp_path: Path
) -> None:
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    lib = fake_library(tmp_path, built, python)
    assert vendor.install(str(lib), compile_code=False) is True
    deps = lib / "deps"
    assert (deps / "grpc" / "__init__.py").is_file() and (deps / "google" / "protobuf").is_dir()
    assert json.loads((deps / vendor.MARKER).read_text())["python"] == python
    assert vendor.install(str(lib), compile_code=False) is False
    # Another manifest (an upgrade with other wheels) is extracted anew.
    manifest = json.loads((lib / "wheels" / "manifest.json").read_text())
    (lib / "wheels" / "manifest.json").write_text(json.dumps(dict(manifest, version="2")))
    assert vendor.install(str(lib), compile_code=False) is True
    (lib / "convoy_agent" / "__pycache__").mkdir()
    vendor.remove(str(lib))
    assert sorted(path.name for path in lib.iterdir()) == ["convoy_agent", "wheels"]
    assert not (lib / "convoy_agent" / "__pycache__").exists()


def test_what_does_not_fit_is_refused_with_the_reason(built: Built, tmp_path: Path) -> None:
    here = vendor.interpreter()
    lib = fake_library(tmp_path, built, "3.6")
    manifest = vendor.load_manifest(str(lib))
    with pytest.raises(
        vendor.VendorError, match=r"no dependencies for Python 3\.\d+ \(it has them for 3\.6\)"
    ):
        vendor.wanted(str(lib), manifest, dict(here, python="3.99"))
    with pytest.raises(vendor.VendorError, match="this package is for .*install the package for"):
        vendor.wanted(str(lib), manifest, dict(here, machine="riscv64"))
    with pytest.raises(vendor.VendorError, match="do not fit Python 3.6"):
        vendor.wanted(str(lib), manifest, dict(node("3.6", here["machine"]), glibc=[2, 5]))


def test_extraction_keeps_to_importable_files_and_refuses_paths_that_leave_the_target(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/__init__.py", "x = 1\n")
        archive.writestr("demo-1.0.data/purelib/extra.py", "y = 2\n")
        archive.writestr("demo-1.0.data/scripts/tool", "#!/bin/sh\n")
        archive.writestr("demo-1.0.dist-info/RECORD", "")
    vendor.extract(str(wheel), str(tmp_path / "out"))
    found = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert found == ["demo-1.0.dist-info/RECORD", "demo/__init__.py", "extra.py"]

    for name in ("../escape.py", "/etc/escape.py", "demo/../../escape.py", "demo\\..\\escape.py"):
        evil = tmp_path / "evil-1.0-py3-none-any.whl"
        with zipfile.ZipFile(evil, "w") as archive:
            archive.writestr(name, "owned\n")
        with pytest.raises(vendor.VendorError, match="unsafe name"):
            vendor.extract(str(evil), str(tmp_path / "evil"))
    assert not (tmp_path / "escape.py").exists()


def other_cpythons() -> list[str]:
    """The CPython 3.6 and later interpreters of pyenv on this machine, if it has any."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    done = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
    versions = Path(done.stdout.strip()) / "versions"
    found: dict[str, str] = {}
    for binary in sorted(versions.glob("3.*/bin/python3")) if done.returncode == 0 else []:
        minor = ".".join(binary.parents[1].name.split(".")[:2])
        if minor.split(".")[1].isdigit() and int(minor.split(".")[1]) >= 6:
            found.setdefault(minor, str(binary))
    return list(found.values())


def test_the_packaged_launcher_runs_on_every_cpython_here(built: Built, tmp_path: Path) -> None:
    """Each interpreter finds the dependencies extracted for another one and extracts its own (what a
    node sees after its python3 was upgraded), then runs the agent."""
    root = tmp_path / "root"
    prepare_deb_root(str(root))
    installed = dpkg(root, "--install", str(built.deb1))
    assert installed.returncode == 0, installed.stderr
    for python in [str(PYTHON), *other_cpythons()]:
        done = subprocess.run(
            [python, "-IBS", str(root / "usr/bin/convoy-agent"), "--version"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert (done.returncode, done.stdout.strip()) == (0, f"convoy-agent {built.first.version}"), (
            done.stderr
        )
        assert "Warning" not in done.stderr, done.stderr
        checked = subprocess.run(
            [python, str(root / "usr/lib/convoy-agent/convoy_vendor.py"), "check"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0 and "are in place" in checked.stdout, checked.stdout + checked.stderr


def test_the_package_s_python_needs_nothing_newer_than_3_6() -> None:
    vermin = Path(sys.executable).with_name("vermin")
    files = [str(PACKAGING / "convoy_vendor.py"), str(PACKAGING / "convoy-agent")]
    command = [str(vermin), "--no-tips", "-t=3.6-", "--violations", "--eval-annotations", *files]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
