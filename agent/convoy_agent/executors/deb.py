"""Debian packages through dpkg; apt-get only to pull in missing dependencies on a real (unsandboxed) node."""

import os
import time
from typing import Dict, List, Optional, Sequence

from convoy_agent.executors.base import (
    Executor,
    ExecutorError,
    LogFn,
    Package,
    capture,
    suffixed,
)

# dpkg refuses to run while another dpkg/apt holds its lock: wait this long for it, in steps.
LOCK_WAIT_SECONDS = 120.0
LOCK_RETRY_SECONDS = 5.0
_LOCK_WORDS = ("dpkg frontend lock", "lock the dpkg", "dpkg status database is locked")
# A changed conffile never asks (stdin is closed: dpkg would fail at its prompt): the new version where the
# admin left the old one as it was, else the admin's version stays (dpkg puts the new one beside it).
CONFFILE_OPTIONS = ["--force-confdef", "--force-confold"]


class DebExecutor(Executor):
    format = "deb"

    def _dpkg(self) -> List[str]:
        return ["dpkg"] + self.sandbox.dpkg_options()

    def _query(self, *arguments: str) -> List[List[str]]:
        """dpkg-query -W rows, split on tabs; [] when nothing matches."""
        result = capture(["dpkg-query"] + self.sandbox.dpkg_query_options() + ["-W"] + list(arguments))
        if result.returncode not in (0, 1):
            raise ExecutorError("dpkg-query failed", result.stderr.splitlines()[-5:])
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def status(self, name: str) -> Optional[str]:
        """dpkg's status words for `name` ("install ok installed", "install ok half-configured", …)."""
        rows = self._query("-f=${Status}\t${Version}\n", "--", name)
        return rows[0][0] if rows else None

    def installed_version(self, name: str) -> Optional[str]:
        for row in self._query("-f=${Status}\t${Version}\n", "--", name):
            if len(row) == 2 and row[0].endswith(" installed"):
                return row[1]
        return None

    def list_installed(self, names: Optional[Sequence[str]] = None) -> Dict[str, str]:
        if names is not None:
            return super().list_installed(names)
        found = {}
        for row in self._query("-f=${Package}\t${Status}\t${Version}\n"):
            if len(row) == 3 and row[1].endswith(" installed"):
                found[row[0]] = row[2]
        return found

    def install(self, path: str, package: Package, log: LogFn, allow_downgrade: bool = False) -> None:
        before = self.installed_version(package.name)
        if before is not None and not allow_downgrade and self.version_lt(package.full_version, before):
            raise ExecutorError(
                f"{package.name} {before} is installed; {package.full_version} would be a downgrade, which only a rollback may do"
            )
        argv = self._dpkg() + ["--install"] + CONFFILE_OPTIONS
        if not allow_downgrade:
            argv.append("--refuse-downgrade")
        try:
            self._run_locked(argv + [path], log)
        except ExecutorError as error:
            if not _dependency_problem(error.lines):
                raise
            self._resolve_dependencies(path, package, before, log, allow_downgrade, error)

    def _resolve_dependencies(
        self,
        path: str,
        package: Package,
        before: Optional[str],
        log: LogFn,
        allow_downgrade: bool,
        error: ExecutorError,
    ) -> None:
        """dpkg unpacked the package but could not configure it for want of dependencies: apt-get fetches
        them on a real node; in a sandbox (or without apt) a new package is taken out again, so that no
        half-installed package stays behind."""
        if self.sandbox.enabled or self.which("apt-get") is None:
            if before is None:
                log(f"removing the unconfigured {package.name} again")
                self._run_locked(self._dpkg() + ["--remove", "--", package.name], log)
            raise ExecutorError(f"{package.name} has dependencies that are not installed", error.lines)
        log(f"dpkg lacks dependencies of {package.name}; asking apt-get for them")
        argv = ["apt-get", "-y", "-o", "DPkg::Lock::Timeout=120"]
        for option in CONFFILE_OPTIONS:
            argv += ["-o", "Dpkg::Options::=" + option]
        if allow_downgrade:
            argv.append("--allow-downgrades")
        with suffixed(path, ".deb") as named:
            self.run(argv + ["install", os.path.abspath(named)], log)

    def remove(self, name: str, log: LogFn) -> None:
        status = self.status(name)
        if status is None or status.endswith(" not-installed") or status.endswith(" config-files"):
            log(f"{name} is not installed")
            return
        self._run_locked(self._dpkg() + ["--remove", "--", name], log)

    def recover(self, log: LogFn, names: Sequence[str] = ()) -> None:
        """`dpkg --configure -a` finishes every unpacked or half-configured package (a crash mid-install,
        a postinst that failed and may now succeed); `dpkg --audit` must then find nothing."""
        self._run_locked(self._dpkg() + ["--configure", "-a"] + CONFFILE_OPTIONS, log)
        audit = capture(self._dpkg() + ["--audit"])
        problems = [line for line in audit.stdout.splitlines() if line.strip()]
        if problems:
            for line in problems:
                log(line)
            raise ExecutorError("dpkg --audit still reports broken packages", problems)

    def version_lt(self, left: str, right: str) -> bool:
        """dpkg's own version ordering (epochs, revisions, ~)."""
        result = capture(["dpkg", "--compare-versions", left, "lt", right])
        if result.returncode not in (0, 1):
            raise ExecutorError(f"cannot compare versions {left!r} and {right!r}", result.stderr.splitlines())
        return result.returncode == 0

    def _run_locked(self, argv: List[str], log: LogFn) -> None:
        """Runs a dpkg command, waiting (bounded) while another package tool holds the database lock."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                self.run(argv, log)
                return
            except ExecutorError as error:
                locked = any(word in line for line in error.lines for word in _LOCK_WORDS)
                if not locked or time.monotonic() + LOCK_RETRY_SECONDS > deadline:
                    raise
                log("the dpkg database is locked by another process; retrying")
                time.sleep(LOCK_RETRY_SECONDS)


def _dependency_problem(lines: Sequence[str]) -> bool:
    return any("dependency problems" in line or "depends on" in line for line in lines)
