"""Every field of every SchedulerService request set to each wrong value: a client error, never INTERNAL."""

import uuid

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from tests.support.mistakes import server_faults
from tests.support.scheduler import Fleet
from tests.support.users import Users, grpc_auth


async def test_wrong_requests_are_client_errors(client, fleet: Fleet, users: Users):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"mis-{uuid.uuid4().hex[:8]}", "1.0")
    create = pb.CreateDeploymentRequest(
        package_id=package.id,
        action=pb.ACTION_INSTALL,
        target=inv_pb.Target(server_id=node),
        strategy=pb.Strategy(batch_size=1),
        dry_run=True,
    )
    auth = grpc_auth(users.operator)
    deployment = (
        await client.CreateDeployment(
            pb.CreateDeploymentRequest(
                package_id=package.id, action=pb.ACTION_INSTALL, target=inv_pb.Target(server_id=node)
            ),
            metadata=auth,
        )
    ).deployment
    calls = [
        (client.CreateDeployment, lambda: pb.CreateDeploymentRequest.FromString(create.SerializeToString())),
        (client.GetDeployment, lambda: pb.GetDeploymentRequest(id=deployment.id)),
        (
            client.ListDeployments,
            lambda: pb.ListDeploymentsRequest(page_size=5, software_name=package.software_name),
        ),
        (
            client.ListDeploymentTargets,
            lambda: pb.ListDeploymentTargetsRequest(deployment_id=deployment.id, page_size=5, query="node"),
        ),
        (client.GetTargetLog, lambda: pb.GetTargetLogRequest(deployment_id=deployment.id, server_id=node)),
        (client.PauseDeployment, lambda: pb.PauseDeploymentRequest(id=deployment.id, reason="r")),
        (client.ResumeDeployment, lambda: pb.ResumeDeploymentRequest(id=deployment.id)),
        (client.RetryFailed, lambda: pb.RetryFailedRequest(id=deployment.id, server_ids=[node])),
        (client.ApproveDeployment, lambda: pb.ApproveDeploymentRequest(id=deployment.id, server_ids=[node])),
    ]
    faults = []
    for method, make in calls:
        faults += await server_faults(lambda request, m=method: m(request, metadata=auth, timeout=10), make)
    assert faults == []
