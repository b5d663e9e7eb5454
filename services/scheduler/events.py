"""Events of deployments and targets: appended in commit order at the end of a transaction, then announced.

Every transaction that changes a deployment or a target collects its events in a `Changes` and calls
`flush` as its last step. The flush takes one advisory lock for the rest of the transaction before it
inserts, so events become visible in the order of their sequence numbers: a watcher that has seen
sequence N never later finds a smaller one committed (which a plain bigserial would allow). The
notification `convoy_events` carries `<last sequence>:<deployment ids>` so watchers of one deployment
wake only for it.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, text

from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.db import AsyncSession
from services.kit.hints import RECONCILE_CHANNEL
from services.kit.timestamps import to_timestamp
from services.scheduler.messages import deployment_to_proto, target_to_proto
from services.scheduler.metrics import target_finished
from services.scheduler.models import FINAL_TARGET_STATES, Deployment, Event, Target
from services.scheduler.store import counts_of

__all__ = [
    "EVENTS_CHANNEL",
    "ROLLOUT_CHANNEL",
    "NODE_CHANNEL",
    "RECONCILE_CHANNEL",
    "Changes",
    "event_from_row",
    "events_payload",
    "concerns",
    "notify",
]

EVENTS_CHANNEL = "convoy_events"
# Wakes the rollout loops of every scheduler process (a hint: they poll as well).
ROLLOUT_CHANNEL = "convoy_rollout"
# Payload: a node id whose work changed; the process holding that node's stream pushes it.
NODE_CHANNEL = "convoy_node"
_EVENTS_LOCK = zlib.crc32(b"scheduler.events") - 2**31
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
_MAX_PAYLOAD = 7900
_INSERT_SLICE = 1000


@dataclass
class Changes:
    """What one transaction changed, announced by `flush` at its end."""

    now: datetime
    events: list[tuple[uuid.UUID, bytes]] = field(default_factory=list)
    nodes: set[uuid.UUID] = field(default_factory=set)
    rollout: bool = False
    reconcile: set[str] = field(default_factory=set)
    # States of the targets that became final, counted in the metrics once the transaction commits.
    finished: list[str] = field(default_factory=list)

    async def deployment(
        self, session: AsyncSession, row: Deployment, counts: Mapping[str, int] | None = None
    ) -> None:
        """An event with the deployment as it is now, counts included."""
        if counts is None:
            counts = await counts_of(session, row.id)
        message = pb.DeploymentEvent(deployment_id=str(row.id), deployment=deployment_to_proto(row, counts))
        self.events.append((row.id, message.SerializeToString()))

    def target(self, row: Target) -> None:
        message = pb.DeploymentEvent(deployment_id=str(row.deployment_id), target=target_to_proto(row))
        self.events.append((row.deployment_id, message.SerializeToString()))
        if row.state in FINAL_TARGET_STATES:
            self.finished.append(row.state)

    def compliance(self, message: pb.NodeCompliance) -> None:
        """A node's compliance with a policy changed state: an event under the policy's id (a watcher of
        one deployment never sees it; a watcher of everything does)."""
        event = pb.DeploymentEvent(compliance=message)
        self.events.append((uuid.UUID(message.policy_id), event.SerializeToString()))

    def node(self, server_id: uuid.UUID) -> None:
        self.nodes.add(server_id)

    def wake_rollout(self) -> None:
        self.rollout = True

    def wake_reconciler(self, hint: str = "") -> None:
        """`hint`: what changed, as RECONCILE_CHANNEL payloads name it."""
        self.reconcile.add(hint)

    async def flush(self, session: AsyncSession) -> None:
        """Appends the events and queues the notifications (PostgreSQL delivers them on commit).

        The node and rollout notifications go first, in one statement, so that the events lock (which
        every writer of events waits for until it commits) is held for as short a time as possible."""
        connection = await session.connection()
        if self.nodes:
            await connection.execute(
                text("SELECT pg_notify(:channel, n) FROM unnest(CAST(:ids AS text[])) AS n"),
                {"channel": NODE_CHANNEL, "ids": [str(server_id) for server_id in sorted(self.nodes)]},
            )
        if self.rollout:
            await notify(connection, ROLLOUT_CHANNEL, "")
        for hint in sorted(self.reconcile):
            await notify(connection, RECONCILE_CHANNEL, hint)
        if self.events:
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENTS_LOCK})
            rows = [{"time": self.now, "deployment_id": d, "payload": p} for d, p in self.events]
            last = 0
            # In slices: one statement takes at most 32,767 parameters, and a deployment to 10,000 nodes
            # writes an event per node. The lock keeps the slices' sequences together and in order.
            for start in range(0, len(rows), _INSERT_SLICE):
                statement = (
                    insert(Event).values(rows[start : start + _INSERT_SLICE]).returning(Event.sequence)
                )  # type: ignore[arg-type]
                result = await connection.execute(statement)
                last = max(last, *result.scalars())
            deployments = sorted({str(deployment_id) for deployment_id, _ in self.events})
            await notify(connection, EVENTS_CHANNEL, events_payload(last, deployments))
        target_finished(session, self.finished)
        self.events.clear()
        self.finished.clear()
        self.nodes.clear()
        self.rollout = False
        self.reconcile.clear()


def events_payload(sequence: int, deployment_ids: list[str]) -> str:
    """`<sequence>:<id>,<id>…`, so that watchers of other deployments need not look; `<sequence>:*` when
    the ids would not fit in a NOTIFY payload."""
    payload = f"{sequence}:{','.join(deployment_ids)}"
    return payload if len(payload) <= _MAX_PAYLOAD else f"{sequence}:*"


def concerns(payload: str, deployment_id: str) -> bool:
    """Whether a convoy_events notification may carry events of the deployment ("" and old-style
    payloads without ids: maybe)."""
    _, colon, ids = payload.partition(":")
    if not colon:
        return True
    return ids == "*" or deployment_id in ids.split(",")


async def notify(connection: object, channel: str, payload: str) -> None:
    """Queues a notification on the transaction's connection (PostgreSQL delivers it on commit)."""
    await connection.execute(  # type: ignore[attr-defined]
        text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
    )


def event_from_row(sequence: int, time: datetime, payload: bytes) -> pb.DeploymentEvent:
    event = pb.DeploymentEvent.FromString(payload)
    event.sequence = sequence
    event.time.CopyFrom(to_timestamp(time))
    return event
