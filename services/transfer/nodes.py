"""What auth says about a node (enrolled, revoked, when it last enrolled), asked before a node downloads and
kept a few seconds, so that a download resumed chunk by chunk does not ask for every request."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import grpc

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from services.kit.audit_client import outgoing_metadata
from services.kit.errors import Unavailable
from services.kit.timestamps import from_timestamp

__all__ = ["NodeStatus", "NodeStatuses"]


@dataclass(frozen=True)
class NodeStatus:
    enrolled: bool
    revoked: bool
    enrolled_at: datetime | None


class NodeStatuses:
    """auth's GetNodeStatus with a small cache: at most `size` nodes, each answer kept `ttl` seconds (a
    revocation reaches downloads within that time; the scheduler closes the node's stream at once)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout: float,
        ttl: float,
        size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = auth_grpc.EnrollmentServiceStub(channel)
        self._timeout, self._ttl, self._size, self._clock = timeout, ttl, size, clock
        self._answers: OrderedDict[str, tuple[float, NodeStatus]] = OrderedDict()

    async def get(self, node_id: str) -> NodeStatus:
        now = self._clock()
        cached = self._answers.get(node_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        status = await self._ask(node_id)
        self._answers[node_id] = (now, status)
        self._answers.move_to_end(node_id)
        while len(self._answers) > self._size:
            self._answers.popitem(last=False)
        return status

    async def _ask(self, node_id: str) -> NodeStatus:
        try:
            reply = await self._stub.GetNodeStatus(
                auth_pb.GetNodeStatusRequest(node_id=node_id),
                metadata=outgoing_metadata(),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            # Not the node's fault: it retries, and is checked again then.
            raise Unavailable(f"cannot check this node with auth ({exc.code().name}); retry shortly") from exc
        return NodeStatus(reply.enrolled, reply.revoked, from_timestamp(reply, "enrolled_at"))
