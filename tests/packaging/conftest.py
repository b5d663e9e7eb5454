"""The agent's packages for the host's machine, built once per session (release 1, and release 2 of the same
agent to upgrade to), from wheels downloaded once into the session's cache (seeded from the repository's)."""

from __future__ import annotations

import pytest

from tests.packaging.roots import Built, build_both, seed_cache
from tools import agent_packages


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    cache = tmp_path_factory.mktemp("agent-wheels")
    seed_cache(cache)
    arch, version = agent_packages.host_arch(), agent_packages.agent_version()
    first = agent_packages.Target(arch, version, "1")
    second = agent_packages.Target(arch, version, "2")
    deb1, rpm1 = build_both(first, tmp_path_factory.mktemp("release-1"), cache)
    deb2, rpm2 = build_both(second, tmp_path_factory.mktemp("release-2"), cache)
    return Built(first, second, deb1, rpm1, deb2, rpm2, cache)
