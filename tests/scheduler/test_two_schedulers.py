"""Two scheduler processes on one database: every target is assigned exactly once."""

import asyncio
import uuid
from collections import Counter

from sqlmodel import col, select

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.scheduler.events import event_from_row
from services.scheduler.models import IN_FLIGHT, Event, Target
from tests.scheduler.rollout_helpers import create
from tests.support.scheduler import Fleet, eventually, start_scheduler
from tests.support.users import Users


async def test_two_schedulers_never_assign_a_target_twice(
    postgres, auth_stack, inventory, catalog, fleet: Fleet, users: Users
):
    # A node runs one deployment at a time: each deployment has its own three nodes.
    nodes = [await fleet.server("deb", "x86_64") for _ in range(18)]
    groups = [await fleet.group(*nodes[i : i + 3]) for i in range(0, 18, 3)]
    packages = [await fleet.package(f"twin-{uuid.uuid4().hex[:8]}", "1.0") for _ in range(6)]
    targets = {"inventory_target": inventory.target, "catalog_target": catalog.target, "poll_seconds": 0.05}
    async with start_scheduler(postgres, auth_stack, **targets) as one:
        async with start_scheduler(postgres, auth_stack, database_url=one.database_url, **targets) as two:
            async with one.stub() as stub:
                created = [
                    await create(
                        stub, users.operator, package.id, inv_pb.Target(group_id=group), batch_size=3
                    )
                    for package, group in zip(packages, groups, strict=True)
                ]
            # Both loops run in the background; drive them harder still, at the same moments.
            for _ in range(20):
                await asyncio.gather(one.process.rollout.tick(), two.process.rollout.tick())

            async def all_assigned() -> bool:
                async with one.process.db.transaction() as session:
                    rows = list(await session.exec(select(Target).where(col(Target.state) == "assigned")))
                return len(rows) == 3 * len(created)

            await eventually(all_assigned, what="three targets assigned per deployment")
            async with one.process.db.transaction() as session:
                rows = list(await session.exec(select(Event.sequence, Event.time, Event.payload)))
                owners = {
                    t.leased_by
                    for t in await session.exec(select(Target).where(col(Target.state) == "assigned"))
                }
    assignments = Counter(
        (event.target.deployment_id, event.target.server_id)
        for event in (event_from_row(*row) for row in rows)
        if event.WhichOneof("change") == "target" and event.target.state == pb.TARGET_STATE_ASSIGNED
    )
    assert len(assignments) == 3 * len(created)
    assert set(assignments.values()) == {1}
    assert owners <= {one.process.owner, two.process.owner}


async def test_two_schedulers_never_give_one_node_two_operations_at_once(
    postgres, auth_stack, inventory, catalog, fleet: Fleet, users: Users
):
    node = await fleet.server("deb", "x86_64")
    packages = [await fleet.package(f"one-{uuid.uuid4().hex[:8]}", "1.0") for _ in range(8)]
    targets = {"inventory_target": inventory.target, "catalog_target": catalog.target, "poll_seconds": 0.05}
    async with start_scheduler(postgres, auth_stack, **targets) as one:
        async with start_scheduler(postgres, auth_stack, database_url=one.database_url, **targets) as two:
            async with one.stub() as stub:
                for package in packages:
                    await create(stub, users.operator, package.id, inv_pb.Target(server_id=node))
            for _ in range(20):
                await asyncio.gather(one.process.rollout.tick(), two.process.rollout.tick())

            async def in_flight() -> list[Target]:
                async with one.process.db.transaction() as session:
                    statement = select(Target).where(
                        col(Target.current), col(Target.state).in_(IN_FLIGHT), col(Target.server_id) == node
                    )
                    return list(await session.exec(statement))

            assert len(await eventually(in_flight, what="one assignment for the node")) == 1
            for _ in range(10):
                await asyncio.gather(one.process.rollout.tick(), two.process.rollout.tick())
            assert len(await in_flight()) == 1
