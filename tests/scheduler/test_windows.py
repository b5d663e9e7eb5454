"""Maintenance windows: when a window is open, and a rollout that leaves nodes of a closed window's group
alone until it opens (or at once, with the audited override)."""

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from convoy.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from services.scheduler.upstream import InventoryClient
from services.scheduler.windows import UNKNOWN_REASON, Window, WindowBook, window_state
from tests.scheduler.rollout_helpers import assigned_nodes, assignment, deployment, finish
from tests.support.catalog import CatalogStack
from tests.support.inventory import InventoryStack
from tests.support.scheduler import Fleet, SchedulerStack, eventually, start_scheduler
from tests.support.stack import AuthStack
from tests.support.users import Users, audit_by_request, grpc_auth

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


def _window(cron: str, seconds: int, zone: str) -> Window:
    return Window(cron, timedelta(seconds=seconds), zone)


# -- when a window is open -------------------------------------------------------------------------------


def _utc(moment: datetime) -> str:
    """An instant, comparable whatever zone it was given in (aware datetimes of one zone compare by wall
    time, blind to which of two 01:30s on the night clocks go back)."""
    return moment.astimezone(UTC).isoformat()


def test_a_daily_window_is_open_from_its_tick_for_its_duration_in_its_timezone():
    window = _window("0 2 * * *", 3600, "Asia/Shanghai")
    tick = datetime(2026, 11, 29, 2, 0, tzinfo=SHANGHAI)

    before = window_state(window, tick - timedelta(seconds=1))
    assert not before.open and before.opens_at.isoformat() == "2026-11-29T02:00:00+08:00"
    at_tick = window_state(window, tick.astimezone(UTC))  # exactly on the tick, asked in UTC
    assert at_tick.open
    assert (at_tick.opens_at.isoformat(), at_tick.closes_at.isoformat()) == (
        "2026-11-29T02:00:00+08:00",
        "2026-11-29T03:00:00+08:00",
    )
    assert window_state(window, tick + HOUR - timedelta(microseconds=1)).open
    after = window_state(window, tick + HOUR)
    assert not after.open and after.opens_at.isoformat() == "2026-11-30T02:00:00+08:00"


def test_a_window_crossing_midnight_stays_open_into_the_next_day():
    window = _window("30 22 * * sat", 4 * 3600, "Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")

    state = window_state(window, datetime(2026, 11, 29, 1, 0, tzinfo=berlin))  # 2026-11-28 is a Saturday
    assert state.open
    assert (state.opens_at.isoformat(), state.closes_at.isoformat()) == (
        "2026-11-28T22:30:00+01:00",
        "2026-11-29T02:30:00+01:00",
    )
    closed = window_state(window, datetime(2026, 11, 29, 3, 0, tzinfo=berlin))
    assert not closed.open and closed.opens_at.isoformat() == "2026-12-05T22:30:00+01:00"


def test_daylight_saving_keeps_wall_clock_ticks_and_real_durations():
    # Clocks go forward at 02:00 on 2027-03-14: 02:30 does not exist, the window opens when they jump.
    spring = _window("30 2 * * *", 3600, "America/New_York")
    jumped = window_state(spring, datetime(2027, 3, 14, 7, 10, tzinfo=UTC))  # 03:10 EDT
    assert jumped.open and jumped.opens_at.isoformat() == "2027-03-14T03:00:00-04:00"
    next_day = window_state(spring, datetime(2027, 3, 14, 12, 0, tzinfo=UTC))
    assert next_day.opens_at.isoformat() == "2027-03-15T02:30:00-04:00"
    hourly_spring = _window("40 * * * *", 600, "America/New_York")  # 02:40 does not exist: at the jump
    waiting = window_state(hourly_spring, datetime(2027, 3, 14, 6, 55, tzinfo=UTC))  # 01:55 EST
    assert not waiting.open and waiting.opens_at.isoformat() == "2027-03-14T03:00:00-04:00"
    assert window_state(hourly_spring, datetime(2027, 3, 14, 7, 5, tzinfo=UTC)).open

    # The duration is real time: a two-hour window at 01:00 EST on that night closes at 04:00 EDT.
    night = _window("0 1 * * *", 7200, "America/New_York")
    state = window_state(night, datetime(2027, 3, 14, 7, 30, tzinfo=UTC))
    assert state.open and state.closes_at.isoformat() == "2027-03-14T04:00:00-04:00"
    assert not window_state(night, datetime(2027, 3, 14, 8, 0, tzinfo=UTC)).open

    # Clocks go back at 02:00 on 2027-11-07: 01:30 happens twice, the window opens once, for one hour.
    autumn = _window("30 1 * * *", 3600, "America/New_York")
    first = window_state(autumn, datetime(2027, 11, 7, 5, 45, tzinfo=UTC))  # 01:45 EDT
    assert first.open and (_utc(first.opens_at), _utc(first.closes_at)) == (
        "2027-11-07T05:30:00+00:00",
        "2027-11-07T06:30:00+00:00",
    )
    repeat = window_state(autumn, datetime(2027, 11, 7, 6, 45, tzinfo=UTC))  # 01:45 EST
    assert not repeat.open and repeat.opens_at.isoformat() == "2027-11-08T01:30:00-05:00"
    hourly = _window("30 * * * *", 1800, "America/New_York")  # 01:30 EST repeats 01:30 EDT: skipped
    skipped = window_state(hourly, datetime(2027, 11, 7, 6, 10, tzinfo=UTC))  # 01:10 EST
    assert not skipped.open and _utc(skipped.opens_at) == "2027-11-07T07:30:00+00:00"


# -- the book of windows ---------------------------------------------------------------------------------


@dataclass
class Clock:
    at: datetime

    def __call__(self) -> datetime:
        return self.at


def _group(name: str, cron: str = "", zone: str = "Asia/Shanghai") -> inv_pb.Group:
    group = inv_pb.Group(id=str(uuid.uuid4()), name=name)
    if cron:
        group.maintenance_window.CopyFrom(
            inv_pb.MaintenanceWindow(cron=cron, duration_seconds=3600, timezone=zone)
        )
    return group


async def test_the_book_judges_a_deployment_by_windows_read_after_it_was_created():
    db, web = _group("db", "0 2 * * *"), _group("web", "0 3 * * *")
    plain, broken = _group("plain"), _group("broken", "0 2 * * *", zone="Mars/Olympus")
    never = _group("never", "0 0 31 2 *")  # each field is valid; February 31 never comes
    served: list[Sequence[inv_pb.Group]] = [[db, web, plain, broken, never]]
    wall = Clock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))

    async def groups() -> Sequence[inv_pb.Group]:
        if not served:
            raise ConnectionError("inventory away")
        return served.pop(0)

    ticks = [0.0]
    book = WindowBook(groups, refresh_seconds=3600, wall=wall, monotonic=lambda: ticks[0])
    now = datetime(2026, 11, 29, 1, 0, tzinfo=SHANGHAI)  # both windows closed
    waits = book.waits(now, since=wall.at)
    assert waits.every_group and not waits.shown and book.wanted  # no read yet: wait, silently

    await book.refresh()
    waits = book.waits(now, since=wall.at - HOUR)
    assert set(waits.groups) == {db.id, web.id, broken.id, never.id}
    assert waits.reason([plain.id, db.id]) == (
        "waiting for the maintenance window of group 'db' (opens 2026-11-29T02:00:00+08:00)"
    )
    assert waits.reason([db.id, web.id]) == (
        "waiting for the maintenance windows of groups 'db' (opens 2026-11-29T02:00:00+08:00) and "
        "'web' (opens 2026-11-29T03:00:00+08:00)"
    )
    assert "'broken' (its window cannot be evaluated" in waits.reason([broken.id])
    assert "'never' (its window cannot be evaluated: failed to find" in waits.reason([never.id])
    assert set(book.waits(now + HOUR, since=wall.at - HOUR).groups) == {web.id, broken.id, never.id}

    # A deployment newer than the read asks for another one, sooner than refresh_seconds; when that read
    # fails, the last good read still answers.
    wall.at += timedelta(minutes=5)
    ticks[0] += 0.5
    assert book.waits(now, since=wall.at).every_group and book.wanted
    assert book.read_due_in() == 0.5
    await book.refresh()  # too soon: nothing happens
    assert book.wanted
    ticks[0] += 1
    await book.refresh()
    assert not book.wanted and set(book.waits(now, since=wall.at).groups) == {
        db.id,
        web.id,
        broken.id,
        never.id,
    }


async def test_without_the_inventory_targets_in_groups_wait_and_nothing_raises(windowed: SchedulerStack):
    unreachable = InventoryClient(windowed.process.channel("127.0.0.1:1"), timeout=2)
    book = WindowBook(unreachable.groups, refresh_seconds=60)
    await book.refresh()
    waits = book.waits(datetime.now(UTC), since=datetime.now(UTC) - HOUR)
    assert waits.every_group and waits.reason([str(uuid.uuid4())]) == UNKNOWN_REASON
    assert UNKNOWN_REASON.startswith("waiting for the maintenance windows of its groups")


# -- the rollout -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture(scope="module")
async def windowed(
    postgres: LocalPostgres,
    auth_stack: AuthStack,
    inventory: InventoryStack,
    catalog: CatalogStack,
    clock: Clock,
) -> AsyncIterator[SchedulerStack]:
    """A scheduler whose rollout lives at `clock`, reading windows often."""
    async with start_scheduler(
        postgres,
        auth_stack,
        inventory_target=inventory.target,
        catalog_target=catalog.target,
        poll_seconds=0.1,
        window_refresh_seconds=0.2,
        rollout_clock=clock,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(windowed: SchedulerStack) -> AsyncIterator[pb_grpc.SchedulerServiceStub]:
    async with windowed.stub("gateway") as stub:
        yield stub


def _next_two_am(clock: Clock) -> datetime:
    """02:00 in Shanghai at least a day after the clock (the clock only moves forward)."""
    local = (clock.at + timedelta(days=1)).astimezone(SHANGHAI)
    two = local.replace(hour=2, minute=0, second=0, microsecond=0)
    return two if two > local else two + timedelta(days=1)


async def _restricted(
    inventory: InventoryStack, token: str, members: Sequence[str], cron: str, seconds: int = 3600
) -> str:
    """The name of a new group of `members` with a window at `cron` in Shanghai."""
    name = f"w{uuid.uuid4().hex[:10]}"
    window = inv_pb.MaintenanceWindow(cron=cron, duration_seconds=seconds, timezone="Asia/Shanghai")
    async with inventory.stub("gateway") as stub:
        auth = grpc_auth(token)
        request = inv_pb.CreateGroupRequest(name=name, maintenance_window=window)
        group = (await stub.CreateGroup(request, metadata=auth, timeout=10)).group
        members_request = inv_pb.AddGroupMembersRequest(group_id=group.id, server_ids=list(members))
        await stub.AddGroupMembers(members_request, metadata=auth, timeout=10)
    return name


async def _nodes(fleet: Fleet, count: int) -> list[str]:
    return [
        await fleet.server("deb", "x86_64", hostname=f"w{i}-{uuid.uuid4().hex[:6]}") for i in range(count)
    ]


async def _create(
    client, token: str, fleet: Fleet, nodes: Sequence[str], *, rid: str = "", **fields
) -> pb.Deployment:
    package = await fleet.package(f"app-{uuid.uuid4().hex[:8]}", "1.0")
    request = pb.CreateDeploymentRequest(
        package_id=package.id,
        action=pb.ACTION_INSTALL,
        target=inv_pb.Target(group_id=await fleet.group(*nodes)),
        strategy=pb.Strategy(batch_size=10),
        **fields,
    )
    return (await client.CreateDeployment(request, metadata=grpc_auth(token, rid), timeout=10)).deployment


async def _targets(client, token: str, deployment_id: str) -> dict[str, pb.DeploymentTarget]:
    request = pb.ListDeploymentTargetsRequest(deployment_id=deployment_id, page_size=100)
    reply = await client.ListDeploymentTargets(request, metadata=grpc_auth(token), timeout=10)
    return {target.server_id: target for target in reply.targets}


async def _reason(client, token: str, deployment_id: str, reason: str) -> pb.Deployment:
    async def probe() -> pb.Deployment | None:
        current = await deployment(client, token, deployment_id)
        return current if current.state_reason == reason else None

    return await eventually(probe, what=f"state_reason {reason!r}")


async def test_a_closed_window_holds_its_nodes_until_it_opens_while_other_nodes_go(
    client, windowed: SchedulerStack, fleet: Fleet, inventory: InventoryStack, users: Users, clock: Clock
):
    opening = _next_two_am(clock)
    clock.at = opening - 6 * HOUR
    held, free = await _nodes(fleet, 2), (await _nodes(fleet, 1))[0]
    name = await _restricted(inventory, users.operator, held, "0 2 * * *")
    created = await _create(client, users.operator, fleet, [*held, free])
    waiting = f"waiting for the maintenance window of group '{name}' (opens {opening.isoformat()})"

    row = await assignment(windowed, free, created.id)  # in no restricted group: at once
    await finish(windowed, free, row)

    async def held_say_why() -> bool:
        targets = await _targets(client, users.operator, created.id)
        return all(targets[node].message == waiting for node in held)

    await eventually(held_say_why, what="the held targets' message")
    said = await _reason(client, users.operator, created.id, waiting)
    assert said.state == pb.DEPLOYMENT_STATE_RUNNING and said.counts.pending == 2
    assert await assigned_nodes(windowed, held, created.id) == set()
    before = await _targets(client, users.operator, created.id)
    for _ in range(3):
        await windowed.process.rollout.tick()
    assert (await deployment(client, users.operator, created.id)).updated_at == said.updated_at  # no churn
    assert await _targets(client, users.operator, created.id) == before

    clock.at = opening + timedelta(minutes=1)
    rows = [await assignment(windowed, node, created.id) for node in held]
    going = await _reason(client, users.operator, created.id, "")
    assert going.counts.pending == 0
    assert all(
        target.message != waiting for target in (await _targets(client, users.operator, created.id)).values()
    )
    for node, row in zip(held, rows, strict=True):
        await finish(windowed, node, row)


async def test_a_node_in_several_restricted_groups_waits_until_all_their_windows_are_open(
    client, windowed: SchedulerStack, fleet: Fleet, inventory: InventoryStack, users: Users, clock: Clock
):
    opening = _next_two_am(clock)
    clock.at = opening - 6 * HOUR  # 20:00 in Shanghai: the evening window opens exactly now
    both, evening_only = await _nodes(fleet, 2)
    night = await _restricted(inventory, users.operator, [both], "0 2 * * *")
    await _restricted(inventory, users.operator, [both, evening_only], "0 20 * * *", seconds=12 * 3600)
    created = await _create(client, users.operator, fleet, [both, evening_only])

    row = await assignment(windowed, evening_only, created.id)
    await finish(windowed, evening_only, row)
    await _reason(
        client,
        users.operator,
        created.id,
        f"waiting for the maintenance window of group '{night}' (opens {opening.isoformat()})",
    )

    clock.at = opening + timedelta(minutes=1)  # the night window opens; the evening one lasts to 08:00
    await finish(windowed, both, await assignment(windowed, both, created.id))


async def test_the_override_goes_at_once_and_is_audited(
    client,
    windowed: SchedulerStack,
    fleet: Fleet,
    inventory: InventoryStack,
    users: Users,
    auth_stack: AuthStack,
    clock: Clock,
):
    clock.at = _next_two_am(clock) - 6 * HOUR
    nodes = await _nodes(fleet, 2)
    await _restricted(inventory, users.operator, nodes, "0 2 * * *")
    rid = f"override-{uuid.uuid4().hex}"
    created = await _create(client, users.operator, fleet, nodes, rid=rid, override_maintenance_window=True)

    rows = [await assignment(windowed, node, created.id) for node in nodes]
    records = await audit_by_request(auth_stack, users.admin, rid)
    assert [r.target for r in records if r.action == "deployment.override_window"] == [
        f"deployment:{created.id}"
    ]
    for node, row in zip(nodes, rows, strict=True):
        await finish(windowed, node, row)
    assert (await deployment(client, users.operator, created.id)).state_reason == ""
