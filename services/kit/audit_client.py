"""Writes audit records to auth's log on behalf of the current call (for services other than auth)."""

from __future__ import annotations

import logging

import grpc

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from services.kit.context import Principal, current_call, require_caller, service_peer
from services.kit.errors import PermissionDenied, Unavailable

__all__ = ["AuditClient", "outgoing_metadata", "SUCCESS", "DENIED", "FAILURE"]

log = logging.getLogger("convoy.audit")

SUCCESS, DENIED, FAILURE = "success", "denied", "failure"
_RESULTS = {
    SUCCESS: auth_pb.AUDIT_RESULT_SUCCESS,
    DENIED: auth_pb.AUDIT_RESULT_DENIED,
    FAILURE: auth_pb.AUDIT_RESULT_FAILURE,
}


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    """The request id and client address of the current call, for the calls it makes in turn."""
    call = current_call()
    items = [("x-request-id", call.request_id), ("x-client-address", call.client_address)]
    return tuple((key, value) for key, value in items if value)


class AuditClient:
    """One record per change, written before the change commits: no record, no change."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: float = 5.0) -> None:
        self._stub = auth_grpc.AuditServiceStub(channel)
        self._timeout = timeout

    async def record(self, action: str, target: str, *, result: str = SUCCESS, reason: str = "") -> None:
        request = auth_pb.RecordAuditRequest(
            action=action, target=target, result=_RESULTS[result], reason=reason, actor=current_call().actor
        )
        try:
            await self._stub.RecordAudit(request, metadata=outgoing_metadata(), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            log.error("could not write the audit record for %s %s: %s", action, target, exc.code().name)
            raise Unavailable("the audit log is unavailable, so nothing was changed; retry shortly") from exc

    async def authorize(self, action: str, target: str, *roles: str) -> Principal:
        """`require_caller(*roles)`, and a refusal is written to the audit log before it is raised."""
        try:
            return require_caller(*roles)
        except PermissionDenied as exc:
            try:
                await self.record(action, target, result=DENIED, reason=exc.message)
            except Unavailable:
                pass  # the caller is refused either way; record() has logged the loss
            raise

    async def authorize_service(self, action: str, target: str, reason: str) -> Principal:
        """Only a service acting for itself may go on (bookkeeping between services, agent reports);
        anyone else is refused with `reason`, and the refusal is audited."""
        peer = service_peer()
        if peer is not None:
            return peer
        try:
            await self.record(action, target, result=DENIED, reason=reason)
        except Unavailable:
            pass  # the caller is refused either way; record() has logged the loss
        raise PermissionDenied(reason)
