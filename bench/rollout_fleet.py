"""One deployment to a simulated fleet: how fast the scheduler dispatches it, and what that costs.

Runs a throwaway PostgreSQL and the whole control plane as processes (`python -m services.<name> serve`, as
`make up` runs it, on loopback, production timings), enrolls N nodes with join tokens through the
scheduler's enrollment port, and connects each one with a Connect stream of its own (its own channel and TCP
connection, mutual TLS with its own node certificate). A node sends Hello and a heartbeat every
`--heartbeat` seconds, and answers every assignment at once with progress (downloading, installing) and a
SUCCEEDED result, without downloading anything: what is measured is the scheduler's dispatch path, not
transfer. A lost stream is opened again with the agent's backoff, and counted. Then one deployment goes to
all nodes in batches of `--batch-percent`.

Assignment latency is from the moment the rollout marked the target assigned (its `assigned_at`) to the
moment the node read the assignment off its stream; both clocks are this machine's. The nodes share one
event loop here, so a loaded bench process adds to it.

    .venv/bin/python -m bench.rollout_fleet [--nodes 200] [--batch-percent 25] [--heartbeat 10] [--timeout 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from devstack.postgres import throwaway_postgres
from tests.support.e2e_stack import HTTP_TIMEOUT, E2EStack, e2e_stack
from tests.support.packages import build_tarball
from tests.support.stack import node_csr

PACKAGE = ("fleet-bench", "1.0")
# Reported in every Hello: once inventory has it for a node, the scheduler has processed that node's Hello.
BASELINE = agent_pb.InstalledSoftware(name="fleet-bench-base", version="1", format=agent_pb.FORMAT_TAR)
# A join token is good for at most this many enrollments (auth's limit).
TOKEN_USES = 1000
BACKOFF_INITIAL, BACKOFF_CAP = 1.0, 60.0
ENROLL_CONCURRENCY = 16
CONNECT_CONCURRENCY = 32
POLL_SECONDS = 0.25
SETTLE_SECONDS = 2.0
# Production timings (the end-to-end stack shortens them for its tests).
TIMINGS = {
    "CONVOY_SCHEDULER_POLL_SECONDS": "2",
    "CONVOY_SCHEDULER_HEARTBEAT_SECONDS": "10",
    "CONVOY_SCHEDULER_OFFLINE_GRACE_SECONDS": "30",
    "CONVOY_SCHEDULER_LEASE_SECONDS": "30",
    "CONVOY_LOG_LEVEL": "WARNING",
}


@dataclass
class SimulatedNode:
    """What one agent holds, and what its stream saw."""

    index: int
    key_pem: bytes = b""
    node_id: str = ""
    certificate_pem: bytes = b""
    # assignment id -> wall-clock time the node first read it
    received: dict[str, float] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    # Whether a stream is open now, how many were lost, and why the last one ended.
    up: bool = False
    losses: int = 0
    error: str = ""

    @property
    def hostname(self) -> str:
        return f"sim-{self.index:05d}"

    def facts(self) -> agent_pb.Facts:
        # 198.18.0.0/15 is the range set aside for benchmarks; these addresses are only facts.
        ip = f"198.18.{self.index // 250}.{self.index % 250 + 1}"
        return agent_pb.Facts(
            hostname=self.hostname,
            ip_addresses=[ip],
            os_id="debian",
            version_id="12",
            pretty_name="Debian GNU/Linux 12 (bookworm)",
            package_family=agent_pb.PACKAGE_FAMILY_DEB,
            arch="x86_64",
            kernel="6.1.0",
            python_version="3.11.2",
            agent_version="bench",
        )


# --- measurements ------------------------------------------------------------------------------------------


def _proc_status(pid: int, key: str) -> int:
    """A kB figure of /proc/<pid>/status (VmHWM: peak resident set, VmRSS: now); 0 when gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def _ms(values: list[float]) -> str:
    return f"{_percentile(values, 0.5) * 1000:.0f} / {_percentile(values, 0.99) * 1000:.0f} ms"


def _when(text: str | None) -> float:
    return datetime.fromisoformat(text).timestamp() if text else math.nan


# --- the stack's REST API ----------------------------------------------------------------------------------


def _ok(response: httpx.Response, status: int = 200) -> Any:
    if response.status_code != status:
        raise SystemExit(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response.json()


async def _prepare(client: httpx.AsyncClient, workdir: Path, nodes: int) -> tuple[str, str, list[str]]:
    """A group, join tokens into it for `nodes` enrollments, and a tar package; (group, package, tokens)."""
    group = _ok(await client.post("/api/v1/groups", json={"name": f"bench-{uuid.uuid4().hex[:8]}"}), 201)
    tokens = []
    for start in range(0, nodes, TOKEN_USES):
        body = {"group_ids": [group["id"]], "ttl_seconds": 3600, "max_uses": min(TOKEN_USES, nodes - start)}
        tokens.append(_ok(await client.post("/api/v1/join-tokens", json=body), 201)["token"])
    path = build_tarball(workdir, *PACKAGE)
    with path.open("rb") as file:
        files = {"file": (path.name, file, "application/octet-stream")}
        package = _ok(await client.post("/api/v1/packages", files=files), 201)
    return group["id"], package["id"], tokens


# --- the simulated nodes -----------------------------------------------------------------------------------


async def _enroll(stack: E2EStack, ca_pem: bytes, fleet: list[SimulatedNode], tokens: list[str]) -> None:
    """Every node enrolls as `convoy-agent enroll` does: its own key, a CSR, the join token."""
    credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    options = [("grpc.ssl_target_name_override", "scheduler")]
    gate = asyncio.Semaphore(ENROLL_CONCURRENCY)
    async with grpc.aio.secure_channel(stack.enroll_address, credentials, options=options) as channel:
        stub = agent_grpc.AgentServiceStub(channel)

        async def enroll(node: SimulatedNode) -> None:
            key = ec.generate_private_key(ec.SECP256R1())
            node.key_pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            request = agent_pb.EnrollRequest(
                token=tokens[node.index // TOKEN_USES], csr_pem=node_csr(key), facts=node.facts()
            )
            async with gate:
                reply = await stub.Enroll(request, timeout=60)
            node.node_id, node.certificate_pem = reply.node_id, reply.certificate_pem.encode()

        await asyncio.gather(*(enroll(node) for node in fleet))


async def _answer(call: Any, lock: asyncio.Lock, assignment: agent_pb.Assignment) -> None:
    """Progress through downloading and installing, then SUCCEEDED, as an agent that is very fast."""
    started = time.time()
    ident = {"assignment_id": assignment.assignment_id, "attempt": assignment.attempt}
    async with lock:
        for state in (agent_pb.TASK_STATE_DOWNLOADING, agent_pb.TASK_STATE_INSTALLING):
            progress = agent_pb.TaskProgress(**ident, state=state, percent=100, log_lines=["simulated"])
            await call.write(agent_pb.AgentMessage(progress=progress))
        result = agent_pb.TaskResult(
            **ident,
            state=agent_pb.TASK_STATE_SUCCEEDED,
            installed_version=assignment.package.version,
            message="installed (simulated)",
        )
        result.started_at.FromNanoseconds(int(started * 1e9))
        result.finished_at.GetCurrentTime()
        await call.write(agent_pb.AgentMessage(result=result))


async def _heartbeats(call: Any, lock: asyncio.Lock, every: float, offset: float) -> None:
    await asyncio.sleep(offset)
    while True:
        heartbeat = agent_pb.Heartbeat()
        heartbeat.sent_at.GetCurrentTime()
        async with lock:
            await call.write(agent_pb.AgentMessage(heartbeat=heartbeat))
        await asyncio.sleep(every)


async def _run_node(
    node: SimulatedNode, target: str, ca_pem: bytes, gate: asyncio.Semaphore, heartbeat: float
) -> None:
    """The node's Connect stream, on a channel (and TCP connection) of its own, until cancelled; after a
    lost stream it reconnects with the agent's backoff (1 s doubling to 60 s, upper-half jitter, reset after
    a stream that lived 30 s)."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca_pem, private_key=node.key_pem, certificate_chain=node.certificate_pem
    )
    options = [("grpc.ssl_target_name_override", "scheduler"), ("grpc.use_local_subchannel_pool", 1)]
    failures = 0
    async with grpc.aio.secure_channel(target, credentials, options=options) as channel:
        stub = agent_grpc.AgentServiceStub(channel)
        while True:
            opened = time.monotonic()
            node.error = await _stream(node, stub, gate, heartbeat)
            node.up = False
            node.losses += 1
            failures = 0 if time.monotonic() - opened >= 30 else failures
            ceiling = min(BACKOFF_CAP, BACKOFF_INITIAL * 2**failures)
            failures += 1
            await asyncio.sleep(ceiling * (0.5 + 0.5 * random.random()))


async def _stream(
    node: SimulatedNode, stub: agent_grpc.AgentServiceStub, gate: asyncio.Semaphore, heartbeat: float
) -> str:
    """One Connect stream until it ends; why it ended."""
    lock = asyncio.Lock()
    tasks: list[asyncio.Task[None]] = []
    call = stub.Connect()
    try:
        async with gate:  # the TLS handshakes, a few at a time
            hello = agent_pb.Hello(facts=node.facts(), installed=[BASELINE])
            await call.write(agent_pb.AgentMessage(hello=hello))
        node.up = True
        if heartbeat > 0:
            offset = heartbeat * (node.index % 97) / 97
            tasks.append(asyncio.create_task(_heartbeats(call, lock, heartbeat, offset)))
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                return "the scheduler ended the stream"
            kind = message.WhichOneof("message")
            if kind == "assignment":
                assignment = message.assignment
                node.received.setdefault(assignment.assignment_id, time.time())
                # Again after a reconnect until acknowledged, as the agent resends from its journal.
                if assignment.assignment_id not in node.acked:
                    tasks.append(asyncio.create_task(_answer(call, lock, assignment)))
            elif kind == "ack":
                node.acked.add(message.ack.assignment_id)
    except grpc.aio.AioRpcError as exc:
        return f"{exc.code().name}: {exc.details()}"
    except grpc.aio.UsageError as exc:  # a write after the stream ended
        return str(exc)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        call.cancel()


# --- the run -----------------------------------------------------------------------------------------------


async def _wait(what: str, probe: Any, deadline: float, interval: float = POLL_SECONDS) -> Any:
    while True:
        answer = await probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(interval)


def _row(name: str, value: str) -> None:
    print(f"  {name:<50} {value}", flush=True)


async def run(stack: E2EStack, workdir: Path, args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.timeout
    scheduler_pid = stack.services["scheduler"].proc.pid
    service_pids = [service.proc.pid for service in stack.services.values()]
    ca_pem = (stack.pki_dir / "ca.pem").read_bytes()
    fleet = [SimulatedNode(index) for index in range(args.nodes)]
    headers = {"Authorization": f"Bearer {stack.admin_token()}"}
    database = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    node_tasks: list[asyncio.Task[None]] = []
    try:
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=HTTP_TIMEOUT) as client:
            group_id, package_id, tokens = await _prepare(client, workdir, args.nodes)

            began = time.perf_counter()
            await asyncio.wait_for(_enroll(stack, ca_pem, fleet, tokens), deadline - time.monotonic())
            took = time.perf_counter() - began
            _row("enrollment (join token, Enroll)", f"{took:.1f} s ({args.nodes / took:.0f} nodes/s)")

            began = time.perf_counter()
            gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
            node_tasks = [
                asyncio.create_task(_run_node(node, stack.agent_address, ca_pem, gate, args.heartbeat))
                for node in fleet
            ]

            settled: list[tuple[float, int]] = []

            async def hellos_done() -> bool:
                """Every node's Hello processed (inventory has what it reported) and every stream up, with
                no stream lost for SETTLE_SECONDS."""
                losses = sum(node.losses for node in fleet)
                if settled and settled[-1][1] == losses:
                    stable_since = settled[-1][0]
                else:
                    stable_since = time.monotonic()
                    settled.append((stable_since, losses))
                if not all(node.up for node in fleet):
                    return False
                count = await database.fetchval(
                    "SELECT count(*) FROM inventory.installed WHERE name = $1", BASELINE.name
                )
                return count >= args.nodes and time.monotonic() - stable_since >= SETTLE_SECONDS

            await _wait("every node's Hello", hellos_done, deadline)
            took = time.perf_counter() - began
            _row("streams connected, Hello processed (+2 s settle)", f"{took:.1f} s")
            losses_before = sum(node.losses for node in fleet)
            _row("  streams lost meanwhile (node reconnected)", f"{losses_before}")
            if losses_before:
                reasons = Counter(node.error for node in fleet if node.error)
                _row("  last reasons", "; ".join(f"{n}x {why}" for why, n in reasons.most_common(3)))
            _row(
                "scheduler RSS with every stream open",
                f"{_proc_status(scheduler_pid, 'VmRSS') / 1024:.0f} MiB",
            )

            cpu_before = {pid: _cpu_seconds(pid) for pid in service_pids}
            events_before = await database.fetchval("SELECT count(*) FROM scheduler.events")
            body = {
                "package_id": package_id,
                "action": "install",
                "target": {"group_id": group_id},
                "strategy": {"batch_percent": args.batch_percent, "max_failures": 0},
            }
            began_wall, began = time.time(), time.perf_counter()
            deployment = _ok(await client.post("/api/v1/deployments", json=body), 201)["deployment"]
            created = time.perf_counter() - began

            async def final() -> dict[str, Any] | None:
                current: dict[str, Any] = _ok(await client.get(f"/api/v1/deployments/{deployment['id']}"))
                return current if current["state"] in ("succeeded", "failed", "cancelled") else None

            try:
                done = await _wait("the deployment to finish", final, deadline)
            except TimeoutError:
                received = sum(len(node.received) for node in fleet)
                current = _ok(await client.get(f"/api/v1/deployments/{deployment['id']}"))
                raise SystemExit(
                    f"timed out after {args.timeout:.0f} s: {received} of {args.nodes} assignments received, "
                    f"deployment {current['state']} {current['counts']}"
                ) from None
            observed = time.perf_counter() - began
            cpu = {pid: _cpu_seconds(pid) - cpu_before[pid] for pid in service_pids}

        if done["state"] != "succeeded":
            raise SystemExit(f"the deployment ended {done['state']}: {done['state_reason']} {done['counts']}")
        server_side = _when(done["finished_at"]) - _when(done["created_at"])
        rows = await database.fetch(
            "SELECT assignment_id, assigned_at, pushed_at, updated_at, batch FROM scheduler.targets"
            " WHERE deployment_id = $1",
            uuid.UUID(deployment["id"]),
        )
        events = await database.fetchval(
            "SELECT count(*) FROM scheduler.events WHERE deployment_id = $1", uuid.UUID(deployment["id"])
        )
        all_events = await database.fetchval("SELECT count(*) FROM scheduler.events") - events_before
    finally:
        for task in node_tasks:
            task.cancel()
        await asyncio.gather(*node_tasks, return_exceptions=True)
        await database.close()

    received = {key: at for node in fleet for key, at in node.received.items()}
    latency, pushed = [], []
    # batch -> [first assigned, last received, last result recorded, nodes], in seconds after CreateDeployment
    timeline: dict[int, list[float]] = {}
    for row in rows:
        at = received.get(str(row["assignment_id"]))
        if at is None or row["assigned_at"] is None:
            continue
        assigned = row["assigned_at"].timestamp()
        latency.append(at - assigned)
        if row["pushed_at"] is not None:
            pushed.append(row["pushed_at"].timestamp() - assigned)
        recorded = row["updated_at"].timestamp()  # the result was the target's last change
        span = timeline.setdefault(row["batch"], [math.inf, -math.inf, -math.inf, 0])
        span[0] = min(span[0], assigned - began_wall)
        span[1] = max(span[1], at - began_wall)
        span[2] = max(span[2], recorded - began_wall)
        span[3] += 1
    dispatching = sum(span[1] - span[0] for span in timeline.values())
    _row("CreateDeployment call", f"{created * 1000:.0f} ms")
    _row("CreateDeployment -> SUCCEEDED (observed)", f"{observed:.2f} s")
    _row("created_at -> finished_at (server clock)", f"{server_side:.2f} s")
    for batch, (assigned, last, recorded, count) in sorted(timeline.items()):
        _row(
            f"batch {batch} ({count:.0f} nodes): assigned/received/recorded",
            f"+{assigned:.2f} / +{last:.2f} / +{recorded:.2f} s",
        )
    _row("assignments received", f"{len(received)} of {args.nodes}")
    _row("assignments/s (whole rollout)", f"{len(received) / observed:.0f}")
    _row("assignments/s (per batch: assigned -> received)", f"{len(latency) / dispatching:.0f}")
    _row("assignment latency p50 / p99", _ms(latency))
    _row("  of which assigned -> pushed p50 / p99", _ms(pushed))
    _row("  max", f"{max(latency, default=math.nan) * 1000:.0f} ms")
    _row("scheduler peak RSS (VmHWM)", f"{_proc_status(scheduler_pid, 'VmHWM') / 1024:.0f} MiB")
    _row("scheduler CPU during the rollout", f"{cpu[scheduler_pid]:.1f} s")
    _row("all services' CPU during the rollout", f"{sum(cpu.values()):.1f} s")
    _row("events written for the deployment", f"{events} ({events / args.nodes:.1f} per node)")
    _row("events written during the rollout (all)", f"{all_events}")
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _row("bench process (the fleet) peak RSS", f"{ru / 1024:.0f} MiB")
    _row("streams lost during the rollout", f"{sum(node.losses for node in fleet) - losses_before}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=200, help="simulated nodes")
    parser.add_argument("--batch-percent", type=int, default=25, help="the deployment's batch_percent")
    parser.add_argument(
        "--heartbeat", type=float, default=10.0, help="seconds between a node's heartbeats; 0: none"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for enrollment and rollout")
    args = parser.parse_args()
    if not 1 <= args.batch_percent <= 100 or args.nodes < 1:
        parser.error("--nodes must be at least 1 and --batch-percent between 1 and 100")
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(limit[1], max(limit[0], 4 * args.nodes + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, limit[1]))

    print(
        f"{args.nodes} simulated nodes, one deployment in batches of {args.batch_percent}%, "
        f"services as processes on loopback, {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="convoy-bench-") as scratch:
        work = Path(scratch)
        with (
            throwaway_postgres(work / "pg" / "data") as postgres,
            e2e_stack(postgres, work / "stack", "127.0.0.1", env=TIMINGS) as stack,
        ):
            try:
                asyncio.run(run(stack, work, args))
            except TimeoutError as exc:
                print(stack.logs(20), file=sys.stderr)
                raise SystemExit(
                    f"timed out after {args.timeout:.0f} s waiting for {exc or 'enrollment'}"
                ) from None
            except BaseException:
                print(stack.logs(20), file=sys.stderr)
                raise


if __name__ == "__main__":
    main()
