"""The agent stays runnable on the distributions' own Pythons (3.6 and later) and apart from the services."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "agent"


def test_the_agent_needs_nothing_newer_than_python_3_6() -> None:
    vermin = Path(sys.executable).with_name("vermin")  # the console script: the package has no __main__
    command = [str(vermin), "--no-tips", "-t=3.6-", "--violations", "--eval-annotations", str(AGENT)]

    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_agent_imports_only_its_own_dependencies() -> None:
    allowed = {"grpc", "google", "cryptography", "prometheus_client", "convoy_agent"}
    stdlib = set(sys.stdlib_module_names)
    found: dict[str, str] = {}
    for path in (AGENT / "convoy_agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in allowed and top not in stdlib:
                    found[name] = str(path.relative_to(AGENT))

    assert found == {}


def test_requirements_name_only_the_four_dependencies() -> None:
    lines = [line.split(";")[0].strip() for line in (AGENT / "requirements.txt").read_text().splitlines()]
    names = {
        line.split(">")[0].split("<")[0].split("=")[0] for line in lines if line and not line.startswith("#")
    }

    assert names == {"grpcio", "protobuf", "cryptography", "prometheus-client"}


def test_the_agent_messages_and_the_services_messages_share_one_process() -> None:
    """Tests (and tools) import both copies: identical descriptors register once, in either order."""
    code = (
        "import sys; sys.path[:0] = [{agent!r}, {gen!r}]\n"
        "from convoy_agent.proto import agent_pb2 as a, transfer_pb2\n"
        "from convoy.agent.v1 import agent_pb2 as g\n"
        "assert g.Assignment.FromString(a.Assignment(assignment_id='x').SerializeToString()).assignment_id == 'x'\n"
    ).format(agent=str(AGENT), gen=str(AGENT.parent / "gen"))
    reverse = code.replace("from convoy_agent.proto import agent_pb2 as a, transfer_pb2\n", "").replace(
        "assert", "from convoy_agent.proto import agent_pb2 as a, transfer_pb2\nassert"
    )

    for source in (code, reverse):
        done = subprocess.run(
            [sys.executable, "-c", source], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
