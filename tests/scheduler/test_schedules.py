"""Scheduled deployments: made with a preview and a waiting deployment, listed, changed, cancelled, and run
by the schedule loop at their time (one-off and cron, with an injected clock), once even with two
scheduler processes, and not spent while a service is unavailable."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from sqlmodel import col, func, select

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.timestamps import to_timestamp
from services.scheduler.models import Deployment, Target
from services.scheduler.schedule_loop import ScheduleLoop
from services.scheduler.service import Core, CreateUseCase
from services.scheduler.upstream import CatalogClient
from tests.support.mistakes import server_faults
from tests.support.scheduler import Fleet, SchedulerStack, eventually, start_scheduler
from tests.support.stack import AuthStack
from tests.support.users import Users, grpc_auth


@asynccontextmanager
async def own_scheduler(
    postgres, auth_stack, inventory, catalog, **settings
) -> AsyncIterator[SchedulerStack]:
    """A scheduler on a database of its own, so that a test's clock sees only the test's schedules."""
    targets = {"inventory_target": inventory.target, "catalog_target": catalog.target, **settings}
    async with start_scheduler(postgres, auth_stack, with_reconciler=False, **targets) as stack:
        yield stack


class Clock:
    """The time a test's schedule loop lives in."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def loop_of(stack: SchedulerStack, clock: Callable[[], datetime], catalog: CatalogClient | None = None):
    """A schedule loop on the process's database and upstreams, in the test's time."""
    process = stack.process
    core = Core(process.db, process.audit, catalog or process.catalog, process.inventory, clock=clock)
    return ScheduleLoop(core, CreateUseCase(core), poll_seconds=1, clock=clock)


def at(delta: timedelta) -> pb.Schedule:
    return pb.Schedule(at=to_timestamp(datetime.now(UTC) + delta))


def cron(expression: str, timezone: str = "") -> pb.Schedule:
    return pb.Schedule(cron=pb.CronSchedule(expression=expression, timezone=timezone))


async def schedule(
    client, token: str, package_id: str, target: inv_pb.Target, when: pb.Schedule, **fields
) -> pb.CreateDeploymentResponse:
    request = pb.CreateDeploymentRequest(
        package_id=package_id, action=pb.ACTION_INSTALL, target=target, schedule=when, **fields
    )
    return await client.CreateDeployment(request, metadata=grpc_auth(token), timeout=10)


async def get_schedule(client, token: str, schedule_id: str) -> pb.DeploymentSchedule:
    reply = await client.GetSchedule(pb.GetScheduleRequest(id=schedule_id), metadata=grpc_auth(token))
    return reply.schedule


async def get_deployment(client, token: str, deployment_id: str) -> pb.Deployment:
    reply = await client.GetDeployment(pb.GetDeploymentRequest(id=deployment_id), metadata=grpc_auth(token))
    return reply.deployment


async def audit_of(auth: AuthStack, token: str, target: str) -> list[auth_pb.AuditRecord]:
    async with auth.channel("gateway") as channel:
        reply = await auth_grpc.AuditServiceStub(channel).ListAudit(
            auth_pb.ListAuditRequest(target=target, page_size=100), metadata=grpc_auth(token), timeout=10
        )
    return list(reply.records)


def when(stamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


async def expect(code: grpc.StatusCode, call, *words: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    for word in words:
        assert word in caught.value.details()
    return caught.value.details()


async def test_a_scheduled_deployment_previews_waits_and_holds_its_package(
    client, fleet: Fleet, users: Users
):
    deb = await fleet.server("deb", "x86_64", hostname="s-deb")
    rpm = await fleet.server("rpm", "x86_64", hostname="s-rpm")
    group = await fleet.group(deb, rpm)
    package = await fleet.package(f"later-{uuid.uuid4().hex[:8]}", "1.0")
    reply = await schedule(
        client,
        users.operator,
        package.id,
        inv_pb.Target(group_id=group),
        at(timedelta(hours=1)),
        strategy=pb.Strategy(batch_size=1),
        override_maintenance_window=True,
    )

    assert [item.server_id for item in reply.resolved] == [deb]
    assert [item.server_id for item in reply.incompatible] == [rpm]
    waiting, made = reply.deployment, reply.schedule
    assert waiting.state == pb.DEPLOYMENT_STATE_SCHEDULED
    assert waiting.schedule_id == made.id and waiting.counts.total == 0
    assert made.state == pb.SCHEDULE_STATE_ACTIVE and made.next_deployment_id == waiting.id
    assert made.next_run_at == made.schedule.at
    assert made.override_maintenance_window and made.strategy.batch_size == 1
    assert made.created_by == users.operator_name and made.version == "1.0"
    assert f"scheduler.schedule:{made.id}" in (await fleet.get_package(package.id)).referenced_by

    listed = await client.ListDeployments(
        pb.ListDeploymentsRequest(state=pb.DEPLOYMENT_STATE_SCHEDULED, software_name=package.software_name),
        metadata=grpc_auth(users.viewer),
    )
    assert [d.id for d in listed.deployments] == [waiting.id]
    targets = await client.ListDeploymentTargets(
        pb.ListDeploymentTargetsRequest(deployment_id=waiting.id), metadata=grpc_auth(users.viewer)
    )
    assert targets.total_size == 0
    auth = grpc_auth(users.operator)
    for call in (
        client.PauseDeployment(pb.PauseDeploymentRequest(id=waiting.id), metadata=auth),
        client.ResumeDeployment(pb.ResumeDeploymentRequest(id=waiting.id), metadata=auth),
        client.RetryFailed(pb.RetryFailedRequest(id=waiting.id), metadata=auth),
        client.ApproveDeployment(pb.ApproveDeploymentRequest(id=waiting.id), metadata=auth),
    ):
        await expect(grpc.StatusCode.FAILED_PRECONDITION, call, "scheduled")


async def test_wrong_schedules_are_refused_with_the_reason(client, fleet: Fleet, users: Users):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"bad-{uuid.uuid4().hex[:8]}", "1.0")
    target = inv_pb.Target(server_id=node)
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    cases = [
        (at(-timedelta(minutes=5)), {}, "in the past"),
        (at(timedelta(days=400)), {}, "366 days"),
        (cron("0 0 2 * * 6"), {}, "five"),
        (cron("0 2 * *"), {}, "five"),
        (cron("0 25 * * *"), {}, "not a valid cron"),
        (cron("soon please"), {}, "five"),
        (cron("@daily"), {}, "five"),
        (cron("0 0 31 2 *"), {}, "never runs"),
        (cron("* * * * *"), {}, "at most every 5 minutes"),
        (cron("0,2 3 * * *"), {}, "2 minute(s) apart"),
        (cron("0 2 * * 6", "Mars/Olympus"), {}, "schedule.cron.timezone 'Mars/Olympus' is not a known IANA"),
        (cron("0 2 * * 6", "../../etc/passwd"), {}, "IANA"),
        (cron(""), {}, "required"),
        (at(timedelta(hours=1)), {"dry_run": True}, "dry run"),
    ]
    for when_, fields, words in cases:
        await expect(invalid, schedule(client, users.operator, package.id, target, when_, **fields), words)
    rollback = pb.CreateDeploymentRequest(
        action=pb.ACTION_ROLLBACK, rollback_deployment_id=str(uuid.uuid4()), schedule=at(timedelta(hours=1))
    )
    await expect(invalid, client.CreateDeployment(rollback, metadata=grpc_auth(users.operator)), "rollback")
    missing = schedule(client, users.operator, str(uuid.uuid4()), target, at(timedelta(hours=1)))
    await expect(grpc.StatusCode.NOT_FOUND, missing)
    viewer = schedule(client, users.viewer, package.id, target, at(timedelta(hours=1)))
    await expect(grpc.StatusCode.PERMISSION_DENIED, viewer)
    # A time our clock has just passed (the caller's clock is a little behind) means now: it runs at once.
    soon = await schedule(client, users.operator, package.id, target, at(-timedelta(seconds=5)))
    assert when(soon.schedule.next_run_at) >= when(soon.schedule.schedule.at)

    async def ran() -> bool:
        # Waited for here, so that no later test of this scheduler sees the run change the schedules.
        return (await get_schedule(client, users.viewer, soon.schedule.id)).state == pb.SCHEDULE_STATE_DONE

    await eventually(ran, timeout=20, what="the schedule due now ran")


async def test_schedules_are_listed_soonest_first_changed_and_cancelled(
    client, fleet: Fleet, users: Users, auth_stack: AuthStack
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"edit-{uuid.uuid4().hex[:8]}", "1.0")
    target = inv_pb.Target(server_id=node)
    late = await schedule(client, users.operator, package.id, target, at(timedelta(days=300)))
    early = await schedule(client, users.operator, package.id, target, at(timedelta(days=299)))
    viewer = grpc_auth(users.viewer)

    first = await client.ListSchedules(pb.ListSchedulesRequest(page_size=1), metadata=viewer)
    seen = [s.id for s in first.schedules]
    token = first.next_page_token
    while token:
        page = await client.ListSchedules(
            pb.ListSchedulesRequest(page_size=1, page_token=token), metadata=viewer
        )
        seen += [s.id for s in page.schedules]
        token = page.next_page_token
    assert seen.index(early.schedule.id) < seen.index(late.schedule.id)
    assert len(seen) == len(set(seen))

    new_time = datetime.now(UTC) + timedelta(days=10)
    update = pb.UpdateScheduleRequest(
        id=late.schedule.id,
        schedule=pb.Schedule(at=to_timestamp(new_time)),
        strategy=pb.Strategy(batch_percent=50),
    )
    changed = (await client.UpdateSchedule(update, metadata=grpc_auth(users.operator))).schedule
    assert abs(when(changed.next_run_at) - new_time) < timedelta(seconds=1)
    assert changed.strategy.batch_percent == 50 and changed.next_deployment_id == late.deployment.id
    assert (await get_deployment(client, users.viewer, late.deployment.id)).strategy.batch_percent == 50
    to_cron = pb.UpdateScheduleRequest(id=late.schedule.id, schedule=cron("30 3 * * 1-5", "Europe/Berlin"))
    changed = (await client.UpdateSchedule(to_cron, metadata=grpc_auth(users.operator))).schedule
    berlin = when(changed.next_run_at).astimezone(ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute, berlin.weekday() < 5) == (3, 30, True)
    assert changed.schedule.cron.expression == "30 3 * * 1-5" and changed.strategy.batch_percent == 50
    nothing = client.UpdateSchedule(pb.UpdateScheduleRequest(id=late.schedule.id), metadata=viewer)
    await expect(grpc.StatusCode.PERMISSION_DENIED, nothing)

    cancelled = (
        await client.CancelSchedule(
            pb.CancelScheduleRequest(id=late.schedule.id), metadata=grpc_auth(users.operator)
        )
    ).schedule
    assert cancelled.state == pb.SCHEDULE_STATE_CANCELLED and not cancelled.next_deployment_id
    waiting = await get_deployment(client, users.viewer, late.deployment.id)
    assert waiting.state == pb.DEPLOYMENT_STATE_CANCELLED and waiting.HasField("finished_at")
    again = client.UpdateSchedule(
        pb.UpdateScheduleRequest(id=late.schedule.id, strategy=pb.Strategy()),
        metadata=grpc_auth(users.operator),
    )
    await expect(grpc.StatusCode.FAILED_PRECONDITION, again, "cancelled")
    active = await client.ListSchedules(
        pb.ListSchedulesRequest(state=pb.SCHEDULE_STATE_ACTIVE, page_size=500), metadata=viewer
    )
    assert late.schedule.id not in [s.id for s in active.schedules]
    records = await audit_of(auth_stack, users.admin, f"schedule:{late.schedule.id}")
    actions = [r.action for r in records if r.result == auth_pb.AUDIT_RESULT_SUCCESS]
    assert sorted(actions) == ["schedule.cancel", "schedule.create", "schedule.update", "schedule.update"]

    # Cancelling the waiting deployment itself takes its schedule with it.
    stopped = await client.CancelDeployment(
        pb.CancelDeploymentRequest(id=early.deployment.id, reason="not this month"),
        metadata=grpc_auth(users.operator),
    )
    assert stopped.deployment.state == pb.DEPLOYMENT_STATE_CANCELLED
    assert stopped.deployment.HasField("finished_at")
    gone = await get_schedule(client, users.viewer, early.schedule.id)
    assert gone.state == pb.SCHEDULE_STATE_CANCELLED


async def test_a_cron_schedule_runs_on_its_ticks_and_a_missed_tick_once(
    postgres, auth_stack: AuthStack, inventory, catalog, fleet: Fleet, users: Users
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"weekly-{uuid.uuid4().hex[:8]}", "2.0")
    async with own_scheduler(postgres, auth_stack, inventory, catalog) as scheduler:
        async with scheduler.stub() as client:
            await check_cron_runs(scheduler, client, fleet, users, auth_stack, node, package.id)


async def check_cron_runs(
    scheduler, client, fleet: Fleet, users: Users, auth_stack, node: str, package_id: str
):
    made = await schedule(
        client, users.operator, package_id, inv_pb.Target(server_id=node), cron("0 2 * * 6", "Asia/Shanghai")
    )
    sid = made.schedule.id
    first = when(made.schedule.next_run_at)
    local = first.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.weekday(), local.hour, local.minute) == (5, 2, 0)
    clock = Clock(first - timedelta(minutes=1))
    loop = loop_of(scheduler, clock)

    assert await loop.tick() == 0
    clock.now = first + timedelta(seconds=1)
    assert await loop.tick() == 1
    assert await loop.tick() == 0
    run = await get_deployment(client, users.viewer, made.deployment.id)
    assert run.state in (pb.DEPLOYMENT_STATE_PENDING, pb.DEPLOYMENT_STATE_RUNNING)
    assert run.counts.total == 1 and run.batch_count == 1 and run.created_by == users.operator_name
    after_first = await get_schedule(client, users.viewer, sid)
    assert when(after_first.next_run_at) == first + timedelta(days=7)
    assert after_first.last_deployment_id == run.id and after_first.next_deployment_id not in ("", run.id)
    following = await get_deployment(client, users.viewer, after_first.next_deployment_id)
    assert following.state == pb.DEPLOYMENT_STATE_SCHEDULED and following.schedule_id == sid
    holders = (await fleet.get_package(package_id)).referenced_by
    assert f"scheduler.schedule:{sid}" in holders

    # The next tick comes while the first run still goes on: it is skipped.
    clock.now = first + timedelta(days=7, seconds=1)
    assert await loop.tick() == 0
    skipped = await get_schedule(client, users.viewer, sid)
    assert "skipped" in skipped.last_error and run.id in skipped.last_error
    assert when(skipped.next_run_at) == first + timedelta(days=14)
    assert skipped.next_deployment_id == following.id
    await client.CancelDeployment(pb.CancelDeploymentRequest(id=run.id), metadata=grpc_auth(users.operator))

    # Down for three ticks: the missed run starts once, and the schedule waits for the tick after now.
    clock.now = first + timedelta(days=14 + 7 + 7 + 3)
    assert await loop.tick() == 1
    assert await loop.tick() == 0
    later = await get_schedule(client, users.viewer, sid)
    assert when(later.next_run_at) == first + timedelta(days=35)
    assert later.last_deployment_id == following.id and not later.last_error
    async with scheduler.process.db.transaction() as session:
        rows = await session.exec(select(Deployment).where(col(Deployment.schedule_id) == uuid.UUID(sid)))
        states = {str(row.id): row.state for row in rows}
    assert states == {
        run.id: "cancelled",
        following.id: states[following.id],
        later.next_deployment_id: "scheduled",
    }
    assert states[following.id] in ("pending", "running")
    records = await audit_of(auth_stack, users.admin, f"schedule:{sid}")
    fired = [r for r in records if r.action == "schedule.fire"]
    assert len(fired) == 3 and {r.actor for r in fired} == {"service:scheduler"}
    assert sorted(r.result for r in fired) == sorted(
        [auth_pb.AUDIT_RESULT_SUCCESS, auth_pb.AUDIT_RESULT_SUCCESS, auth_pb.AUDIT_RESULT_FAILURE]
    )


def clock_change(zone: ZoneInfo, year: int, month: int) -> date:
    """The day of the month whose night the zone's clocks change (its offset at midnight and noon differ)."""
    day = date(year, month, 1)
    while (
        datetime.combine(day, time(0), zone).utcoffset() == datetime.combine(day, time(12), zone).utcoffset()
    ):
        day += timedelta(days=1)
    return day


async def cancel_last_run(client, users: Users, schedule_id: str) -> None:
    """The schedule's last run is cancelled, so that its next tick is not skipped for overlap."""
    last = (await get_schedule(client, users.viewer, schedule_id)).last_deployment_id
    await client.CancelDeployment(pb.CancelDeploymentRequest(id=last), metadata=grpc_auth(users.operator))


async def test_daily_cron_schedules_run_once_on_the_nights_clocks_change(
    postgres, auth_stack: AuthStack, inventory, catalog, fleet: Fleet, users: Users
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"nightly-{uuid.uuid4().hex[:8]}", "1.0")
    new_york = ZoneInfo("America/New_York")
    year = datetime.now(UTC).year + 1
    forward, back = clock_change(new_york, year, 3), clock_change(new_york, year, 11)
    target = inv_pb.Target(server_id=node)
    async with own_scheduler(postgres, auth_stack, inventory, catalog) as scheduler:
        async with scheduler.stub() as client:
            skipped = await schedule(
                client, users.operator, package.id, target, cron("30 2 * * *", new_york.key)
            )
            repeated = await schedule(
                client, users.operator, package.id, target, cron("30 1 * * *", new_york.key)
            )
            ids = skipped.schedule.id, repeated.schedule.id
            clock = Clock(datetime.combine(forward, time(1, 45), new_york).astimezone(UTC))
            loop = loop_of(scheduler, clock)
            assert await loop.tick() == 2  # both missed their runs since they were made: once each

            # 02:30 does not exist that night: the run comes when the clocks jump to 03:00.
            jump = datetime.combine(forward, time(3, 0), new_york)
            assert when((await get_schedule(client, users.viewer, ids[0])).next_run_at) == jump
            await cancel_last_run(client, users, ids[0])
            clock.now = jump.astimezone(UTC)
            assert await loop.tick() == 1
            after_jump = await get_schedule(client, users.viewer, ids[0])
            next_day = datetime.combine(forward + timedelta(days=1), time(2, 30), new_york)
            assert when(after_jump.next_run_at) == next_day and not after_jump.last_error

            # 01:30 happens twice that night: the run comes at the first, not again an hour later.
            for schedule_id in ids:
                await cancel_last_run(client, users, schedule_id)
            clock.now = datetime.combine(back, time(1, 45), new_york).astimezone(UTC)  # the first 01:45
            assert await loop.tick() == 2
            second = datetime.combine(back, time(1, 45, fold=1), new_york).astimezone(UTC)
            assert second - clock.now == timedelta(hours=1)
            clock.now = second
            assert await loop.tick() == 0
            once = await get_schedule(client, users.viewer, ids[1])
            following = datetime.combine(back + timedelta(days=1), time(1, 30), new_york)
            assert when(once.next_run_at) == following and not once.last_error
    fired = [
        r
        for r in await audit_of(auth_stack, users.admin, f"schedule:{ids[1]}")
        if r.action == "schedule.fire"
    ]
    assert len(fired) == 2


async def test_a_run_waits_while_the_catalog_is_down_and_fails_when_its_target_is_gone(
    postgres, auth_stack: AuthStack, inventory, catalog, fleet: Fleet, users: Users
):
    package = await fleet.package(f"down-{uuid.uuid4().hex[:8]}", "1.0")
    node = await fleet.server("deb", "x86_64")
    group = await fleet.group()
    async with own_scheduler(postgres, auth_stack, inventory, catalog) as scheduler:
        async with scheduler.stub() as client:
            await check_down_and_gone(scheduler, inventory, client, users, package.id, node, group)


async def check_down_and_gone(
    scheduler, inventory, client, users: Users, package_id: str, node: str, group: str
):
    once = await schedule(
        client, users.operator, package_id, inv_pb.Target(server_id=node), at(timedelta(minutes=30))
    )
    clock = Clock(datetime.now(UTC) + timedelta(hours=1))
    dead = CatalogClient(scheduler.process.channel("127.0.0.1:1"), timeout=2)
    assert await loop_of(scheduler, clock, catalog=dead).tick() == 0
    untouched = await get_schedule(client, users.viewer, once.schedule.id)
    assert untouched.state == pb.SCHEDULE_STATE_ACTIVE and not untouched.last_error
    assert (
        await get_deployment(client, users.viewer, once.deployment.id)
    ).state == pb.DEPLOYMENT_STATE_SCHEDULED
    assert await loop_of(scheduler, clock).tick() == 1
    done = await get_schedule(client, users.viewer, once.schedule.id)
    assert done.state == pb.SCHEDULE_STATE_DONE and done.last_deployment_id == once.deployment.id
    assert not done.next_deployment_id and not done.HasField("next_run_at")

    nightly = await schedule(
        client, users.operator, package_id, inv_pb.Target(group_id=group), cron("0 3 * * *")
    )
    async with inventory.channel("gateway") as channel:
        await inv_grpc.InventoryServiceStub(channel).DeleteGroup(
            inv_pb.DeleteGroupRequest(id=group), metadata=grpc_auth(users.operator), timeout=10
        )
    clock.now = when(nightly.schedule.next_run_at) + timedelta(seconds=1)
    assert await loop_of(scheduler, clock).tick() == 1
    failed = await get_deployment(client, users.viewer, nightly.deployment.id)
    assert failed.state == pb.DEPLOYMENT_STATE_FAILED and "could not start" in failed.state_reason
    assert group in failed.state_reason and failed.HasField("finished_at")
    goes_on = await get_schedule(client, users.viewer, nightly.schedule.id)
    assert goes_on.state == pb.SCHEDULE_STATE_ACTIVE and group in goes_on.last_error
    assert when(goes_on.next_run_at) == when(nightly.schedule.next_run_at) + timedelta(days=1)


async def test_two_schedulers_start_a_run_due_in_a_few_seconds_exactly_once(
    postgres, auth_stack, inventory, catalog, fleet: Fleet, users: Users
):
    nodes = [await fleet.server("deb", "x86_64") for _ in range(3)]
    group = await fleet.group(*nodes)
    package = await fleet.package(f"twice-{uuid.uuid4().hex[:8]}", "1.0")
    targets = {"inventory_target": inventory.target, "catalog_target": catalog.target, "poll_seconds": 0.05}
    async with start_scheduler(postgres, auth_stack, with_reconciler=False, **targets) as one:
        async with start_scheduler(
            postgres, auth_stack, database_url=one.database_url, with_reconciler=False, **targets
        ) as two:
            async with one.stub() as stub:
                made = await schedule(
                    stub, users.operator, package.id, inv_pb.Target(group_id=group), at(timedelta(seconds=2))
                )

                async def started() -> bool:
                    # Both loops run in the background; drive them harder still, at the same moments.
                    await asyncio.gather(one.process.schedule_loop.tick(), two.process.schedule_loop.tick())
                    deployment = await get_deployment(stub, users.viewer, made.deployment.id)
                    return deployment.state != pb.DEPLOYMENT_STATE_SCHEDULED

                await eventually(started, timeout=20, what="the scheduled run started")
                for _ in range(10):
                    await asyncio.gather(one.process.schedule_loop.tick(), two.process.schedule_loop.tick())
                final = await get_schedule(stub, users.viewer, made.schedule.id)
            async with one.process.db.transaction() as session:
                runs = (
                    await session.exec(
                        select(func.count())
                        .select_from(Deployment)
                        .where(col(Deployment.schedule_id) == uuid.UUID(made.schedule.id))
                    )
                ).one()
                rows = (
                    await session.exec(
                        select(func.count())
                        .select_from(Target)
                        .where(col(Target.deployment_id) == uuid.UUID(made.deployment.id))
                    )
                ).one()
    assert final.state == pb.SCHEDULE_STATE_DONE and final.last_deployment_id == made.deployment.id
    assert runs == 1 and rows == 3
    fired = [
        r
        for r in await audit_of(auth_stack, users.admin, f"schedule:{made.schedule.id}")
        if r.action == "schedule.fire"
    ]
    assert len(fired) == 1


async def test_wrong_schedule_requests_are_client_errors(client, fleet: Fleet, users: Users):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"fuzz-{uuid.uuid4().hex[:8]}", "1.0")
    target = inv_pb.Target(server_id=node)
    made = await schedule(client, users.operator, package.id, target, at(timedelta(days=30)))
    sid = made.schedule.id
    create_at = pb.CreateDeploymentRequest(
        package_id=package.id, action=pb.ACTION_INSTALL, target=target, schedule=at(timedelta(days=30))
    )
    create_cron = pb.CreateDeploymentRequest(
        package_id=package.id, action=pb.ACTION_INSTALL, target=target, schedule=cron("0 4 * * *", "UTC")
    )
    update = pb.UpdateScheduleRequest(
        id=sid, schedule=cron("0 5 * * *", "Asia/Tokyo"), strategy=pb.Strategy()
    )
    auth = grpc_auth(users.operator)
    calls = [
        (
            client.CreateDeployment,
            lambda: pb.CreateDeploymentRequest.FromString(create_at.SerializeToString()),
        ),
        (
            client.CreateDeployment,
            lambda: pb.CreateDeploymentRequest.FromString(create_cron.SerializeToString()),
        ),
        (client.ListSchedules, lambda: pb.ListSchedulesRequest(page_size=5, state=pb.SCHEDULE_STATE_ACTIVE)),
        (client.GetSchedule, lambda: pb.GetScheduleRequest(id=sid)),
        (client.UpdateSchedule, lambda: pb.UpdateScheduleRequest.FromString(update.SerializeToString())),
        (client.CancelSchedule, lambda: pb.CancelScheduleRequest(id=str(uuid.uuid4()))),
    ]
    faults = []
    for method, make in calls:
        faults += await server_faults(lambda request, m=method: m(request, metadata=auth, timeout=20), make)
    assert faults == []
