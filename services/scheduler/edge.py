"""The agents' side of the scheduler: AgentService on servers of its own (Connect and Renew on the agent
port, Enroll on the enrollment port), the Connect streams with their pushes, and the offline sweep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import grpc
from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from services.kit.context import require_agent
from services.kit.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from services.kit.grants import issue_grant
from services.kit.grpc_server import GrpcServer, ListenPort
from services.kit.hints import RECONCILE_CHANNEL
from services.kit.pki import CertifiedKey, load_certified_key
from services.kit.runtime import ServiceRuntime
from services.kit.timestamps import to_timestamp
from services.kit.tls import load_node_ca, peer_certificate, server_credentials
from services.scheduler import dispatch, metrics
from services.scheduler.config import SchedulerSettings
from services.scheduler.enrollment import (
    FAMILY_BY_FORMAT,
    REVOKED,
    EnrollmentUseCases,
    Inventory,
    peer_ip,
    revoked_message,
    utcnow,
)
from services.scheduler.events import NODE_CHANNEL
from services.scheduler.notify import Listener
from services.scheduler.sessions import (
    REVOKED_CHANNEL,
    NodeBook,
    Quiet,
    Session,
    SessionRegistry,
    WatchBook,
)
from services.scheduler.traces import relay_agent_spans

__all__ = ["AgentEdge", "AgentServicer", "EnrollServicer", "Streams"]

log = logging.getLogger("convoy.scheduler.edge")

_FAMILY_BY_FORMAT_NAME = {"deb": inv_pb.PACKAGE_FAMILY_DEB, "rpm": inv_pb.PACKAGE_FAMILY_RPM}
# Results after which inventory learns the installed version (the node's package database said so).
_CHANGED_STATES = (agent_pb.TASK_STATE_SUCCEEDED, agent_pb.TASK_STATE_UNCHANGED)
# A stream not woken by a notification reads its node's work again after this many poll_seconds: one
# read per node every ten seconds by default, on top of its heartbeats' writes.
_RECHECK_POLLS = 5


class Streams:
    """Connect: one session per stream, a reader task for what the agent sends and a pusher task for the
    work dispatch has for it; everything the stream sends goes through the session's outbox."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        settings: SchedulerSettings,
        enrollment: EnrollmentUseCases,
        signer: CertifiedKey | None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.audit, self.settings = runtime.db, runtime.audit, settings
        self.enrollment, self.book, self.sessions = enrollment, enrollment.book, enrollment.sessions
        self.inventory, self.signer, self.now = enrollment.inventory, signer, clock
        self.watch = WatchBook(
            runtime.db, self.sessions, interval=settings.reconcile_seconds, retry=settings.poll_seconds
        )
        self.transfer_address = (
            settings.transfer_advertise or f":{settings.transfer_target.rpartition(':')[2]}"
        )

    async def serve(
        self,
        requests: AsyncIterator[agent_pb.AgentMessage],
        peer: str,
        certificate: x509.Certificate | None = None,
    ) -> AsyncIterator[Any]:
        """`certificate`: the agent's, refused when an enrollment of its node id came after it."""
        node_id = require_agent()
        # Registered before the revocation is checked: a revocation committed after the check finds the
        # session and closes it (its NOTIFY), one committed before is seen by the check.
        session = self.sessions.open(node_id, self.now())
        tasks: list[asyncio.Task[None]] = []
        try:
            await self.enrollment.refuse_revoked(node_id, "agent.connect", certificate)
            await self.book.connected(node_id, "", session.connected_at)
            tasks = [
                asyncio.create_task(self._read(session, requests, peer)),
                asyncio.create_task(self._push(session)),
            ]
            async for message in session.messages():
                yield message
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.sessions.release(session)
            metrics.agent_gone(session)
            await self._forget(session)

    async def _forget(self, session: Session) -> None:
        try:
            await self.book.disconnected(session.node_id, session.connected_at, self.now())
        except (SQLAlchemyError, OSError) as exc:
            # The sweep still finds the node by its silence (last_seen) and reports it offline.
            log.warning("could not record that node %s disconnected: %s", session.node_id, exc)

    async def _read(
        self, session: Session, requests: AsyncIterator[agent_pb.AgentMessage], peer: str
    ) -> None:
        try:
            async for message in requests:
                await self._handle(session, message, peer)
            session.end()  # the agent closed its side
        except DomainError as exc:
            session.end(exc)
        except Exception as exc:  # noqa: BLE001 - the stream ends with it (INTERNAL, logged by the interceptor)
            session.end(exc)

    async def _handle(self, session: Session, message: agent_pb.AgentMessage, peer: str) -> None:
        kind = message.WhichOneof("message")
        if kind == "hello":
            await self._hello(session, message.hello, peer)
        elif not session.hello:
            raise InvalidArgument("the first message of a stream must be hello")
        elif kind == "heartbeat":
            now = self.now()
            # One transaction per heartbeat (a thousand nodes send a hundred a second): the node was seen,
            # and, being alive, its work keeps its leases (a long install is not given up on).
            async with self.db.transaction() as tx:
                await self.book.seen(tx, session.node_id, now)
                await dispatch.touch(self.db, session.node_id, now=now, session=tx)
        elif kind == "progress":
            await self._reported(session, message.progress, dispatch.record_progress)
        elif kind == "result":
            await self._result(session, message.result)
        elif kind == "installed":
            await self._record_installed(session.node_id, message.installed.installed)
        else:
            raise InvalidArgument(
                "an agent message must carry hello, heartbeat, progress, result or installed"
            )

    async def _hello(self, session: Session, hello: agent_pb.Hello, peer: str) -> None:
        """Facts, online status and the full installed set go to inventory (which hints the reconciler when
        the node came online or its installed set changed), then the node gets its work and its watch list."""
        node_id, now = session.node_id, self.now()
        await self.book.connected(node_id, hello.facts.hostname, session.connected_at)
        await self.inventory.record_facts(node_id, hello.facts, peer_ip(peer))
        await self.inventory.set_status(node_id, inv_pb.SERVER_STATUS_ONLINE, now)
        await self._record_installed(node_id, hello.installed)
        metrics.agent_connected(session, hello.facts.package_family)
        session.hello = True
        session.wake.set()
        self.watch.tell(session)

    async def _record_installed(self, node_id: str, software: Iterable[agent_pb.InstalledSoftware]) -> None:
        """The node's whole installed set (Hello, InstalledReport) replaces what inventory had from it. A
        failure ends the stream: the agent reconnects and its Hello carries the set again."""
        installed = [
            _installed(item.name, item.version, FAMILY_BY_FORMAT.get(item.format)) for item in software
        ]
        await self.inventory.record_installed(node_id, installed, merge=False)

    async def _reported(self, session: Session, report: Any, record: Callable[..., Any]) -> Any:
        """The dispatch function's answer, or None when the scheduler has no such assignment (a database
        restored from before it, say): ending the stream would not help, the agent would report it again
        after every reconnect. A report about another node's assignment is audited and ends the stream
        (PERMISSION_DENIED)."""
        try:
            return await record(self.db, self.audit, session.node_id, report)
        except NotFound as exc:
            # Debug only: a task the scheduler forgot may report progress every second until it ends.
            log.debug("ignoring a report of node %s: %s", session.node_id, exc.message)
            return None
        except PermissionDenied as exc:
            target = f"assignment:{report.assignment_id[:64]}"
            await self.enrollment.record_denial("assignment.report", target, exc.message)
            raise

    async def _result(self, session: Session, result: agent_pb.TaskResult) -> None:
        """Acknowledged once recorded and, for a change, once inventory has it: until then the agent
        keeps the result and sends it again after a reconnect. The result of an assignment the scheduler
        does not know is acknowledged too, so that the agent drops it."""
        outcome = await self._reported(session, result, dispatch.record_result)
        if outcome is not None and outcome.recorded:
            relay_agent_spans(outcome.traceparent, result.spans, session.node_id)
        if outcome is None:
            log.warning(
                "dropping the result of assignment %s (attempt %d) of node %s: the scheduler has no such"
                " assignment",
                result.assignment_id[:64],
                result.attempt,
                session.node_id,
            )
        # Also for an attempt a retry replaced: the node's software did change.
        elif result.state in _CHANGED_STATES and outcome.software_name:
            family = _FAMILY_BY_FORMAT_NAME.get(outcome.format)
            item = _installed(outcome.software_name, outcome.installed_version, family, deployment=True)
            try:
                await self.inventory.record_installed(session.node_id, [item], merge=True)
            except Unavailable as exc:
                log.warning("result of %s kept unacknowledged: %s", result.assignment_id, exc.message)
                return
            except DomainError as exc:
                log.error("inventory refused the result of %s: %s", result.assignment_id, exc.message)
        ack = agent_pb.Ack(assignment_id=result.assignment_id, attempt=result.attempt)
        session.push(agent_pb.ServerMessage(ack=ack))

    async def _push(self, session: Session) -> None:
        """Sends what the node has not been told on this stream, whenever woken (hello, NOTIFY) and now
        and then without.

        Anything unexpected ends the stream as UNAVAILABLE (the node reconnects and is sent its work
        again) rather than leaving a stream open that pushes nothing any more."""
        try:
            await self._push_forever(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pushing work to node %s failed; closing its stream", session.node_id)
            session.end(Unavailable("the scheduler could not send this node its work; reconnect"))

    async def _push_forever(self, session: Session) -> None:
        """Looks again every few polls even when not woken: notifications are hints, and one lost (a LISTEN
        connection that died without a word) must not leave the node's work unsent."""
        recheck = self.settings.poll_seconds * _RECHECK_POLLS
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.wake.wait(), recheck)
            session.wake.clear()
            if not session.hello:
                continue
            try:
                work = await dispatch.work_for_node(self.db, session.node_id, pushing=True, now=self.now())
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not read the work of node %s, retrying: %s", session.node_id, exc)
                await asyncio.sleep(self.settings.poll_seconds)
                session.wake.set()
                continue
            for message in list(self._messages(session, work)):
                session.push(message)

    def _messages(self, session: Session, work: dispatch.NodeWork) -> Iterator[agent_pb.ServerMessage]:
        for row in work.assignments:
            if session.first_time("assignment", str(row.assignment_id), row.attempt):
                yield agent_pb.ServerMessage(assignment=self._assignment(session.node_id, row))
        for assignment_id, attempt in work.cancels:
            if session.first_time("cancel", str(assignment_id), attempt):
                cancel = agent_pb.Cancel(
                    assignment_id=str(assignment_id), reason="the deployment was cancelled"
                )
                yield agent_pb.ServerMessage(cancel=cancel)
        for assignment_id, attempt in work.approvals:
            if session.first_time("approve", str(assignment_id), attempt):
                approve = agent_pb.Approve(assignment_id=str(assignment_id), attempt=attempt)
                yield agent_pb.ServerMessage(approve=approve)

    def _assignment(self, node_id: str, row: dispatch.AssignmentRow) -> agent_pb.Assignment:
        """The row as the agent gets it, with a grant made now for this node and this blob only."""
        message = dispatch.assignment_message(row)
        message.transfer_address = self.transfer_address
        if row.sha256 and self.signer is not None:
            ttl = timedelta(seconds=self.settings.grant_ttl_seconds)
            message.download_grant = issue_grant(self.signer, node_id=node_id, sha256=row.sha256, ttl=ttl)
        return message

    async def sweep(self) -> None:
        """Reports offline the nodes gone quiet for longer than the grace (once each; a reconnect resets)."""
        grace = timedelta(seconds=self.settings.offline_grace_seconds)
        heartbeat = timedelta(seconds=self.settings.heartbeat_seconds)
        for node in await self.book.quiet(self.now(), grace, heartbeat):
            if self.sessions.get(node.node_id) is None:
                await self._report_offline(node)

    async def _report_offline(self, node: Quiet) -> None:
        try:
            # Dated when the stream ended: inventory ignores it if the node has been seen since.
            await self.inventory.set_status(node.node_id, inv_pb.SERVER_STATUS_OFFLINE, node.since)
        except (NotFound, FailedPrecondition, InvalidArgument) as exc:
            log.info("node %s is not marked offline in inventory: %s", node.node_id, exc.message)
        await self.book.reported_offline(node, self.now())


def _installed(
    name: str, version: str, family: int | None, *, deployment: bool = False
) -> inv_pb.InstalledSoftware:
    source = inv_pb.INSTALLED_SOURCE_DEPLOYMENT if deployment else inv_pb.INSTALLED_SOURCE_AGENT_REPORT
    return inv_pb.InstalledSoftware(
        name=name, version=version, package_family=family or inv_pb.PACKAGE_FAMILY_UNSPECIFIED, source=source
    )


class EnrollServicer(agent_grpc.AgentServiceServicer):
    """AgentService as the enrollment port serves it, to callers without a certificate: Enroll only (the
    base class answers UNIMPLEMENTED for the rest)."""

    def __init__(self, edge: AgentEdge) -> None:
        self._edge = edge

    async def Enroll(self, request: agent_pb.EnrollRequest, context: grpc.aio.ServicerContext) -> Any:
        with metrics.enrollment_answered():
            enrolled = await self._edge.enrollment.enroll(
                request.token, request.csr_pem, request.facts, context.peer()
            )
        return agent_pb.EnrollResponse(
            node_id=enrolled.node_id,
            certificate_pem=enrolled.certificate_pem,
            ca_certificate_pem=enrolled.ca_certificate_pem,
            not_after=to_timestamp(enrolled.not_after),
            agent_address=self._edge.agent_address,
        )


class AgentServicer(agent_grpc.AgentServiceServicer):
    """AgentService as the agent port serves it, to nodes with their certificates: Renew and Connect (the
    base class answers UNIMPLEMENTED for Enroll)."""

    def __init__(self, edge: AgentEdge) -> None:
        self._edge = edge

    async def Renew(self, request: agent_pb.RenewRequest, context: grpc.aio.ServicerContext) -> Any:
        certificate_pem, not_after = await self._edge.enrollment.renew(
            request.csr_pem, peer_certificate(context)
        )
        return agent_pb.RenewResponse(certificate_pem=certificate_pem, not_after=to_timestamp(not_after))

    async def Connect(
        self, request_iterator: AsyncIterator[agent_pb.AgentMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        messages = self._edge.streams.serve(request_iterator, context.peer(), peer_certificate(context))
        async for message in messages:
            yield message


class AgentEdge:
    """What the scheduler process adds for agents. Wiring, in the process:

    listener = Listener(database_url, (..., *AgentEdge.CHANNELS))
    edge = AgentEdge(runtime, settings, inventory=..., listener=listener, process=process_id())
    await runtime.start(); await edge.start()   # and the listener runs; edge.agent_port, edge.enroll_port
    ...
    await edge.revoke(server_id, reason)   # RevokeServer
    ...
    await asyncio.gather(edge.stop(), runtime.server.stop()); await runtime.close()

    The agent and enrollment ports are servers of their own, which serve AgentService alone: whatever
    the process serves on its internal port (mutual TLS with the service CA) is out of reach there.
    """

    # What the edge hears: new work for a node, revocations, and policy changes (its agents' watch lists).
    CHANNELS = (NODE_CHANNEL, REVOKED_CHANNEL, RECONCILE_CHANNEL)

    def __init__(
        self,
        runtime: ServiceRuntime,
        settings: SchedulerSettings,
        *,
        inventory: grpc.aio.Channel,
        listener: Listener,
        process: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`listener`: the process's LISTEN connection, listening on CHANNELS too (the process runs it);
        `process`: the process's id (sessions.process_id)."""
        self.settings = settings
        self.sessions = SessionRegistry()
        self.book = NodeBook(runtime.db, process)
        self.inventory = Inventory(inventory, timeout=settings.upstream_timeout_seconds)
        self.enrollment = EnrollmentUseCases(
            runtime.db,
            runtime.audit,
            self.book,
            self.sessions,
            runtime.auth_channel,
            self.inventory,
            timeout=settings.upstream_timeout_seconds,
            clock=clock,
        )
        self.streams = Streams(runtime, settings, self.enrollment, _signer(settings), clock)
        self.listener = listener
        self._subscriptions = contextlib.ExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self.agent_server, self.enroll_server = self._servers(runtime)
        self.agent_port = self.enroll_port = 0

    @property
    def agent_address(self) -> str:
        """Where enrolled agents connect: the advertised address, or the agent port on the enrollment host."""
        return self.settings.agent_advertise or f":{self.agent_port}"

    def _servers(self, runtime: ServiceRuntime) -> tuple[GrpcServer, GrpcServer]:
        """The agent port (mutual TLS with the node CA: Renew, Connect) and the enrollment port (server-only
        TLS: Enroll), each a server of its own."""
        files, node_ca = self.settings.tls_files(), load_node_ca(self.settings)
        agent_credentials = enroll_credentials = None
        if files is not None:
            if node_ca is None:
                raise ValueError("the agent port needs the node CA certificate (node_ca or pki_dir)")
            agent_credentials = server_credentials(files, client_roots=node_ca.pem)
            enroll_credentials = server_credentials(files, require_client_auth=False)
        agent = runtime.port_server(ListenPort(self.settings.agent_listen, agent_credentials))
        if node_ca is not None:
            agent.recognise_nodes(node_ca)
        enroll = runtime.port_server(ListenPort(self.settings.enroll_listen, enroll_credentials))
        service = agent_pb.DESCRIPTOR.services_by_name["AgentService"]
        agent.add(agent_grpc.add_AgentServiceServicer_to_server, AgentServicer(self), service)
        enroll.add(agent_grpc.add_AgentServiceServicer_to_server, EnrollServicer(self), service)
        return agent, enroll

    async def start(self) -> None:
        """Listens for new work, revocations and policy changes, starts the offline sweep, then opens the
        agent and enrollment ports."""
        self._subscriptions.enter_context(self.listener.subscribe(NODE_CHANNEL, self._on_node))
        self._subscriptions.enter_context(self.listener.subscribe(REVOKED_CHANNEL, self._on_revoked))
        self._subscriptions.enter_context(self.listener.subscribe(RECONCILE_CHANNEL, self.streams.watch.hint))
        self._tasks.append(asyncio.create_task(self._sweep_forever()))
        self._tasks.append(asyncio.create_task(self.streams.watch.run()))
        self.agent_port = await self.agent_server.start()
        self.enroll_port = await self.enroll_server.start()

    async def stop(self) -> None:
        """Tells every connected agent to go elsewhere while its port still delivers that, drains and stops
        the agent and enrollment ports, then stops listening."""
        self.sessions.close_all("the scheduler is stopping")
        await asyncio.gather(self.agent_server.stop(), self.enroll_server.stop())
        self._subscriptions.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def revoke(self, server_id: str, reason: str) -> None:
        """RevokeServer: needs an operator's or admin's token on the current call (forwarded to auth)."""
        await self.enrollment.revoke(server_id, reason)

    def _on_node(self, payload: str) -> None:
        if payload:
            self.sessions.wake(payload)
        else:  # reconnected: a notification may have been missed
            self.sessions.wake_all()

    def _on_revoked(self, payload: str) -> None:
        # "" after the listener reconnected: a revocation may have been missed, so look at every stream.
        for node_id in [payload] if payload else self.sessions.node_ids():
            if self.sessions.get(node_id) is not None:
                task = asyncio.create_task(self._close_if_revoked(node_id))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def _close_if_revoked(self, node_id: str) -> None:
        """Closes the node's stream with the revocation's reason, read from the nodes table."""
        try:
            reason = await self.book.revocation(node_id)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not read the revocation of node %s: %s", node_id, exc)
            reason = ""  # a notification said so: close rather than keep a revoked node connected
        if reason is not None:
            self.sessions.close(node_id, PermissionDenied(REVOKED), revoked_message(reason))

    async def _sweep_forever(self) -> None:
        interval = max(0.5, min(self.settings.heartbeat_seconds, self.settings.offline_grace_seconds or 1.0))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.streams.sweep()
            except (DomainError, SQLAlchemyError, OSError) as exc:
                log.warning("offline sweep failed, retrying: %s", exc)


def _signer(settings: SchedulerSettings) -> CertifiedKey | None:
    """The scheduler's own certificate and key sign download grants (transfer trusts the service CA)."""
    files = settings.tls_files()
    if files is None:
        log.warning("no TLS files: assignments carry no download grant (dev mode only)")
        return None
    return load_certified_key(files.cert, files.key)
