"""The sync-policy reconciler at fleet scale: what one pass (Reconciler.tick) costs in time, CPU and SQL.

Runs a throwaway PostgreSQL and, in this process, the real auth, inventory, catalog (over the in-memory
transfer) and scheduler servers the way the scheduler tests build them (mTLS on loopback, port 0). Inventory
gets N deb/x86_64 servers, ONLINE (as the agent edge reports it), in one group, half of them with the
software at 1.0; the catalog has it at 1.0 and 1.1; one enabled enforce policy wants `latest` on the group
(settle 0). The scheduler runs without its reconciler loop; the bench calls the reconciler's tick() itself:

  1. first pass: a compliance row for every node, deployments for the drifted ones (install and update are
     different actions, so two deployments of N/2 targets each);
  2. nothing changed since;
  3. after --changed-percent of the nodes reported 1.1 installed (they comply now).

CPU is time.process_time() of this process, so it includes the inventory and catalog the reconciler calls
(they share the event loop, as wall time does too); PostgreSQL's CPU (all its processes) is separate. The
longest event-loop stall is how long the pass kept the loop from anything else (in a scheduler: the agents'
streams). SQL statements are counted on each service's engine (an executemany counts once); the
reconciler's own are the scheduler statements made by the bench's task. Events are those the pass wrote:
compliance events (under the policy's id), and those of the deployments it created. After each pass the
rollout loop, which the new deployments wake, is let finish outside the measured time: it starts them and
assigns a first batch to nodes that never connect, whose leases outlast the bench. The machine's other
load shows in wall time more than in CPU time.

    .venv/bin/python -m bench.reconcile_fleet [--nodes 1000] [--changed-percent 10] [--profile first unchanged]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import resource
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from devstack.postgres import LocalPostgres, throwaway_postgres
from services.kit.pki import write_pki_dir
from services.scheduler.models import Deployment, Event, Policy, Target
from tests.support.catalog import catalog_database, memory_transfer, start_catalog
from tests.support.inventory import start_inventory
from tests.support.scheduler import Fleet, SchedulerStack, start_scheduler
from tests.support.stack import SERVICE_CERTIFICATES, start_fresh_auth
from tests.support.users import make_users

SOFTWARE = "fleet-app"
OLD, NEW = "1.0", "1.1"
SETUP_CONCURRENCY = 32
PASSES = ("first", "unchanged", "changed")
PROFILE_LINES = 30
STALL_PROBE_SECONDS = 0.005
# No rollout or schedule polling during a pass: they wake only when a deployment is created.
SCHEDULER_SETTINGS: dict[str, Any] = {
    "with_reconciler": False,
    "poll_seconds": 3600,
    "reconcile_settle_seconds": 0,
}


# --- measurements ------------------------------------------------------------------------------------------


def _postgres_cpu(postgres: LocalPostgres) -> float:
    """CPU seconds of the postmaster, of its live children, and of the children it has reaped."""
    clock = os.sysconf("SC_CLK_TCK")
    postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid, parent = int(stat.parent.name), int(fields[1])
            if pid == postmaster:
                total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
            elif parent == postmaster:
                total += int(fields[11]) + int(fields[12])
    return total / clock


@contextlib.asynccontextmanager
async def _stalls() -> AsyncIterator[list[float]]:
    """The longest the event loop kept a probe waiting beyond its wake-up time (in seconds): how long the
    pass held up everything else on the loop, which in the scheduler includes the agents' streams."""
    worst = [0.0]

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + STALL_PROBE_SECONDS
            await asyncio.sleep(STALL_PROBE_SECONDS)
            worst[0] = max(worst[0], loop.time() - due)

    task = asyncio.create_task(probe())
    try:
        yield worst
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class StatementCounter:
    """SQL statements sent through an engine; `mine` only those of the task that was current at reset."""

    total: int = 0
    mine: int = 0
    task: asyncio.Task[Any] | None = None

    def attach(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def reset(self) -> None:
        self.total, self.mine, self.task = 0, 0, asyncio.current_task()

    def _seen(self, *_: Any) -> None:
        self.total += 1
        with contextlib.suppress(RuntimeError):  # no running loop: not ours
            self.mine += asyncio.current_task() is self.task


@dataclass
class Sample:
    wall: float = 0.0
    cpu: float = 0.0
    postgres_cpu: float = 0.0
    stall: float = 0.0
    sql: dict[str, int] = field(default_factory=dict)
    compliance_events: int = 0
    deployment_events: int = 0
    deployments: list[str] = field(default_factory=list)


@dataclass
class Bench:
    postgres: LocalPostgres
    scheduler: SchedulerStack
    policy: Policy
    counters: dict[str, StatementCounter]

    async def measure(self, profile: cProfile.Profile | None) -> Sample:
        """One reconciler pass, measured; then the rollout loop is let finish what the pass woke."""
        after, checked_before = await self._last_event(), await self._checked_at()
        sample = await self._timed(profile)
        if await self._checked_at() == checked_before:
            raise SystemExit("the pass did not check the policy (an upstream call failed?); see the log")
        await self._count_written(sample, after)
        await self.scheduler.process.rollout.tick()  # waits for a running pass, then runs one more
        return sample

    async def _timed(self, profile: cProfile.Profile | None) -> Sample:
        for counter in self.counters.values():
            counter.reset()
        sample = Sample()
        postgres, cpu, began = _postgres_cpu(self.postgres), time.process_time(), time.perf_counter()
        async with _stalls() as stall:
            with profile or contextlib.nullcontext():
                await self.scheduler.process.reconciler.tick()
        sample.stall = stall[0]
        sample.wall = time.perf_counter() - began
        sample.cpu = time.process_time() - cpu
        sample.postgres_cpu = _postgres_cpu(self.postgres) - postgres
        sample.sql = {
            "reconciler": self.counters["scheduler"].mine,
            **{name: counter.total for name, counter in self.counters.items() if name != "scheduler"},
        }
        return sample

    async def _checked_at(self) -> datetime | None:
        async with self.scheduler.process.db.transaction() as session:
            statement = select(Policy.checked_at).where(col(Policy.id) == self.policy.id)
            return (await session.exec(statement)).one()

    async def _last_event(self) -> int:
        async with self.scheduler.process.db.transaction() as session:
            return (await session.exec(select(func.max(Event.sequence)))).one() or 0

    async def _count_written(self, sample: Sample, after: int) -> None:
        """What the pass wrote. Its events are written together at the end of its transaction with one
        time, that of its compliance events (only the reconciler writes those); the rollout's come later."""
        async with self.scheduler.process.db.transaction() as session:
            since = col(Event.sequence) > after
            ours = select(Event.time).where(since, col(Event.deployment_id) == self.policy.id).distinct()
            written = (
                select(Event.deployment_id, func.count())
                .where(since, col(Event.time).in_(ours.scalar_subquery()))
                .group_by(col(Event.deployment_id))
            )
            for deployment_id, count in await session.exec(written):
                if deployment_id == self.policy.id:
                    sample.compliance_events = count
                else:
                    sample.deployment_events += count
            checked = select(Policy.checked_at).where(col(Policy.id) == self.policy.id).scalar_subquery()
            created = (
                select(Deployment.action, func.count())
                .join(Target, col(Target.deployment_id) == col(Deployment.id))
                .where(col(Deployment.policy_id) == self.policy.id, col(Deployment.created_at) >= checked)
                .group_by(col(Deployment.id), col(Deployment.action))
            )
            sample.deployments = [f"{action} x{count}" for action, count in await session.exec(created)]


# --- the fleet ---------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _services(postgres: LocalPostgres, work: Path) -> AsyncIterator[tuple[SchedulerStack, Fleet]]:
    """Auth, inventory, catalog over the in-memory transfer, and a scheduler without its reconciler loop,
    as the scheduler tests' fixtures build them."""
    pki_dir = work / "pki"
    write_pki_dir(pki_dir, SERVICE_CERTIFICATES)
    async with contextlib.AsyncExitStack() as stack:
        # Tokens that outlive the setup of a large fleet.
        auth = await stack.enter_async_context(
            start_fresh_auth(postgres, pki_dir, work / "jwt.pem", access_token_seconds=3600)
        )
        users = await make_users(auth)
        inventory = await stack.enter_async_context(start_inventory(postgres, auth))
        transfer = await stack.enter_async_context(memory_transfer(pki_dir))
        url = await catalog_database(postgres)
        catalog = await stack.enter_async_context(start_catalog(url, auth, transfer_target=transfer.target))
        targets = {"inventory_target": inventory.target, "catalog_target": catalog.target}
        scheduler = await stack.enter_async_context(
            start_scheduler(postgres, auth, **targets, **SCHEDULER_SETTINGS)
        )
        yield scheduler, Fleet(inventory, catalog, transfer, users.operator)


async def _each(items: list[Any], work: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    """`work` on every item, SETUP_CONCURRENCY at a time."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(item: Any) -> Any:
        async with gate:
            return await work(item)

    return await asyncio.gather(*(one(item) for item in items))


async def _populate(fleet: Fleet, nodes: int) -> tuple[str, list[str]]:
    """The group and its ONLINE deb servers, every other one with the software at OLD; the packages."""
    group = await fleet.group()

    async def node(index: int) -> str:
        server_id = await fleet.server("deb", hostname=f"bench-{index:05d}", group_ids=(group,))
        await fleet.set_status(server_id)
        if index % 2 == 0:
            await fleet.installed(server_id, SOFTWARE, OLD)
        return server_id

    servers = await _each(list(range(nodes)), node)
    for version in (OLD, NEW):
        await fleet.package(SOFTWARE, version)
    return group, servers


async def _policy(scheduler: SchedulerStack, group: str) -> Policy:
    """An enabled enforce policy wanting the latest version on the group, written as the policy API does."""
    now = datetime.now(UTC)
    policy = Policy(
        name=f"bench-{uuid.uuid4().hex[:8]}",
        target_kind="group_id",
        target_value=group,
        software_name=SOFTWARE,
        version_mode="latest",
        desired_state="present",
        mode="enforce",
        created_by="bench",
        created_at=now,
        updated_at=now,
    )
    async with scheduler.process.db.transaction() as session:
        session.add(policy)
    return policy


def _counters(scheduler: SchedulerStack, fleet: Fleet) -> dict[str, StatementCounter]:
    engines = {
        "scheduler": scheduler.process.db.engine,
        "inventory": fleet.inventory.process.db.engine,  # type: ignore[attr-defined]
        "catalog": fleet.catalog.process.db.engine,  # type: ignore[attr-defined]
    }
    counters = {name: StatementCounter() for name in engines}
    for name, engine in engines.items():
        counters[name].attach(engine)
    return counters


# --- the run -----------------------------------------------------------------------------------------------


def _row(name: str, *values: str) -> None:
    print(f"  {name:<42}" + "".join(f"{value:>18}" for value in values), flush=True)


def _table(samples: dict[str, Sample], changed: int) -> None:
    columns = list(samples.values())
    _row("pass", *(name if name != "changed" else f"{changed} changed" for name in samples))
    _row("wall", *(f"{s.wall:.2f} s" for s in columns))
    _row("CPU, this process", *(f"{s.cpu:.2f} s" for s in columns))
    _row("CPU, PostgreSQL", *(f"{s.postgres_cpu:.2f} s" for s in columns))
    _row("longest event-loop stall", *(f"{s.stall:.2f} s" for s in columns))
    for name in columns[0].sql:
        _row(f"SQL statements, {name}", *(str(s.sql[name]) for s in columns))
    _row("compliance events", *(str(s.compliance_events) for s in columns))
    _row("deployment and target events", *(str(s.deployment_events) for s in columns))
    _row("deployments created (targets)", *(", ".join(s.deployments) or "none" for s in columns))


def _print_profile(profile: cProfile.Profile, name: str) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(order).print_stats(PROFILE_LINES)
        print(f"\nprofile of the {name} pass, by {order}:\n{out.getvalue()}", flush=True)


async def run(postgres: LocalPostgres, work: Path, args: argparse.Namespace) -> None:
    async with _services(postgres, work) as (scheduler, fleet):
        began = time.perf_counter()
        group, servers = await _populate(fleet, args.nodes)
        _row("setup (servers, facts, status, installed)", f"{time.perf_counter() - began:.1f} s")
        resolved = await scheduler.process.inventory.resolve(inventory_pb.Target(group_id=group))
        size = inventory_pb.ResolveTargetsResponse(servers=resolved).ByteSize()
        _row("ResolveTargets reply for the group", f"{size / 2**20:.2f} MiB")
        bench = Bench(postgres, scheduler, await _policy(scheduler, group), _counters(scheduler, fleet))
        changed = servers[: round(args.nodes * args.changed_percent / 100)]
        profiles = {name: cProfile.Profile() for name in args.profile}
        samples: dict[str, Sample] = {}
        for name in PASSES:
            if name == "changed":
                await _each(changed, lambda server_id: fleet.installed(server_id, SOFTWARE, NEW))
            samples[name] = await bench.measure(profiles.get(name))
        print()
        _table(samples, len(changed))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _row("peak RSS, this process", f"{peak / 1024:.0f} MiB")
        if profiles:
            print(f"  (under cProfile, its times included: {', '.join(profiles)})")
        for name, profile in profiles.items():
            _print_profile(profile, name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1000, help="servers under the policy")
    parser.add_argument(
        "--changed-percent", type=float, default=10, help="nodes that report the new version before pass 3"
    )
    parser.add_argument(
        "--profile",
        nargs="+",
        choices=PASSES,
        default=[],
        help="run these passes under cProfile, print the top",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for setup and the passes")
    args = parser.parse_args()
    if args.nodes < 2 or not 0 <= args.changed_percent <= 100:
        parser.error("--nodes must be at least 2 and --changed-percent between 0 and 100")
    print(
        f"{args.nodes} deb nodes (half with {SOFTWARE} {OLD}), the catalog at {OLD} and {NEW}, one enforce "
        f"`latest` policy on their group; services in this process, {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="convoy-reconcile-bench-") as scratch:
        work = Path(scratch)
        with throwaway_postgres(work / "pg" / "data") as postgres:
            try:
                asyncio.run(asyncio.wait_for(run(postgres, work, args), args.timeout))
            except TimeoutError:
                raise SystemExit(f"timed out after {args.timeout:.0f} s") from None


if __name__ == "__main__":
    main()
