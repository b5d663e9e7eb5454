"""The task runner: what the agent does with an assignment, one worker thread per task.

journal → installed check → download (resumable, sha256 verified) → approval wait when asked for →
executor → verify → result. The journal makes every step safe to repeat: a re-delivered assignment whose
result is recorded is answered with that result, one that is running is left to its thread, and after a
crash the unfinished ones are recovered with the package tool and reported in their verified state.
A cancel is honoured until the package operation starts, never in the middle of it.
"""

import collections
import functools
import json
import logging
import os
import threading
import time
from typing import Callable, List, Optional, Tuple

from google.protobuf import timestamp_pb2

from convoy_agent import approvals
from convoy_agent import config as configuration
from convoy_agent.journal import write_atomically
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

Key = Tuple[str, int]


class Cancelled(Exception):
    """The task was cancelled before its package operation started."""


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
    """What the package database reports once the artifact is installed (rpm: version-release)."""
    if package.format == agent_pb2.FORMAT_RPM and package.release:
        return package.version + "-" + package.release
    return package.version


class Task:
    """One running assignment: its thread's view of cancel and approval, and its log."""

    def __init__(self, assignment: agent_pb2.Assignment) -> None:
        self.assignment = assignment
        self.key = (assignment.assignment_id, assignment.attempt)  # type: Key
        self.cancel_reason = None  # type: Optional[str]
        self.approved = threading.Event()
        self.wake = threading.Event()
        self.installing = False
        self.journaled = ASSIGNED
        self.state = ASSIGNED
        self.percent = 0
        self.tail = collections.deque(maxlen=LOG_TAIL_LINES)  # type: Deque[str]
        self.unsent = []  # type: List[str]
        self.last_flush = 0.0
        self.lock = threading.Lock()
        self.started = time.time()


class TaskRunner:
    """Runs assignments and tells the scheduler about them through `send` (connection.Agent.send).

    `journal` records each task and its result (journal.Journal); `executor_for(format)` gives the
    executor for a format name ("deb", …); `download(config, assignment, progress, cancelled)` returns
    the verified artifact's path (download.download over a transfer channel, see cli.build_agent).
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
        self.tasks = {}  # type: Dict[Key, Task]
        self.lock = threading.Lock()

    # Called by the connection, on its thread.
    def submit(self, assignment: agent_pb2.Assignment) -> None:
        key = (assignment.assignment_id, assignment.attempt)
        with self.lock:
            task = self.tasks.get(key)
            if task is not None:
                # Re-delivered while it runs (a reconnect): say where it is, the thread goes on.
                self._progress(task, [])
                return
            entry = self.journal.get(*key)
            if entry is not None and entry.finished:
                self.send(agent_pb2.AgentMessage(result=agent_pb2.TaskResult.FromString(entry.result)))
                return
            package = assignment.package
            self._remember(package.name, package.format)
            self.journal.begin(
                assignment.assignment_id,
                assignment.attempt,
                assignment.SerializeToString(),
                name=package.name,
                format=package.format,
            )
            task = Task(assignment)
            self.tasks[key] = task
        thread = threading.Thread(target=self._run, args=(task,), name="task-" + assignment.assignment_id)
        thread.daemon = True
        thread.start()

    def cancel(self, assignment_id: str, reason: str) -> None:
        with self.lock:
            tasks = [task for key, task in self.tasks.items() if key[0] == assignment_id]
        for task in tasks:
            task.cancel_reason = reason or "cancelled by the operator"
            task.wake.set()

    def approve(self, assignment_id: str, attempt: int) -> None:
        with self.lock:
            task = self.tasks.get((assignment_id, attempt))
        if task is not None:
            task.approved.set()
            task.wake.set()

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
        return list(seen)

    def installed_software(self) -> List[agent_pb2.InstalledSoftware]:
        """What the package databases report now for every software Convoy has managed on this node."""
        installed = []
        for name, fmt in self.managed():
            try:
                version = self._executor(fmt).installed_version(name)
            except Exception as error:  # one broken tool must not keep the node from saying hello
                LOG.warning("cannot query %s %s: %s", FORMATS.get(fmt, fmt), name, error)
                continue
            if version:
                installed.append(agent_pb2.InstalledSoftware(name=name, version=version, format=fmt))
        return installed

    def busy(self) -> bool:
        with self.lock:
            return bool(self.tasks)

    def recover(self) -> List[agent_pb2.TaskResult]:
        """After a crash: finishes interrupted package work and records those tasks' verified state.

        Runs before the first connection, so the scheduler hears the verified state before new work. A
        task stopped before its package operation began is left as it is: the scheduler delivers it again
        on the next stream, and it runs then, its download resuming from the part file.
        """
        results = []
        for entry in self.journal.unfinished():
            if entry.state != JOURNAL_STATES[INSTALLING] or entry.assignment is None:
                continue
            task = Task(agent_pb2.Assignment.FromString(entry.assignment))
            self._log(task, "the agent stopped while this task was installing; recovering")
            try:
                executor = self._executor(task.assignment.package.format)
                executor.recover(functools.partial(self._log, task))  # type: ignore
                state, version, message = self._verify(task, executor)
                message = "recovered after an interruption: " + message
            except TaskFailed as failure:
                version = self._installed_quietly(task.assignment)
                state, message = failure.state, "interrupted, then recovered: " + str(failure)
            except Exception as error:
                version = self._installed_quietly(task.assignment)
                state, message = FAILED, "interrupted, and recovery failed: %s" % error
            results.append(self._finish(task, state, version, message, send=False))
        return results

    # The worker thread.
    def _run(self, task: Task) -> None:
        assignment = task.assignment
        try:
            state, version, message = self._execute(task)
        except Cancelled:
            state, version, message = CANCELLED, self._installed_quietly(assignment), task.cancel_reason or ""
        except TaskFailed as failure:
            state, version, message = failure.state, self._installed_quietly(assignment), str(failure)
        except Exception as error:
            LOG.exception("task %s failed", assignment.assignment_id)
            state, version, message = FAILED, self._installed_quietly(assignment), "agent error: %s" % error
        try:
            self._finish(task, state, version, message, send=True)
            if assignment.package.sha256 and assignment.action != agent_pb2.ACTION_UNINSTALL:
                self._discard(assignment.package.sha256)
        finally:
            with self.lock:
                self.tasks.pop(task.key, None)
            approvals.clear(self.config.approvals_dir, assignment.assignment_id)

    def _execute(self, task: Task) -> Tuple[int, str, str]:
        assignment = task.assignment
        package = assignment.package
        self._set_state(task, ASSIGNED, 0)
        executor = self._executor(package.format)
        name, wanted = package.name, target_version(package)
        current = executor.installed_version(name)  # type: ignore
        removing = assignment.action == agent_pb2.ACTION_UNINSTALL
        if removing and not current:
            return UNCHANGED, "", "%s is not installed" % name
        if not removing and current == wanted:
            return UNCHANGED, current or "", "%s %s is already installed" % (name, wanted)
        self._checkpoint(task)
        path = ""
        if not removing:
            self._set_state(task, DOWNLOADING, 0)
            path = self._download(task)
        if requires_approval(assignment):
            self._wait_for_approval(task)
        self._checkpoint(task)
        task.installing = True
        self._set_state(task, INSTALLING, 0)
        log = lambda line: self._log(task, line)  # noqa: E731
        if removing:
            executor.remove(name, log)  # type: ignore
        else:
            facts = self._package(assignment)
            if assignment.action == agent_pb2.ACTION_ROLLBACK:
                executor.downgrade(path, facts, log)  # type: ignore
            elif assignment.action == agent_pb2.ACTION_UPDATE:
                executor.update(path, facts, log)  # type: ignore
            else:
                executor.install(path, facts, log)  # type: ignore
        return self._verify(task, executor)

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
        assignment = task.assignment
        about = {
            "name": assignment.package.name,
            "version": target_version(assignment.package),
            "deployment": assignment.deployment_id,
            "attempt": assignment.attempt,
        }  # type: Dict[str, object]
        approvals.mark_waiting(self.config.approvals_dir, assignment.assignment_id, about)
        self._set_state(task, AWAITING_APPROVAL, 100)
        self._log(task, "waiting for approval (convoy-agent approve %s)" % assignment.assignment_id)
        while not task.approved.is_set():
            self._checkpoint(task)
            if approvals.is_approved(self.config.approvals_dir, assignment.assignment_id):
                self._log(task, "approved on the node")
                break
            task.wake.wait(APPROVAL_POLL_SECONDS)
            task.wake.clear()
        else:
            self._log(task, "approved by the operator")
        approvals.clear(self.config.approvals_dir, assignment.assignment_id)

    def _checkpoint(self, task: Task) -> None:
        if task.cancel_reason is not None:
            raise Cancelled()
        deadline = task.assignment.deadline
        if deadline.seconds and time.time() > deadline.seconds + deadline.nanos / 1e9:
            raise TaskFailed("the deadline passed before the task could finish")

    def _download(self, task: Task) -> str:
        from convoy_agent import download

        def progress(received: int, total: int) -> None:
            percent = int(received * 100 // total) if total else 100
            if percent != task.percent:
                self._set_state(task, DOWNLOADING, percent)

        try:
            path = self.download(
                self.config, task.assignment, progress, lambda: task.cancel_reason is not None
            )
        except download.DownloadCancelled:
            raise Cancelled() from None
        except download.DownloadError as error:
            raise TaskFailed("download failed: %s" % error) from None
        self._checkpoint(task)
        return path

    def _discard(self, sha256: str) -> None:
        from convoy_agent import download

        try:
            download.discard(self.config.state_dir, sha256)
        except (OSError, ValueError) as error:
            LOG.warning("cannot remove the downloaded %s: %s", sha256, error)

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
        )
        recorded = self.journal.record_result(
            task.key[0], task.key[1], JOURNAL_STATES[state], result.SerializeToString()
        )
        # A result recorded earlier (by a concurrent recovery) stays the one reported.
        result = agent_pb2.TaskResult.FromString(recorded.result)
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
