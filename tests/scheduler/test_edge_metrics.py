"""The scheduler's metrics as a node's life moves them: enrollments by result, open streams by family, the
wait from assignment to the node's stream, targets reaching a final state, and the gauges read from the
database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func
from sqlmodel import col, select

from convoy.agent.v1 import agent_pb2 as agent_pb
from devstack.postgres import LocalPostgres
from services.scheduler.models import DEPLOYMENT_STATES, TARGET_STATES, Deployment, Target
from tests.scheduler.test_edge import (
    Scheduler,
    assign,
    connect,
    enroll,
    enrolled_node,
    eventually,
    join_token,
    start_scheduler,
)
from tests.support.inventory import InventoryStack
from tests.support.stack import AuthStack
from tests.support.users import Users

pytestmark = pytest.mark.asyncio(loop_scope="session")

BAD_TOKEN = "cvj_" + "q" * 43


@pytest.fixture(scope="module")
async def scheduler(
    postgres: LocalPostgres, auth_stack: AuthStack, inventory: InventoryStack
) -> AsyncIterator[Scheduler]:
    async with start_scheduler(postgres, auth_stack, inventory, poll_seconds=0.5, stats_seconds=0.1) as stack:
        yield stack


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_enrollments_are_counted_by_result(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users
) -> None:
    enrolled, refused = (
        sample("convoy_enrollments_total", result="enrolled"),
        sample("convoy_enrollments_total", result="refused"),
    )
    await enroll(scheduler, await join_token(auth_stack, users))
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await enroll(scheduler, BAD_TOKEN)

    assert bad.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert sample("convoy_enrollments_total", result="enrolled") == enrolled + 1
    assert sample("convoy_enrollments_total", result="refused") == refused + 1


async def test_an_open_stream_counts_under_the_family_its_hello_named(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    rpm, deb = (
        sample("convoy_agents_connected", os_family="rpm"),
        sample("convoy_agents_connected", os_family="deb"),
    )

    async with connect(scheduler, node) as stream:
        await stream.hello(node)  # the test nodes report rpm
        await eventually(lambda: _connected("rpm", rpm + 1), "the stream to be counted")
        assert sample("convoy_agents_connected", os_family="deb") == deb
    await eventually(lambda: _connected("rpm", rpm), "the closed stream to be forgotten")


async def _connected(family: str, expected: float) -> bool:
    return sample("convoy_agents_connected", os_family=family) == expected


async def test_the_first_push_of_an_assignment_is_timed_from_its_assignment_once(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    target = await assign(scheduler, node)  # the node is away: the assignment waits
    await _assigned_at(scheduler, target, datetime.now(UTC) - timedelta(minutes=2))
    count, total = (
        sample("convoy_rollout_dispatch_seconds_count"),
        sample("convoy_rollout_dispatch_seconds_sum"),
    )
    within_a_minute = sample("convoy_rollout_dispatch_seconds_bucket", le="60.0")

    for _ in range(2):  # the second stream gets the same assignment again: not a new dispatch
        async with connect(scheduler, node) as stream:
            await stream.hello(node)
            assert (await stream.receive()).assignment.assignment_id == str(target.assignment_id)

    assert sample("convoy_rollout_dispatch_seconds_count") == count + 1
    assert sample("convoy_rollout_dispatch_seconds_sum") >= total + 120
    assert sample("convoy_rollout_dispatch_seconds_bucket", le="60.0") == within_a_minute


async def _assigned_at(scheduler: Scheduler, target: Target, moment: datetime) -> None:
    async with scheduler.db.transaction() as session:
        row = await session.get_one(Target, (target.deployment_id, target.server_id, 1))
        row.assigned_at = moment
        session.add(row)


async def test_a_result_counts_its_final_state_and_the_gauges_follow_the_database(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    failed = sample("convoy_targets_finished_total", state="failed")
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        target = await assign(scheduler, node)
        assignment = (await stream.receive()).assignment
        result = agent_pb.TaskResult(
            assignment_id=assignment.assignment_id, attempt=1, state=agent_pb.TASK_STATE_FAILED, message="no"
        )
        await stream.send(result=result)
        assert (await stream.receive()).ack.assignment_id == str(target.assignment_id)
        await stream.send(result=result)  # a resend after a reconnect: already counted
        assert (await stream.receive()).ack.assignment_id == str(target.assignment_id)

    assert sample("convoy_targets_finished_total", state="failed") == failed + 1
    await eventually(lambda: _gauges_match(scheduler), "the gauges to show the database's counts")


async def _gauges_match(scheduler: Scheduler) -> bool:
    async with scheduler.db.transaction() as session:
        state = col(Deployment.state)
        deployments = dict((await session.exec(select(state, func.count()).group_by(state))).all())
        target_state = col(Target.state)
        current = select(target_state, func.count()).where(col(Target.current)).group_by(target_state)
        targets = dict((await session.exec(current)).all())
    shown_deployments = {s: sample("convoy_deployments", state=s) for s in DEPLOYMENT_STATES}
    shown_targets = {s: sample("convoy_deployment_targets", state=s) for s in TARGET_STATES}
    return shown_deployments == {s: deployments.get(s, 0) for s in DEPLOYMENT_STATES} and shown_targets == {
        s: targets.get(s, 0) for s in TARGET_STATES
    }
