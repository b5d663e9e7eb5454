"""Changes to installed software that the agent did not make: someone ran dpkg, rpm, apt or dnf by hand.

The scheduler learns the node's installed software from Hello and from task results. Between those, the
reporter reads the installed versions again, periodically and soon after a package tool touched its
database (a stat of the database files every few seconds, far cheaper than asking the tool), and sends the
whole set as an InstalledReport whenever it differs from the last set the stream carried. Besides the
software Convoy handled on this node, it reads the names of the scheduler's watch list (Watch, kept in
the state directory so that the first Hello after a restart has them) with the node's own package tool.

Nothing is read while a package operation is under way, so that no package is seen half installed: one
of the agent's own tasks (its result says what it changed; the set read right after the task ends goes out
if it differs), or a tool that holds its database lock. The reporter runs on a thread of its own; the
heartbeat never waits for it.
"""

import json
import logging
import os
import threading
import time
from typing import Callable, FrozenSet, List, Tuple

from convoy_agent.files import write_atomically
from convoy_agent.proto import agent_pb2

LOG = logging.getLogger("convoy_agent.installed")

# More names than any sensible set of policies: the rest are ignored, with a warning.
MAX_WATCHED = 1000
# The files a package tool rewrites when it changes what is installed: dpkg's status file (replaced by a
# rename at every step), rpm's database in either of its places (sqlite with its write-ahead log, or the
# older Berkeley DB and ndb files), whichever of them exist.
DPKG_FILES = ("var/lib/dpkg/status",)
RPM_DIRS = ("var/lib/rpm", "usr/lib/sysimage/rpm")
RPM_FILES = ("rpmdb.sqlite", "rpmdb.sqlite-wal", "Packages", "Packages.db")
# The lock files a package tool holds a write lock on while it changes its database (dpkg and apt; rpm,
# also under dnf and yum).
LOCK_FILES = (
    "var/lib/dpkg/lock",
    "var/lib/dpkg/lock-frontend",
    "var/lib/rpm/.rpm.lock",
    "usr/lib/sysimage/rpm/.rpm.lock",
)
PROC_LOCKS = "/proc/locks"

Signature = Tuple[Tuple[str, int, int, int], ...]
Key = FrozenSet[Tuple[str, str, int]]


class WatchList:
    """The scheduler's watch list, one JSON list of names in the state directory; a new list replaces it."""

    def __init__(self, path: str, valid: Callable[[str], bool]) -> None:
        self.path = path
        self.valid = valid
        self.lock = threading.Lock()

    def names(self) -> List[str]:
        try:
            with open(self.path) as handle:
                names = json.load(handle)
        except (OSError, ValueError) as error:
            if os.path.exists(self.path):
                LOG.warning("cannot read the watch list %s: %s", self.path, error)
            return []
        if not isinstance(names, list):
            LOG.warning("the watch list %s is not a list of names; ignoring it", self.path)
            return []
        return [str(name) for name in names if self.valid(str(name))]

    def replace(self, names: List[str]) -> bool:
        """Keeps the valid names (sorted, once each, at most MAX_WATCHED); True when the list changed."""
        wanted = sorted(set(name for name in names if self.valid(name)))
        refused = sorted(set(names) - set(wanted))
        if refused:
            LOG.warning("the watch list names invalid package names, ignored: %s", ", ".join(refused[:10]))
        if len(wanted) > MAX_WATCHED:
            LOG.warning("the watch list names %d packages; watching the first %d", len(wanted), MAX_WATCHED)
            wanted = wanted[:MAX_WATCHED]
        with self.lock:
            if wanted == self.names():
                return False
            write_atomically(self.path, json.dumps(wanted).encode("utf-8"))
        LOG.info("watching %d package name(s) for the scheduler: %s", len(wanted), ", ".join(wanted[:10]))
        return True


def database_files(root: str) -> List[str]:
    """The package database files under `root` ("/" for the node itself) that a package tool rewrites."""
    paths = [os.path.join(root, name) for name in DPKG_FILES]
    paths += [os.path.join(root, directory, name) for directory in RPM_DIRS for name in RPM_FILES]
    return paths


def database_signature(root: str) -> Signature:
    """Inode, modification time and size of each database file that exists: it changes when a tool wrote."""
    marks = []
    for path in database_files(root):
        try:
            status = os.stat(path)
        except OSError:
            continue
        marks.append((path, status.st_ino, status.st_mtime_ns, status.st_size))
    return tuple(marks)


def tool_running(root: str, proc_locks: str = PROC_LOCKS) -> bool:
    """Whether a package tool holds a write lock on one of the lock files under `root`.

    Read from /proc/locks rather than by trying the lock: dpkg gives up at once when another process holds
    it, so even a moment's hold of ours could make the operator's command fail. Where the lock table and
    stat() disagree on a file's device (some overlay file systems), no lock is found and the reread
    settles for the database check alone."""
    files = set()
    for name in LOCK_FILES:
        try:
            status = os.stat(os.path.join(root, name))
        except OSError:
            continue
        files.add((os.major(status.st_dev), os.minor(status.st_dev), status.st_ino))
    if not files:
        return False
    try:
        with open(proc_locks) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return False
    # "1: POSIX  ADVISORY  WRITE 4242 fe:00:6480462 0 EOF" (a waiter's line has "->" after the number).
    return any(_locked_file(line) in files for line in lines if " WRITE " in line)


def _locked_file(line: str) -> Tuple[int, int, int]:
    """(major, minor, inode) of a /proc/locks line; (-1, -1, -1) when it has none."""
    for word in line.split():
        parts = word.split(":")
        if len(parts) == 3:
            try:
                return int(parts[0], 16), int(parts[1], 16), int(parts[2])
            except ValueError:
                continue
    return -1, -1, -1


def key_of(installed: List[agent_pb2.InstalledSoftware]) -> Key:
    """The set as compared between reads: order and duplicates do not matter."""
    return frozenset((item.name, item.version, item.format) for item in installed)


class Reporter:
    """Reads the installed software again when due and sends it on the current stream when it changed.

    `runner` is the tasks.TaskRunner (installed_software, installing); `agent` the connection.Agent
    (current_session, report_installed). Due: every `inventory_interval_seconds`, when the package
    databases changed (looked at every `package_check_seconds`), and when woken (a new watch list, the end
    of a task).
    """

    def __init__(self, config, runner, agent) -> None:
        self.root = config.sandbox_root or "/"
        self.interval = float(config.inventory_interval_seconds)
        self.check = float(config.package_check_seconds)
        self.runner = runner
        self.agent = agent
        self.woken = threading.Event()

    def wake(self) -> None:
        """Read again at once (or as soon as no package operation of the agent runs)."""
        self.woken.set()

    def run(self, stopping: threading.Event) -> None:
        """Until `stopping` is set; a failure is logged and the loop goes on."""
        signature = database_signature(self.root)
        next_read = time.monotonic() + self.interval
        due = False
        while not stopping.is_set():
            self.woken.wait(self.check)
            if stopping.is_set():
                return
            current = database_signature(self.root)
            if self.woken.is_set() or current != signature or time.monotonic() >= next_read:
                self.woken.clear()
                due = True
            signature = current
            if due and self._quiet():
                due = not self._report(current)
                next_read = time.monotonic() + self.interval

    def _quiet(self) -> bool:
        """No package operation under way: none of the agent's own, and no tool holding its database lock
        (a read in the middle of an upgrade would find the package half installed)."""
        return not self.runner.installing() and not tool_running(self.root)

    def _report(self, signature: Signature) -> bool:
        """One read, sent when it differs from what the stream carried last; False when a package tool
        changed the database meanwhile (the read may have seen half of its work: read again). Without a
        stream nothing is read: the next Hello carries the set."""
        session = self.agent.current_session()
        if session is None:
            return True
        known = dict(((name, fmt), version) for name, version, fmt in session.installed or ())
        try:
            installed = self.runner.installed_software(known)
        except Exception:  # a bug must not end the reporting for good
            LOG.exception("reading the installed software again failed")
            return True
        if database_signature(self.root) != signature or not self._quiet():
            return False
        if self.agent.report_installed(session, installed):
            LOG.info("the installed software changed; reported %d package(s)", len(installed))
        return True
