"""CreateDeployment: the snapshot of targets, skip reasons, batches, dry runs, strategy checks, references."""

import uuid

import grpc
import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from tests.support.scheduler import Fleet
from tests.support.users import Users, grpc_auth


async def test_incompatible_nodes_are_skipped_with_reasons_and_batches_are_numbered(
    client, fleet: Fleet, users: Users
):
    deb = [await fleet.server("deb", "x86_64", hostname=f"a-deb-{i}") for i in range(3)]
    rpm = await fleet.server("rpm", "x86_64", hostname="b-rpm")
    arm = await fleet.server("deb", "aarch64", hostname="c-arm")
    bare = await fleet.server("", "", hostname="d-bare")
    group = await fleet.group(*deb, rpm, arm, bare)
    package = await fleet.package(f"app-{uuid.uuid4().hex[:8]}", "1.0", "deb", "x86_64")
    request = pb.CreateDeploymentRequest(
        package_id=package.id,
        action=pb.ACTION_INSTALL,
        target=inv_pb.Target(group_id=group),
        strategy=pb.Strategy(batch_size=2),
    )
    reply = await client.CreateDeployment(request, metadata=grpc_auth(users.operator), timeout=10)

    reasons = {item.server_id: item.reason for item in reply.incompatible}
    assert reasons == {
        rpm: "deb package, node uses rpm",
        arm: "package is x86_64, node is aarch64",
        bare: "deb package, node has not reported its package family (no agent yet)",
    }
    assert [(item.server_id, item.batch) for item in reply.resolved] == [
        (deb[0], 1),
        (deb[1], 1),
        (deb[2], 2),
    ]
    deployment = reply.deployment
    assert deployment.state == pb.DEPLOYMENT_STATE_PENDING
    assert deployment.batch_count == 2
    assert deployment.software_name == package.software_name and deployment.version == "1.0"
    assert deployment.created_by == users.operator_name
    assert deployment.counts.total == 6 and deployment.counts.skipped == 3

    targets = await client.ListDeploymentTargets(
        pb.ListDeploymentTargetsRequest(deployment_id=deployment.id, state=pb.TARGET_STATE_SKIPPED),
        metadata=grpc_auth(users.viewer),
        timeout=10,
    )
    assert {t.server_id: t.message for t in targets.targets} == reasons
    # The deployment holds its package: the catalog refuses to delete it.
    assert f"scheduler.deployment:{deployment.id}" in (await fleet.get_package(package.id)).referenced_by


async def test_tar_and_noarch_fit_every_family_and_arch(client, fleet: Fleet, users: Users):
    nodes = [await fleet.server("deb", "x86_64"), await fleet.server("rpm", "aarch64")]
    group = await fleet.group(*nodes)
    package = await fleet.package(f"tool-{uuid.uuid4().hex[:8]}", "2.0", "tar", "noarch")
    request = pb.CreateDeploymentRequest(
        package_id=package.id, action=pb.ACTION_INSTALL, target=inv_pb.Target(group_id=group), dry_run=True
    )
    reply = await client.CreateDeployment(request, metadata=grpc_auth(users.operator), timeout=10)
    assert not reply.HasField("deployment")
    assert sorted(item.server_id for item in reply.resolved) == sorted(nodes)
    assert not reply.incompatible
    # A dry run writes nothing and takes no reference.
    assert not (await fleet.get_package(package.id)).referenced_by


async def test_installed_version_is_the_snapshot_of_inventory(client, fleet: Fleet, users: Users):
    name = f"svc-{uuid.uuid4().hex[:8]}"
    node = await fleet.server("deb", "x86_64")
    await fleet.installed(node, name, "0.9")
    package = await fleet.package(name, "1.0")
    request = pb.CreateDeploymentRequest(
        package_id=package.id, action=pb.ACTION_UPDATE, target=inv_pb.Target(server_id=node), dry_run=True
    )
    reply = await client.CreateDeployment(request, metadata=grpc_auth(users.operator), timeout=10)
    assert [(item.server_id, item.installed_version) for item in reply.resolved] == [(node, "0.9")]


@pytest.mark.parametrize(
    ("strategy", "words"),
    [
        (pb.Strategy(batch_size=2, batch_percent=50), "batch_size or batch_percent"),
        (pb.Strategy(batch_percent=101), "batch_percent"),
        (pb.Strategy(batch_size=-1), "batch_size"),
        (pb.Strategy(max_failures=1, max_failure_percent=10), "max_failures or max_failure_percent"),
        (pb.Strategy(max_failure_percent=-5), "max_failure_percent"),
        (pb.Strategy(pause_between_batches_seconds=-1), "pause_between_batches_seconds"),
    ],
)
async def test_strategy_mistakes_are_named(client, fleet: Fleet, users: Users, strategy, words):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"s-{uuid.uuid4().hex[:8]}", "1.0")
    request = pb.CreateDeploymentRequest(
        package_id=package.id,
        action=pb.ACTION_INSTALL,
        target=inv_pb.Target(server_id=node),
        strategy=strategy,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.CreateDeployment(request, metadata=grpc_auth(users.operator), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in caught.value.details()


async def test_missing_package_target_and_action_are_client_errors(client, fleet: Fleet, users: Users):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"m-{uuid.uuid4().hex[:8]}", "1.0")
    cases = [
        (
            pb.CreateDeploymentRequest(
                package_id=str(uuid.uuid4()), action=pb.ACTION_INSTALL, target=inv_pb.Target(server_id=node)
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            pb.CreateDeploymentRequest(package_id=package.id, action=pb.ACTION_INSTALL),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.CreateDeploymentRequest(package_id=package.id, target=inv_pb.Target(server_id=node)),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.CreateDeploymentRequest(
                package_id=package.id,
                action=pb.ACTION_INSTALL,
                target=inv_pb.Target(server_id=str(uuid.uuid4())),
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            pb.CreateDeploymentRequest(package_id=package.id, action=pb.ACTION_ROLLBACK),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    for request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.CreateDeployment(request, metadata=grpc_auth(users.operator), timeout=10)
        assert caught.value.code() == code, (request, caught.value.details())


async def test_viewers_may_not_deploy(client, fleet: Fleet, users: Users):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"v-{uuid.uuid4().hex[:8]}", "1.0")
    request = pb.CreateDeploymentRequest(
        package_id=package.id, action=pb.ACTION_INSTALL, target=inv_pb.Target(server_id=node)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.CreateDeployment(request, metadata=grpc_auth(users.viewer), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
