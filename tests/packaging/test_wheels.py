"""packaging/agent/wheels.lock: the wheels a package ships are exactly the locked files, downloaded by pip with
their hashes required and checked again in the cache, so that neither a new upload to the index nor a
changed file in the cache reaches a node as root. pip runs for real against a local index of test wheels."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from tools import agent_wheels
from tools.agent_wheels import MACHINES, PYTHONS, WheelError, collect, load_lock, update_lock

pytestmark = pytest.mark.timeout(300)

MACHINE, PYTHON = "x86_64", "3.11"


def wheel(index: Path, name: str, version: str, payload: str = "") -> Path:
    """A minimal real wheel (pure Python, any platform) in the index directory."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}  # {payload}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    index.mkdir(parents=True, exist_ok=True)
    path = index / f"{name}-{version}-py3-none-any.whl"
    path.write_bytes(data.getvalue())
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def index(tmp_path: Path) -> Path:
    """A local package index with two releases of `demo`."""
    directory = tmp_path / "index"
    wheel(directory, "demo", "1.0")
    wheel(directory, "demo", "1.1")
    return directory


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("demo>=1.0\n")
    return path


def offline(index: Path) -> list[str]:
    return ["--no-index", "--find-links", str(index)]


def lock_of(tmp_path: Path, requirements: Path, files: dict[str, str]) -> Path:
    lock = tmp_path / "wheels.lock"
    agent_wheels.write_lock(lock, requirements, {MACHINE: {PYTHON: files}})
    return lock


def test_a_build_takes_exactly_the_locked_files(tmp_path: Path, index: Path, requirements: Path) -> None:
    """demo 1.1 is the newest in the index, but the lock names 1.0: 1.0 is what the package gets."""
    locked = {"demo-1.0-py3-none-any.whl": sha256(index / "demo-1.0-py3-none-any.whl")}
    lock = lock_of(tmp_path, requirements, locked)
    cache = tmp_path / "cache"
    per_python, files = collect(
        MACHINE, requirements, cache, [PYTHON], lock=lock, pip_options=offline(index), log=lambda _: None
    )
    assert per_python == {PYTHON: ["demo-1.0-py3-none-any.whl"]}
    assert sha256(files["demo-1.0-py3-none-any.whl"]) == locked["demo-1.0-py3-none-any.whl"]
    # Again, from the cache: the index is not asked (there is none now).
    again, _ = collect(MACHINE, requirements, cache, [PYTHON], lock=lock, pip_options=offline(tmp_path / "x"))
    assert again == per_python


def test_a_changed_file_in_the_cache_is_refused(tmp_path: Path, index: Path, requirements: Path) -> None:
    name = "demo-1.0-py3-none-any.whl"
    lock = lock_of(tmp_path, requirements, {name: sha256(index / name)})
    cache = tmp_path / "cache"
    collect(MACHINE, requirements, cache, [PYTHON], lock=lock, pip_options=offline(index), log=lambda _: None)
    cached = cache / MACHINE / "cp311" / name
    cached.write_bytes(cached.read_bytes() + b"\0")
    with pytest.raises(WheelError, match=rf"{re.escape(str(cached))} has SHA-256 \w+, but the lock says"):
        collect(MACHINE, requirements, cache, [PYTHON], lock=lock, pip_options=offline(index))
    # --refresh downloads the locked file again.
    _, files = collect(
        MACHINE,
        requirements,
        cache,
        [PYTHON],
        lock=lock,
        refresh=True,
        pip_options=offline(index),
        log=lambda _: None,
    )
    assert sha256(files[name]) == sha256(index / name)


def test_an_index_file_other_than_the_locked_one_is_refused(
    tmp_path: Path, index: Path, requirements: Path
) -> None:
    """The same name and version with other bytes (a replaced upload, a mirror that lies): pip refuses it
    for its hash, and the cache gets nothing."""
    name = "demo-1.0-py3-none-any.whl"
    lock = lock_of(tmp_path, requirements, {name: sha256(index / name)})
    wheel(index, "demo", "1.0", payload="something else")
    cache = tmp_path / "cache"
    with pytest.raises(WheelError, match="pip download for CPython 3.11 on x86_64 failed"):
        collect(
            MACHINE, requirements, cache, [PYTHON], lock=lock, pip_options=offline(index), log=lambda _: None
        )
    assert not (cache / MACHINE / "cp311").exists()


def test_a_lock_older_than_the_requirements_or_without_a_python_is_refused(
    tmp_path: Path, requirements: Path
) -> None:
    lock = lock_of(tmp_path, requirements, {"demo-1.0-py3-none-any.whl": "0" * 64})
    with pytest.raises(WheelError, match="no wheels for CPython 3.6 on x86_64: run tools/agent_wheels.py"):
        collect(MACHINE, requirements, tmp_path / "cache", ["3.6"], lock=lock)
    requirements.write_text("demo>=1.1\n")
    with pytest.raises(WheelError, match="changed since wheels.lock was written"):
        load_lock(lock, requirements)


def test_update_lock_writes_what_pip_resolves(tmp_path: Path, index: Path, requirements: Path) -> None:
    lock = tmp_path / "wheels.lock"
    update_lock(
        lock,
        requirements,
        tmp_path / "cache",
        machines=[MACHINE],
        pythons=[PYTHON],
        pip_options=offline(index),
    )
    newest = index / "demo-1.1-py3-none-any.whl"
    assert load_lock(lock, requirements) == {MACHINE: {PYTHON: {newest.name: sha256(newest)}}}


def test_the_repository_lock_covers_every_machine_and_python() -> None:
    """Each machine's files are tagged for it (or for any machine), and each Python has the agent's four."""
    locked = load_lock(agent_wheels.DEFAULT_LOCK, agent_wheels.DEFAULT_REQUIREMENTS)
    assert sorted(locked) == sorted(MACHINES)
    for machine, pythons in locked.items():
        assert sorted(pythons) == sorted(PYTHONS)
        for python, files in pythons.items():
            projects = {name.split("-")[0] for name in files}
            assert {"grpcio", "protobuf", "cryptography", "prometheus_client"} <= projects, (machine, python)
            for name, digest in files.items():
                assert re.fullmatch(r"[0-9a-f]{64}", digest)
                platforms = name.removesuffix(".whl").split("-")[-1].split(".")
                assert platforms == ["any"] or all(p.endswith("_" + machine) for p in platforms), name
    assert json.loads(agent_wheels.DEFAULT_LOCK.read_text())["about"].startswith("Generated by")
