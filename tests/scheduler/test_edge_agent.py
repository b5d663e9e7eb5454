"""The real agent against the real edge: a result in the agent's journal that the scheduler has no
assignment for (its database restored from before it) is acknowledged, so the agent drops it instead of
being turned away after every reconnect."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from convoy_agent import cli, journal
from convoy_agent import config as configuration
from convoy_agent import enroll as agent_enroll
from convoy_agent.proto import agent_pb2
from convoy_agent.sandbox import prepare_deb_root
from cryptography import x509

from devstack.postgres import LocalPostgres
from services.kit.pki import fingerprint
from tests.scheduler.test_edge import Scheduler, eventually, join_token, start_scheduler
from tests.support.inventory import InventoryStack
from tests.support.stack import AuthStack
from tests.support.users import Users

pytestmark = pytest.mark.asyncio(loop_scope="session")

STOP_TIMEOUT = 15.0


@pytest.fixture(scope="module")
async def scheduler(
    postgres: LocalPostgres, auth_stack: AuthStack, inventory: InventoryStack
) -> AsyncIterator[Scheduler]:
    async with start_scheduler(postgres, auth_stack, inventory) as stack:
        yield stack


async def enrolled_agent(scheduler: Scheduler, token: str, tmp_path: Path) -> configuration.Config:
    """`convoy-agent enroll` against the scheduler's enrollment port, on a deb sandbox root (in a thread:
    the scheduler answers on this loop)."""
    root = tmp_path / "root"
    prepare_deb_root(str(root))
    pin = fingerprint(x509.load_pem_x509_certificate((scheduler.pki_dir / "ca.pem").read_bytes()))
    facts = agent_pb2.Facts(
        hostname=f"restored-{uuid.uuid4().hex[:8]}", package_family=agent_pb2.PACKAGE_FAMILY_DEB
    )
    return await asyncio.to_thread(
        agent_enroll.enroll,
        scheduler.enroll_target,
        token,
        pin,
        str(tmp_path / "state"),
        config_file=str(tmp_path / "agent.json"),
        sandbox_root=str(root),
        facts=facts,
    )


async def test_the_agent_drops_a_result_the_scheduler_has_no_assignment_for(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    config = await enrolled_agent(scheduler, await join_token(auth_stack, users), tmp_path)
    forgotten = str(uuid.uuid4())
    book = journal.Journal(config.state_dir)
    book.begin(forgotten, 1, b"", name="restored-app", format=agent_pb2.FORMAT_DEB)
    result = agent_pb2.TaskResult(assignment_id=forgotten, attempt=1, state=agent_pb2.TASK_STATE_SUCCEEDED)
    book.record_result(forgotten, 1, "succeeded", result.SerializeToString())

    agent = cli.build_agent(config)
    thread = threading.Thread(target=agent.run, name="agent", daemon=True)
    thread.start()
    try:
        # The running agent's own journal: a second Journal on its directory would sweep the temporary files
        # of the agent's writes in flight (one instance per state directory).
        async def dropped() -> bool:
            return not agent.runner.journal.unacknowledged()

        await eventually(dropped, "the agent to drop the result once acknowledged")
        assert agent.connected.is_set() and agent.sessions == 1
    finally:
        agent.stop()
        await asyncio.to_thread(thread.join, STOP_TIMEOUT)
    assert not thread.is_alive()
