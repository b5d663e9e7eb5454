"""ACTION_ROLLBACK: every node goes back to the version it had before the deployment, or loses the software."""

import uuid

import grpc
import pytest

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from tests.scheduler.rollout_helpers import assignment, create, deployment, deployment_state, finish
from tests.support.scheduler import Fleet, SchedulerStack, eventually
from tests.support.users import Users, grpc_auth


async def test_rollback_returns_each_node_to_its_previous_version(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    name = f"rb-{uuid.uuid4().hex[:8]}"
    old, new = await fleet.package(name, "0.9"), await fleet.package(name, "1.0")
    had_it, fresh, untouched = [await fleet.server("deb", "x86_64", hostname=f"{c}-{name}") for c in "abc"]
    await fleet.installed(had_it, name, "0.9")
    group = await fleet.group(had_it, fresh, untouched)
    auth = grpc_auth(users.operator)

    update = await create(client, users.operator, new.id, inv_pb.Target(group_id=group), max_failures=3)
    rollback_request = pb.CreateDeploymentRequest(action=pb.ACTION_ROLLBACK, rollback_deployment_id=update.id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.CreateDeployment(rollback_request, metadata=auth, timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # still running
    for node in (had_it, fresh):
        await finish(scheduler, node, await assignment(scheduler, node, update.id))
    stopping = await assignment(scheduler, untouched, update.id)
    await client.CancelDeployment(pb.CancelDeploymentRequest(id=update.id), metadata=auth, timeout=10)
    cancelled = await deployment_state(client, users.operator, update.id, pb.DEPLOYMENT_STATE_CANCELLED)
    assert not cancelled.HasField("finished_at")  # a node is still working on it
    # Rolling back now would skip that node, whatever it ends up doing: refused until it is done.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.CreateDeployment(rollback_request, metadata=auth, timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "1 node(s) still working" in (caught.value.details() or "")
    await finish(scheduler, untouched, stopping, agent_pb.TASK_STATE_CANCELLED)

    async def finished() -> bool:
        return (await deployment(client, users.operator, update.id)).HasField("finished_at")

    await eventually(finished, what="the cancelled deployment to finish")

    reply = await client.CreateDeployment(rollback_request, metadata=auth, timeout=10)
    rollback = reply.deployment
    assert rollback.action == pb.ACTION_ROLLBACK and rollback.rollback_deployment_id == update.id
    assert rollback.package_id == old.id and rollback.version == "0.9"
    assert {item.server_id: item.installed_version for item in reply.resolved} == {
        had_it: "1.0",
        fresh: "1.0",
    }
    assert [item.server_id for item in reply.incompatible] == [untouched]

    back = await assignment(scheduler, had_it, rollback.id)
    assert (back.action, back.version, back.sha256) == ("rollback", "0.9", old.artifact_sha256)
    removal = await assignment(scheduler, fresh, rollback.id)
    assert (removal.action, removal.name, removal.sha256) == ("uninstall", name, "")
    await finish(scheduler, had_it, back)
    await finish(scheduler, fresh, removal)
    await deployment_state(client, users.operator, rollback.id, pb.DEPLOYMENT_STATE_SUCCEEDED)
    assert f"scheduler.deployment:{rollback.id}" in (await fleet.get_package(old.id)).referenced_by
