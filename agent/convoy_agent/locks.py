"""The install lock: one package operation at a time on a node, across the agent's threads and processes.

`<state>/install.lock` is locked with flock(LOCK_EX) around every package operation, and the locked
descriptor is passed to the package command (executors' `pass_fds`). The lock belongs to the open file
description, which the command shares: if the agent is killed while dpkg or a maintainer script runs in its
own session, the lock stays held until that command is done, and the restarted agent's recovery waits for
it instead of running `dpkg --configure -a` next to a live dpkg. Unlocking releases it for every holder, so
a daemon a script left running does not keep it once the operation is over.
"""

import contextlib
import errno
import fcntl
import os
import threading
import time
from typing import Callable, Iterator, Optional

INSTALL_LOCK = "install.lock"
POLL_SECONDS = 0.2


class LockTimeout(Exception):
    """The lock was not free within the time allowed."""


class InstallLock:
    """Thread-safe; one instance per state directory."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, INSTALL_LOCK)
        self._threads = threading.Lock()

    @contextlib.contextmanager
    def hold(
        self,
        timeout: float,
        check: Optional[Callable[[], None]] = None,
        waiting: Optional[Callable[[], None]] = None,
    ) -> Iterator[int]:
        """Holds the lock and yields its descriptor (for `pass_fds`). Waits up to `timeout` seconds,
        calling `check()` (which may raise to give up, a cancel) while it waits and `waiting()` once
        when it has to wait at all; LockTimeout after that."""
        deadline = time.monotonic() + timeout
        told = [False]

        def wait_more() -> None:
            if check is not None:
                check()
            if time.monotonic() >= deadline:
                raise LockTimeout("another package operation still holds %s" % self.path)
            if waiting is not None and not told[0]:
                told[0] = True
                waiting()

        while not self._threads.acquire(timeout=POLL_SECONDS):
            wait_more()
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                while not _try_lock(descriptor):
                    wait_more()
                    time.sleep(POLL_SECONDS)
                yield descriptor
            finally:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_UN)
                finally:
                    os.close(descriptor)
        finally:
            self._threads.release()


def _try_lock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    return True
