"""The task runner: what the agent does with an assignment, one worker thread per task.

journal → installed check → download (resumable, sha256 verified) → approval wait when asked for →
executor → verify → result. The journal makes every step safe to repeat: a re-delivered assignment whose
result is recorded is answered with that result, one that is running is left to its thread, and after a
crash the unfinished ones are recovered with the package tool and reported in their verified state.
A cancel is honoured until the package operation starts, never in the middle of it; it aborts a running
download at once.

Two tasks on one node never run package operations at the same time: every package operation holds the
install lock (locks.InstallLock, shared with the package command so that it outlives a killed agent) and
checks the installed version again under it; each artifact is downloaded by one task at a time (a lock per
sha256), and a finished download is kept while another live task still needs it.
"""

import collections
import functools
import json
import logging
import os
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from google.protobuf import timestamp_pb2

from convoy_agent import approvals, installed, locks, metrics, spans
from convoy_agent import config as configuration
from convoy_agent.executors.base import ExecutorError, NoRuntimeError
from convoy_agent.files import write_atomically
from convoy_agent.proto import agent_pb2

LOG = logging.getLogger("convoy_agent.tasks")
# Every (software, format) Convoy has handled on this node, kept for good: Hello reports their versions.
MANAGED_FILE = "managed.json"

ASSIGNED = agent_pb2.TASK_STATE_ASSIGNED
DOWNLOADING = agent_pb2.TASK_STATE_DOWNLOADING
INSTALLING = agent_pb2.TASK_STATE_INSTALLING
AWAITING_APPROVAL = agent_pb2.TASK_STATE_AWAITING_APPROVAL
SUCCEEDED = agent_pb2.TASK_STATE_SUCCEEDED
UNCHANGED = agent_pb2.TASK_STATE_UNCHANGED
FAILED = agent_pb2.TASK_STATE_FAILED
SKIPPED = agent_pb2.TASK_STATE_SKIPPED
CANCELLED = agent_pb2.TASK_STATE_CANCELLED

# The journal's names for the states a task passes through before its result.
JOURNAL_STATES = {
    ASSIGNED: "assigned",
    DOWNLOADING: "downloading",
    AWAITING_APPROVAL: "awaiting_approval",
    INSTALLING: "installing",
    SUCCEEDED: "succeeded",
    UNCHANGED: "unchanged",
    FAILED: "failed",
    SKIPPED: "skipped",
    CANCELLED: "cancelled",
}
FORMATS = {
    agent_pb2.FORMAT_DEB: "deb",
    agent_pb2.FORMAT_RPM: "rpm",
    agent_pb2.FORMAT_TAR: "tar",
    agent_pb2.FORMAT_CONTAINER: "container",
}
# Lines kept for a result's log tail, and how often buffered output goes out as progress.
LOG_TAIL_LINES = 200
FLUSH_SECONDS = 0.5
FLUSH_LINES = 50
APPROVAL_POLL_SECONDS = 0.5
LOCK_POLL_SECONDS = 0.2
# Without an assignment deadline: how long a download keeps retrying, and how long a task waits for
# another one's package operation.
DEFAULT_RETRY_SECONDS = 3600.0
# Package names as assignments may carry them: what dpkg, rpm and the tar records accept, never an option.
_PACKAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_~-]*")

Key = Tuple[str, int]


def valid_package_name(name: str) -> bool:
    return bool(_PACKAGE_NAME.fullmatch(name or ""))


class Cancelled(Exception):
    """The task was cancelled before its package operation started."""


class Interrupted(Exception):
    """The agent is stopping: the task ends without a result and runs again when it is redelivered."""


class TaskFailed(Exception):
    """The task ends in `state` (FAILED or SKIPPED) with this message."""

    def __init__(self, message: str, state: int = FAILED) -> None:
        super().__init__(message)
        self.state = state


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def requires_approval(assignment: agent_pb2.Assignment) -> bool:
    """The assignment's require_approval flag; False with messages generated before the field existed."""
    if "require_approval" not in assignment.DESCRIPTOR.fields_by_name:
        return False
    return bool(assignment.require_approval)


def target_version(package: agent_pb2.PackageFacts) -> str:
    """What the package database reports once the artifact is installed: version-release whenever the
    package has a release (rpm reports it so, the tar and container executors record it so, the catalog
    names it so), the version alone otherwise (a deb's revision is part of its version)."""
    if package.release:
        return package.version + "-" + package.release
    return package.version


def _download_facts(package: agent_pb2.PackageFacts) -> Dict[str, spans.Value]:
    return {"convoy.package.name": package.name, "convoy.package.bytes": package.size}


def _install_facts(assignment: agent_pb2.Assignment) -> Dict[str, spans.Value]:
    known = agent_pb2.Action.DESCRIPTOR.values_by_number.get(assignment.action)
    package = assignment.package
    return {
        "convoy.package.name": package.name,
        "convoy.package.version": target_version(package),
        "convoy.action": known.name[len("ACTION_") :].lower() if known else str(assignment.action),
    }


def deadline_of(assignment: agent_pb2.Assignment) -> Optional[float]:
    deadline = assignment.deadline
    if not deadline.seconds and not deadline.nanos:
        return None
    return deadline.seconds + deadline.nanos / 1e9


class Task:
    """One running assignment: its thread's view of cancel and approval, and its log."""

    def __init__(self, assignment: agent_pb2.Assignment) -> None:
        self.assignment = assignment
        self.key = (assignment.assignment_id, assignment.attempt)  # type: Key
        self.cancel_reason = None  # type: Optional[str]
        self.interrupted = False
        # Set by a cancel or a stop: wakes every wait of the task (retry sleeps, lock waits).
        self.stopped = threading.Event()
        self.approved = threading.Event()
        self.wake = threading.Event()
        self.installing = False
        # None: nothing written yet, so the first state rewrites whatever an earlier run left.
        self.journaled = None  # type: Optional[int]
        self.state = ASSIGNED
        self.percent = 0
        self.tail = collections.deque(maxlen=LOG_TAIL_LINES)  # type: Deque[str]
        self.unsent = []  # type: List[str]
        self.last_flush = 0.0
        self.lock = threading.Lock()
        self.started = time.time()
        self.deadline_at = deadline_of(assignment)  # type: Optional[float]
        # The running Download call, so that a cancel can abort it.
        self.call = None  # type: Any
        # Its phases, timed when the scheduler traces the assignment (calls send `trace.metadata()`).
        self.trace = spans.Recorder(assignment.traceparent)
        self.thread = None  # type: Optional[threading.Thread]

    def adopt(self, assignment: agent_pb2.Assignment) -> None:
        """A redelivery of this task: its grant (the first may have expired) and its deadline (the
        scheduler resets it, for instance on approval) replace the old ones; a later one wins."""
        with self.lock:
            updated = agent_pb2.Assignment()
            updated.CopyFrom(self.assignment)
            if assignment.download_grant:
                updated.download_grant = assignment.download_grant
            if assignment.transfer_address:
                updated.transfer_address = assignment.transfer_address
            fresh = deadline_of(assignment)
            if fresh is not None and (self.deadline_at is None or fresh > self.deadline_at):
                self.deadline_at = fresh
                updated.deadline.CopyFrom(assignment.deadline)
            self.assignment = updated

    def cancelled(self) -> bool:
        return self.cancel_reason is not None or self.interrupted

    def stop(self, reason: Optional[str], interrupt: bool = False) -> bool:
        """Cancels (or, for a stopping agent, interrupts) the task unless its package operation began;
        aborts a running download call. False when it is too late."""
        with self.lock:
            if self.installing:
                return False
            if interrupt:
                self.interrupted = True
            elif self.cancel_reason is None:
                self.cancel_reason = reason or "cancelled by the operator"
            call = self.call
        self.stopped.set()
        self.wake.set()
        if call is not None:
            call.cancel()
        return True

    def attach(self, call: Any) -> None:
        """The Download call now running (None when it is over); cancelled at once if the task is."""
        with self.lock:
            self.call = call
        if call is not None and self.cancelled():
            call.cancel()

    def sleep(self, seconds: float) -> None:
        """A wait that a cancel or a stop cuts short."""
        self.stopped.wait(seconds)

    def seconds_left(self, default: float) -> float:
        """Until the deadline (at most `default` without one); never below zero."""
        if self.deadline_at is None:
            return default
        return max(0.0, self.deadline_at - time.time())


class TaskRunner:
    """Runs assignments and tells the scheduler about them through `send` (connection.Agent.send).

    `journal` records each task and its result (journal.Journal); `executor_for(format)` gives the
    executor for a format name ("deb", …); `download(config, task, progress)` returns the verified
    artifact's path: it reads the grant from `task.assignment` for every call it opens (a redelivery may
    bring a fresh one), registers the call with `task.attach(call)` so that a cancel aborts it, and stops
    retrying at the task's deadline (cli.build_agent has the real one).
    """

    def __init__(
        self,
        config: configuration.Config,
        journal,
        executor_for: Callable[[str], object],
        download: Callable[..., str],
        send: Optional[Callable[[agent_pb2.AgentMessage], bool]] = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.executor_for = executor_for
        self.download = download
        self.send = send or (lambda message: False)
        # Called when a task ends (its package operation may have changed what is installed).
        self.task_ended = lambda: None  # type: Callable[[], None]
        self.watch_list = installed.WatchList(config.watch_file, valid_package_name)
        self._native = None  # type: Optional[int]
        self.tasks = {}  # type: Dict[Key, Task]
        self.lock = threading.Lock()
        self.install_lock = locks.InstallLock(config.state_dir)
        self.stopping = False
        self._downloads = {}  # type: Dict[str, threading.Lock]

    @property
    def command_timeout(self) -> float:
        return float(getattr(self.config, "command_timeout", 0) or 1800.0)

    # Called by the connection, on its thread.
    def submit(self, assignment: agent_pb2.Assignment) -> None:
        key = (assignment.assignment_id, assignment.attempt)
        with self.lock:
            task = self.tasks.get(key)
            if task is not None:
                # Re-delivered while it runs (a reconnect, a fresh grant): take the new grant and
                # deadline, say where it is; the thread goes on.
                task.adopt(assignment)
                self._progress(task, [])
                return
            entry = self.journal.get(*key)
            if entry is not None and entry.finished:
                self.send(agent_pb2.AgentMessage(result=agent_pb2.TaskResult.FromString(entry.result)))
                return
            if self.stopping:
                return  # the agent is going down; the scheduler delivers it again to the next run
            package = assignment.package
            if valid_package_name(package.name):
                self._remember(package.name, package.format)
            self.journal.begin(
                assignment.assignment_id,
                assignment.attempt,
                assignment.SerializeToString(),
                name=package.name if valid_package_name(package.name) else "",
                format=package.format,
            )
            task = Task(assignment)
            self.tasks[key] = task
            thread = threading.Thread(target=self._run, args=(task,), name="task-" + assignment.assignment_id)
            thread.daemon = True
            task.thread = thread
        thread.start()

    def cancel(self, assignment_id: str, reason: str) -> None:
        with self.lock:
            tasks = [task for key, task in self.tasks.items() if key[0] == assignment_id]
        for task in tasks:
            if not task.stop(reason or "cancelled by the operator"):
                self._log(task, "cancel refused: the package operation has begun and will finish")

    def approve(self, assignment_id: str, attempt: int) -> None:
        with self.lock:
            task = self.tasks.get((assignment_id, attempt))
        if task is not None:
            task.approved.set()
            task.wake.set()

    def stop_taking_work(self) -> None:
        with self.lock:
            self.stopping = True

    def shutdown(self, timeout: float) -> List[Key]:
        """For a stopping agent: takes no new work, interrupts the tasks that have not begun their package
        operation (they end without a result, journaled as they are, and run again when redelivered),
        and waits up to `timeout` seconds for the ones that have. Returns the tasks still running then."""
        with self.lock:
            self.stopping = True
            running = list(self.tasks.values())
        for task in running:
            task.stop(None, interrupt=True)
        limit = time.monotonic() + timeout
        for task in running:
            if task.thread is not None:
                task.thread.join(max(0.0, limit - time.monotonic()))
        return [task.key for task in running if task.thread is not None and task.thread.is_alive()]

    def acknowledged(self, assignment_id: str, attempt: int) -> None:
        self.journal.acknowledge(assignment_id, attempt)

    def pending_results(self) -> List[agent_pb2.TaskResult]:
        return [agent_pb2.TaskResult.FromString(entry.result) for entry in self.journal.unacknowledged()]

    def _managed_file(self) -> str:
        return self.config.state_path(MANAGED_FILE)

    def _remembered(self) -> List[Tuple[str, int]]:
        try:
            with open(self._managed_file()) as handle:
                return [(str(name), int(fmt)) for name, fmt in json.load(handle)]
        except (OSError, ValueError, TypeError) as error:
            if os.path.exists(self._managed_file()):
                LOG.warning("cannot read %s: %s", self._managed_file(), error)
            return []

    def _remember(self, name: str, fmt: int) -> None:
        """Software Convoy has handled here stays in Hello's report for good (the journal is pruned)."""
        known = self._remembered()
        if name and fmt and (name, fmt) not in known:
            known.append((name, fmt))
            write_atomically(self._managed_file(), json.dumps(known).encode("utf-8"))

    def managed(self) -> List[Tuple[str, int]]:
        """(name, format) of every software an assignment was ever about on this node."""
        seen = collections.OrderedDict()  # type: Dict[Tuple[str, int], None]
        for key in self._remembered():
            seen[key] = None
        for entry in self.journal.entries():
            name, fmt = entry.details.get("name"), entry.details.get("format")
            if name and fmt:
                seen[(str(name), int(fmt))] = None
        return [key for key in seen if valid_package_name(key[0])]

    def watch(self, names: List[str]) -> bool:
        """The scheduler's new watch list; True when it differs from the one kept."""
        try:
            return self.watch_list.replace(names)
        except OSError as error:
            LOG.warning("cannot keep the watch list in %s: %s", self.watch_list.path, error)
            return False

    def native_format(self) -> int:
        """The node's own package format (FORMAT_DEB or FORMAT_RPM; 0 without either tool), as the facts
        say it: watched software is looked up with that tool."""
        if self._native is None:
            from convoy_agent import facts

            family = facts.package_family(
                facts.read_os_release(), sandbox_root=self.config.sandbox_root or None
            )
            self._native = {facts.DEB: agent_pb2.FORMAT_DEB, facts.RPM: agent_pb2.FORMAT_RPM}.get(family, 0)
        return self._native

    def reported(self) -> List[Tuple[str, int]]:
        """(name, format) of the software the node reports: what Convoy handled here, then the watched
        names it did not, in the node's own format."""
        software = self.managed()
        known = set(name for name, _ in software)
        watched = [name for name in self.watch_list.names() if name not in known]
        if watched and self.native_format():
            software += [(name, self.native_format()) for name in watched]
        return software

    def installed_software(
        self, known: Optional[Dict[Tuple[str, int], str]] = None
    ) -> List[agent_pb2.InstalledSoftware]:
        """What the package databases report now for the software of `reported()`. A query that fails
        keeps the version `known` had for it ((name, format) -> version: what the stream carried last), or
        is left out without one: Hello goes out all the same, and a reread does not report a software
        removed because its tool did not answer once."""
        found = []
        for name, fmt in self.reported():
            try:
                version = self._executor(fmt).installed_version(name)
            except Exception as error:
                LOG.warning("cannot query %s %s: %s", FORMATS.get(fmt, fmt), name, error)
                version = (known or {}).get((name, fmt))
            if version:
                found.append(agent_pb2.InstalledSoftware(name=name, version=version, format=fmt))
        return found

    def installing(self) -> bool:
        """Whether one of the agent's tasks is in its package operation (or past it, reporting)."""
        with self.lock:
            return any(task.installing for task in self.tasks.values())

    def busy(self) -> bool:
        with self.lock:
            return bool(self.tasks)

    def recover(self) -> List[agent_pb2.TaskResult]:
        """After a crash: finishes interrupted package work and records those tasks' verified state.

        Runs before the first connection, so the scheduler hears the verified state before new work. A
        task stopped before its package operation began is left as it is: the scheduler delivers it again
        on the next stream, and it runs then, its download resuming from the part file.

        A package command the killed agent started may still run (it has a session of its own): recovery
        waits for the install lock, which that command holds, before it touches the package database
        (bounded by the command timeout; then it goes on, with a warning). The database's own repair
        (`dpkg --configure -a`, …) may fail because of another, unrelated broken package: the task's
        own package is verified all the same. When it is not in the wanted state and the verified
        download is still there (a deb left half-installed in the middle of its unpack), the package
        operation runs again from it.
        """
        results = []
        for entry in self.journal.unfinished():
            if entry.state != JOURNAL_STATES[INSTALLING] or entry.assignment is None:
                continue
            task = Task(agent_pb2.Assignment.FromString(entry.assignment))
            log = functools.partial(self._log, task)
            self._log(task, "the agent stopped while this task was installing; recovering")
            try:
                state, version, message = self._recover_task(task, log)
            except TaskFailed as failure:
                version = self._installed_quietly(task.assignment)
                state, message = failure.state, "interrupted, then recovered: " + str(failure)
            except Exception as error:
                version = self._installed_quietly(task.assignment)
                state, message = FAILED, "interrupted, and recovery failed: %s" % error
            results.append(self._finish(task, state, version, message, send=False))
        return results

    def _recover_task(self, task: Task, log: Callable[[str], None]) -> Tuple[int, str, str]:
        package = task.assignment.package
        self._validate(task.assignment)
        executor = self._executor(package.format)
        try:
            held = self.install_lock.hold(
                self.command_timeout,
                waiting=lambda: self._waiting_for_lock(task, log),
            )
            descriptor = held.__enter__()
        except locks.LockTimeout:
            log("the install lock is still held after %.0f s; recovering anyway" % self.command_timeout)
            held, descriptor = None, None
        try:
            if descriptor is not None:
                executor.pass_fds = (descriptor,)  # type: ignore
            problem = None
            try:
                executor.recover(log, names=(package.name,))  # type: ignore
            except Exception as error:
                problem = error
                log("the package database's repair reported a problem: %s" % error)
            try:
                state, version, message = self._verify(task, executor)
            except TaskFailed as failure:
                if not self._roll_forward(task, executor, log):
                    if problem is not None:
                        raise TaskFailed("%s (repair: %s)" % (failure, problem)) from None
                    raise
                state, version, message = self._verify(task, executor)
                return state, version, "rolled forward after an interruption: " + message
            return state, version, "recovered after an interruption: " + message
        finally:
            if held is not None:
                held.__exit__(None, None, None)

    def _waiting_for_lock(self, task: Task, log: Callable[[str], None]) -> None:
        message = "a package command of the stopped agent is still running; waiting for it"
        LOG.info("task %s: %s", task.key[0], message)
        log(message)

    def _roll_forward(self, task: Task, executor: object, log: Callable[[str], None]) -> bool:
        """Runs the interrupted package operation again; False when it cannot (no verified download)."""
        from convoy_agent import download

        assignment = task.assignment
        path = ""
        if assignment.action != agent_pb2.ACTION_UNINSTALL:
            try:
                path = download.finished(self.config.state_dir, assignment.package.sha256) or ""
            except (OSError, ValueError):
                path = ""
            if not path:
                return False
        log("running the interrupted package operation again")
        try:
            self._operate(task, executor, path, log)
        except Exception as error:
            raise TaskFailed("running the package operation again failed: %s" % error) from None
        return True

    # The worker thread.
    def _run(self, task: Task) -> None:
        assignment = task.assignment
        state = None  # type: Optional[int]
        try:
            state, version, message = self._execute(task)
        except Interrupted:
            LOG.info("task %s attempt %d interrupted: the agent is stopping", task.key[0], task.key[1])
            state, version, message = None, "", ""
        except Cancelled:
            state, version, message = CANCELLED, self._installed_quietly(assignment), task.cancel_reason or ""
        except TaskFailed as failure:
            state, version, message = failure.state, self._installed_quietly(assignment), str(failure)
        except NoRuntimeError as error:
            # The node cannot take this kind of package at all (no container runtime): not a failure.
            state, version, message = SKIPPED, "", str(error)
        except ExecutorError as error:
            # The package tool said no; its output is in the task's log already.
            state, version, message = FAILED, self._installed_quietly(assignment), str(error)
        except Exception as error:
            LOG.exception("task %s failed", assignment.assignment_id)
            state, version, message = FAILED, self._installed_quietly(assignment), "agent error: %s" % error
        try:
            if state is None:
                return  # interrupted: no result; the journal keeps the task for its redelivery
            self._finish(task, state, version, message, send=True)
            # A failed or cancelled download is kept: the next attempt resumes it. A corrupt one the
            # download removed itself.
            if state in (SUCCEEDED, UNCHANGED) and assignment.action != agent_pb2.ACTION_UNINSTALL:
                self._discard(task)
        finally:
            with self.lock:
                self.tasks.pop(task.key, None)
            try:
                approvals.clear(self.config.approvals_dir, assignment.assignment_id)
            except approvals.ApprovalError:
                pass
            self.task_ended()

    def _validate(self, assignment: agent_pb2.Assignment) -> None:
        """What the scheduler sent is checked before any of it reaches a command line or a path."""
        package = assignment.package
        if not valid_package_name(package.name):
            raise TaskFailed("invalid package name %r" % package.name, SKIPPED)
        if assignment.action != agent_pb2.ACTION_UNINSTALL:
            from convoy_agent import download

            try:
                download.check_sha256(package.sha256)
            except ValueError:
                raise TaskFailed("invalid sha256 %r" % package.sha256) from None

    def _unchanged(
        self, executor: object, assignment: agent_pb2.Assignment
    ) -> Optional[Tuple[int, str, str]]:
        """The result when the node is in the wanted state already, else None."""
        package = assignment.package
        name, wanted = package.name, target_version(package)
        current = executor.installed_version(name)  # type: ignore
        if assignment.action == agent_pb2.ACTION_UNINSTALL:
            if not current:
                return UNCHANGED, "", "%s is not installed" % name
        elif current == wanted:
            return UNCHANGED, current or "", "%s %s is already installed" % (name, wanted)
        return None

    def _execute(self, task: Task) -> Tuple[int, str, str]:
        assignment = task.assignment
        package = assignment.package
        self._set_state(task, ASSIGNED, 0)
        self._validate(assignment)
        executor = self._executor(package.format)
        # A node without the runtime a format needs says so before downloading anything.
        runtime = getattr(executor, "runtime", None)
        if runtime is not None:
            runtime()
        removing = assignment.action == agent_pb2.ACTION_UNINSTALL
        done = self._unchanged(executor, assignment)
        if done is not None:
            return done
        self._checkpoint(task)
        path = ""
        if not removing:
            self._set_state(task, DOWNLOADING, 0)
            with task.trace.phase("download", _download_facts(package)):
                path = self._download(task)
        if requires_approval(assignment):
            self._wait_for_approval(task)
        self._checkpoint(task)
        log = lambda line: self._log(task, line)  # noqa: E731
        try:
            held = self.install_lock.hold(
                task.seconds_left(self.command_timeout),
                check=lambda: self._checkpoint(task),
                waiting=lambda: log("waiting for another package operation on this node to finish"),
            )
            descriptor = held.__enter__()
        except locks.LockTimeout:
            raise TaskFailed("another package operation on this node did not finish in time") from None
        try:
            # Another task may have done the work meanwhile.
            done = self._unchanged(executor, task.assignment)
            if done is not None:
                return done
            with task.lock:
                self._checkpoint(task)
                task.installing = True
            self._set_state(task, INSTALLING, 0)
            executor.pass_fds = (descriptor,)  # type: ignore
            with task.trace.phase("install", _install_facts(assignment)):
                self._operate(task, executor, path, log)
                result = self._verify(task, executor)
                if not removing:
                    self._after_change(task, executor, log)
            return result
        finally:
            held.__exit__(None, None, None)

    def _command_timeout(self, task: Task, default: float) -> float:
        """A package command never outlives the assignment's deadline."""
        if task.deadline_at is None:
            return default
        return max(1.0, min(default, task.deadline_at - time.time()))

    def _operate(self, task: Task, executor: object, path: str, log: Callable[[str], None]) -> None:
        """The package operation itself, under the install lock."""
        assignment = task.assignment
        executor.timeout = self._command_timeout(task, getattr(executor, "timeout", self.command_timeout))  # type: ignore
        if assignment.action == agent_pb2.ACTION_UNINSTALL:
            executor.remove(assignment.package.name, log)  # type: ignore
            return
        facts = self._package(assignment)
        if assignment.action == agent_pb2.ACTION_ROLLBACK:
            executor.downgrade(path, facts, log)  # type: ignore
        elif assignment.action == agent_pb2.ACTION_UPDATE:
            executor.update(path, facts, log)  # type: ignore
        else:
            executor.install(path, facts, log)  # type: ignore

    def _after_change(self, task: Task, executor: object, log: Callable[[str], None]) -> None:
        """The deploy profile's restart_service, then its health check (see profile.py)."""
        from convoy_agent import profile

        deploy = task.assignment.deploy_profile
        package = task.assignment.package
        timeout = self._command_timeout(task, getattr(executor, "timeout", self.command_timeout))
        try:
            if deploy.restart_service:
                profile.restart_service(deploy.restart_service, executor, log, timeout)
            if deploy.HasField("health_check"):
                env = {
                    "CONVOY_ROOT": executor.sandbox.script_root,  # type: ignore
                    "CONVOY_PACKAGE_NAME": package.name,
                    "CONVOY_PACKAGE_VERSION": target_version(package),
                }
                profile.health_check(deploy.health_check, executor, log, env, timeout_cap=timeout)
        except profile.ProfileError as error:
            raise TaskFailed(str(error)) from None

    def _verify(self, task: Task, executor: object) -> Tuple[int, str, str]:
        """The package database's word after the change, never the package tool's exit status alone."""
        package = task.assignment.package
        version = executor.installed_version(package.name) or ""  # type: ignore
        if task.assignment.action == agent_pb2.ACTION_UNINSTALL:
            if version:
                raise TaskFailed("%s is still installed (%s) after the removal" % (package.name, version))
            return SUCCEEDED, "", "%s removed" % package.name
        wanted = target_version(package)
        if version != wanted:
            found = version or "nothing"
            raise TaskFailed(
                "%s: expected version %s after the change, found %s" % (package.name, wanted, found)
            )
        return SUCCEEDED, version, "%s %s installed" % (package.name, version)

    def _wait_for_approval(self, task: Task) -> None:
        """Waits for the operator or the node. The deadline does not run meanwhile: afterwards the task
        has at least the time it had left when the wait began (or a later deadline a redelivery brought)."""
        assignment = task.assignment
        about = {
            "name": assignment.package.name,
            "version": target_version(assignment.package),
            "deployment": assignment.deployment_id,
            "attempt": assignment.attempt,
        }  # type: Dict[str, object]
        left = None if task.deadline_at is None else max(0.0, task.deadline_at - time.time())
        approvals.mark_waiting(self.config.approvals_dir, assignment.assignment_id, about)
        self._set_state(task, AWAITING_APPROVAL, 100)
        self._log(task, "waiting for approval (convoy-agent approve %s)" % assignment.assignment_id)
        while not task.approved.is_set():
            self._checkpoint(task, deadline=False)
            if approvals.is_approved(self.config.approvals_dir, assignment.assignment_id):
                self._log(task, "approved on the node")
                break
            task.wake.wait(APPROVAL_POLL_SECONDS)
            task.wake.clear()
        else:
            self._log(task, "approved by the operator")
        approvals.clear(self.config.approvals_dir, assignment.assignment_id)
        if left is not None:
            with task.lock:
                task.deadline_at = max(task.deadline_at or 0.0, time.time() + left)

    def _checkpoint(self, task: Task, deadline: bool = True) -> None:
        if task.interrupted:
            raise Interrupted()
        if task.cancel_reason is not None:
            raise Cancelled()
        if deadline and task.deadline_at is not None and time.time() > task.deadline_at:
            raise TaskFailed("the deadline passed before the task could finish")

    def _download_lock(self, sha256: str) -> threading.Lock:
        with self.lock:
            return self._downloads.setdefault(sha256, threading.Lock())

    def _download(self, task: Task) -> str:
        """One download per artifact at a time: a second task for the same sha256 waits, then finds the
        finished file."""
        from convoy_agent import download

        def progress(received: int, total: int) -> None:
            percent = int(received * 100 // total) if total else 100
            if percent != task.percent:
                self._set_state(task, DOWNLOADING, percent)

        lock = self._download_lock(download.check_sha256(task.assignment.package.sha256))
        while not lock.acquire(timeout=LOCK_POLL_SECONDS):
            self._checkpoint(task)
        try:
            path = self.download(self.config, task, progress)
        except download.DownloadCancelled:
            if task.interrupted:
                raise Interrupted() from None
            raise Cancelled() from None
        except download.DownloadError as error:
            raise TaskFailed("download failed: %s" % error) from None
        finally:
            task.attach(None)
            lock.release()
        self._checkpoint(task)
        return path

    def _discard(self, task: Task) -> None:
        """Removes the task's download unless another live task needs the same artifact."""
        from convoy_agent import download

        try:
            sha256 = download.check_sha256(task.assignment.package.sha256)
        except ValueError:
            return
        lock = self._download_lock(sha256)
        if not lock.acquire(False):
            return  # another task is downloading it right now
        try:
            with self.lock:
                needed = any(
                    other is not task and other.assignment.package.sha256.lower() == sha256
                    for other in self.tasks.values()
                )
            if needed:
                return
            download.discard(self.config.state_dir, sha256)
        except (OSError, ValueError) as error:
            LOG.warning("cannot remove the downloaded %s: %s", sha256, error)
        finally:
            lock.release()

    def _executor(self, fmt: int) -> object:
        name = FORMATS.get(fmt)
        if name is None:
            raise TaskFailed("unknown package format %d" % fmt, SKIPPED)
        try:
            return self.executor_for(name)
        except Exception as error:
            raise TaskFailed("this node cannot install %s packages: %s" % (name, error), SKIPPED) from None

    def _package(self, assignment: agent_pb2.Assignment):
        from convoy_agent.executors.base import Package

        package = assignment.package
        profile = {
            "pre_hook": assignment.deploy_profile.pre_hook,
            "post_hook": assignment.deploy_profile.post_hook,
            "restart_service": assignment.deploy_profile.restart_service,
        }
        return Package(
            package.name,
            package.version,
            package.release,
            FORMATS.get(package.format, ""),
            package.arch,
            profile,
        )

    def _installed_quietly(self, assignment: agent_pb2.Assignment) -> str:
        try:
            return self._executor(assignment.package.format).installed_version(assignment.package.name) or ""  # type: ignore
        except Exception:
            return ""

    # Reporting.
    def _set_state(self, task: Task, state: int, percent: int) -> None:
        with task.lock:
            task.state, task.percent = state, percent
            if state != task.journaled:
                self.journal.record_state(task.key[0], task.key[1], JOURNAL_STATES[state])
                task.journaled = state
        self._progress(task, self._take_lines(task))

    def _log(self, task: Task, line: str) -> None:
        with task.lock:
            task.tail.append(line)
            task.unsent.append(line)
            due = len(task.unsent) >= FLUSH_LINES or time.time() - task.last_flush >= FLUSH_SECONDS
        if due:
            self._progress(task, self._take_lines(task))

    def _take_lines(self, task: Task) -> List[str]:
        with task.lock:
            lines, task.unsent = task.unsent, []
            task.last_flush = time.time()
        return lines

    def _progress(self, task: Task, lines: List[str]) -> None:
        progress = agent_pb2.TaskProgress(
            assignment_id=task.key[0],
            attempt=task.key[1],
            state=task.state,
            percent=task.percent,
            log_lines=lines,
        )
        self.send(agent_pb2.AgentMessage(progress=progress))

    def _finish(self, task: Task, state: int, version: str, message: str, send: bool) -> agent_pb2.TaskResult:
        lines = self._take_lines(task)
        if lines and send:
            self._progress(task, lines)
        result = agent_pb2.TaskResult(
            assignment_id=task.key[0],
            attempt=task.key[1],
            state=state,
            installed_version=version,
            message=message,
            log_tail=list(task.tail),
            started_at=timestamp(task.started),
            finished_at=timestamp(time.time()),
            spans=task.trace.records(),
        )
        written = result.SerializeToString()
        recorded = self.journal.record_result(task.key[0], task.key[1], JOURNAL_STATES[state], written)
        # A result recorded earlier (by a concurrent recovery) stays the one reported, and was counted by
        # the call that recorded it: this one counts only the result it wrote itself.
        result = agent_pb2.TaskResult.FromString(recorded.result)
        if recorded.result == written:
            metrics.task_finished(
                task.assignment.action, result.state, time.time() - task.started if send else None
            )
        LOG.info(
            "task %s attempt %d: %s %s",
            task.key[0],
            task.key[1],
            agent_pb2.TaskState.Name(state),
            message,
        )
        if send:
            self.send(agent_pb2.AgentMessage(result=result))
        return result
