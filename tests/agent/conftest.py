"""The agent is its own package under agent/ (it ships without the services): make it importable."""

import sys
from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parents[2] / "agent"
if str(AGENT_DIR) not in sys.path:
    sys.path.insert(0, str(AGENT_DIR))

# The fake edge and transfer, an enrolled agent configuration and its deb sandbox root, for the modules
# that drive `convoy-agent run` in process (a module may define its own instead).
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from tests.agent.test_run_fakes import Servers, agent_pb2, configuration, enroll_node, serving  # noqa: E402

S = agent_pb2


@pytest.fixture
def servers() -> Iterator[Servers]:
    with serving() as started:
        yield started


@pytest.fixture
def root(tmp_path: Path) -> Path:
    from convoy_agent.sandbox import prepare_deb_root

    directory = tmp_path / "root"
    prepare_deb_root(str(directory))
    return directory


@pytest.fixture
def config(servers: Servers, root: Path, tmp_path: Path) -> configuration.Config:
    facts = S.Facts(hostname="node-1", package_family=S.PACKAGE_FAMILY_DEB)
    enrolled = enroll_node(servers, tmp_path, facts, root=root)
    enrolled.heartbeat_seconds = 0.3
    enrolled.backoff_initial_seconds = 0.05
    enrolled.backoff_max_seconds = 0.4
    enrolled.connect_timeout_seconds = 5.0
    return enrolled
