"""The image builds the agent's packages and the gateway serves them: the Dockerfile's agent-packages stage
builds both machines into a directory that the final stage copies where CONVOY_GATEWAY_AGENT_PACKAGES_DIR
points, and the files that stage copies reach the build context (.dockerignore) and are all the build needs:
the stage is replayed here from exactly those files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

from tests.packaging.roots import Built
from tools import agent_packages

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[2]
STAGE = "agent-packages"


@dataclass
class Stage:
    name: str
    workdir: str = "/"
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination), no --from
    copied_from: list[tuple[str, str, str]] = field(default_factory=list)  # (stage, source, destination)
    runs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments left out."""
    joined = re.sub(
        r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[Stage]:
    found: list[Stage] = []
    for word, rest in instructions((REPO / "Dockerfile").read_text()):
        if word == "FROM":
            parts = rest.split()
            found.append(Stage(parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""))
        elif word == "WORKDIR":
            found[-1].workdir = rest
        elif word == "RUN":
            found[-1].runs.append(rest)
        elif word == "ENV":
            found[-1].env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
        elif word == "COPY" and rest.startswith("--from="):
            source_stage, source, destination = rest.removeprefix("--from=").split()
            found[-1].copied_from.append((source_stage, source, destination))
        elif word == "COPY":
            *sources, destination = rest.split()
            found[-1].copies.append((sources, destination))
    return found


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as Docker reads it: the last pattern that matches a path or a parent of it decides,
    `!` lets in again, `**` spans directories, `*` and `?` stay within one."""
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        rules.append((negate, re.compile(regex + "$")))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:count]) for count in range(1, len(parts) + 1)]
    admitted = True
    for negate, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            admitted = negate
    return admitted


def replay_copies(stage: Stage, into: Path) -> list[str]:
    """The stage's COPY instructions from the build context into a directory (the stage's WORKDIR)."""
    rules = ignore_rules()
    copied = []
    for sources, destination in stage.copies:
        for source in sources:
            base = REPO / source
            files = [base] if base.is_file() else sorted(path for path in base.rglob("*") if path.is_file())
            admitted = [path for path in files if in_context(path.relative_to(REPO).as_posix(), rules)]
            assert admitted, f"COPY {source}: nothing of it is in the build context (.dockerignore)"
            for path in admitted:
                inside = path.name if base.is_file() else path.relative_to(base).as_posix()
                target = into / destination / inside
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                copied.append(path.relative_to(REPO).as_posix())
    return copied


def test_the_final_image_serves_the_packages_the_stage_builds() -> None:
    built = {stage.name: stage for stage in stages()}
    assert STAGE in built
    (run,) = [run for run in built[STAGE].runs if "tools/agent_packages.py" in run]
    out = re.search(r"--out (\S+)", run)
    assert out is not None and "--arch all" in run
    final = stages()[-1]
    (copy,) = [(source, target) for stage, source, target in final.copied_from if stage == STAGE]
    assert copy[0] == out.group(1)
    served = str(PurePosixPath(final.workdir) / copy[1])
    assert final.env["CONVOY_GATEWAY_AGENT_PACKAGES_DIR"] == served


def test_the_stage_builds_from_what_it_copies(built: Built, tmp_path: Path) -> None:
    stage = {stage.name: stage for stage in stages()}[STAGE]
    source = tmp_path / "src"
    copied = replay_copies(stage, source)
    assert "packaging/agent/wheels.lock" in copied and "agent/convoy_agent/__init__.py" in copied
    assert not [path for path in copied if "__pycache__" in path or "/." in path]
    cache = tmp_path / "cache"
    shutil.copytree(built.cache, cache)
    arch = agent_packages.host_arch()
    done = subprocess.run(
        [sys.executable, "tools/agent_packages.py", "--arch", arch, "--format", "deb", "--python", "3.11"]
        + ["--out", str(tmp_path / "out"), "--cache", str(cache)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (deb,) = (tmp_path / "out").glob("*.deb")
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "./usr/lib/convoy-agent/convoy_agent/cli.py" in listing
    assert "./usr/share/doc/convoy-agent/agent-packages.md" in listing
