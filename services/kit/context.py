"""Who is calling and on which request: set once per RPC by the interceptor, read by use cases."""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from services.kit.errors import PermissionDenied, Unauthenticated

__all__ = [
    "Principal",
    "CallContext",
    "current_call",
    "use_call",
    "calling",
    "service_call",
    "require_role",
    "require_user",
    "require_caller",
    "require_agent",
    "service_peer",
    "ADMIN",
    "OPERATOR",
    "VIEWER",
    "USER_ROLES",
    "WRITE_ROLES",
    "AGENT",
    "SERVICE",
    "GATEWAY",
]

PrincipalKind = Literal["user", "service", "agent"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a person (from an access token) or a machine (from its certificate)."""

    kind: PrincipalKind
    subject: str
    role: str
    name: str = ""
    token_id: str = ""
    session_id: str = ""
    # A user's access token expires here (its `exp`), which bounds what the token may open; None for machines.
    expires_at: datetime | None = None

    @property
    def label(self) -> str:
        """How audit records and logs name this caller."""
        return f"{self.kind}:{self.name or self.subject}"


@dataclass(frozen=True)
class CallContext:
    """Facts about the current call that use cases may need (never read from the environment)."""

    request_id: str = ""
    client_address: str = ""
    user: Principal | None = None
    peer: Principal | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """The user on whose behalf the call runs, else the calling machine."""
        who = self.user or self.peer
        return who.label if who else "anonymous"


_current: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("convoy_call", default=None)


def current_call() -> CallContext:
    """The call being served; outside any call (a CLI, a background job), an anonymous one."""
    return _current.get() or CallContext()


def use_call(call: CallContext) -> contextvars.Token[CallContext | None]:
    return _current.set(call)


@contextlib.contextmanager
def calling(call: CallContext) -> Iterator[CallContext]:
    """The call context of work no request started (a background loop), for the duration of a block."""
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)


def service_call(name: str, purpose: str) -> contextlib.AbstractContextManager[CallContext]:
    """The call context of a service's own background work (a reconcile pass, a schedule firing): its
    audit records name the service as their actor, its request id says which work it was."""
    principal = Principal(kind=SERVICE, subject=name, role=SERVICE, name=name)
    return calling(CallContext(request_id=f"{purpose}-{uuid.uuid4().hex[:12]}", peer=principal))


def require_user(call: CallContext | None = None) -> Principal:
    call = call or current_call()
    if call.user is None:
        raise Unauthenticated("an access token is required")
    return call.user


def require_role(*roles: str, call: CallContext | None = None) -> Principal:
    """The calling user if its role is one of `roles`; PermissionDenied otherwise."""
    user = require_user(call)
    if user.role not in roles:
        raise PermissionDenied(f"role {user.role!r} may not do this (needs {' or '.join(roles)})")
    return user


def require_caller(*roles: str, call: CallContext | None = None) -> Principal:
    """A user whose role is one of `roles`, or, when the call carries no access token, a service.

    Services act for themselves (audit writes, enrollment, reconciling); agents and anonymous callers
    never pass, and neither does the gateway without a token: it always forwards its user's token, so a
    call from it without one has no person behind it. A node stays a node even with a person's token:
    what it may do is decided by its own RPCs (require_agent), never by a token that leaked to it.
    """
    call = call or current_call()
    if call.peer is not None and call.peer.kind == AGENT:
        raise PermissionDenied("a node certificate does not allow this call")
    if call.user is not None:
        return require_role(*roles, call=call)
    peer = service_peer(call)
    if peer is None:
        raise Unauthenticated("an access token is required")
    return peer


def service_peer(call: CallContext | None = None) -> Principal | None:
    """The calling service when the call is a service acting for itself: its certificate, no user token,
    and not the gateway (which only ever acts for a user)."""
    call = call or current_call()
    peer = call.peer
    if call.user is None and peer is not None and peer.kind == SERVICE and peer.name != GATEWAY:
        return peer
    return None


def require_agent(call: CallContext | None = None) -> str:
    """The id of the calling node, taken from its certificate only (never from a request field)."""
    call = call or current_call()
    peer = call.peer
    if peer is None or peer.kind != AGENT:
        raise Unauthenticated("a node certificate is required")
    return peer.subject


# Roles of people; machines get "service" (internal certificates) or "agent" (node certificates).
ADMIN, OPERATOR, VIEWER = "admin", "operator", "viewer"
USER_ROLES = (ADMIN, OPERATOR, VIEWER)
WRITE_ROLES = (ADMIN, OPERATOR)
# Final: each is also the PrincipalKind of the machines it names.
AGENT: Final = "agent"
SERVICE: Final = "service"
# The certificate name of the HTTP gateway, which acts only on behalf of users.
GATEWAY = "gateway"
