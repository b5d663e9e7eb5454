"""RPM packages: dnf or yum on a real node (they resolve dependencies from its repositories), plain rpm
otherwise and always in a sandbox root (whose database knows nothing of the host, hence --nodeps)."""

import re
from typing import Dict, List, Optional, Sequence

from convoy_agent.executors.base import Executor, ExecutorError, LogFn, Package, capture, suffixed

# rpm's own rendering of [epoch:]version-release; the catalog's version carries the epoch the same way.
QUERY_FORMAT = "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\t%{INSTALLTIME}\n"


class RpmExecutor(Executor):
    format = "rpm"

    def _rpm(self) -> List[str]:
        return ["rpm"] + self.sandbox.rpm_options()

    def _frontend(self) -> Optional[str]:
        """dnf or yum, used only on a real node."""
        if self.sandbox.enabled:
            return None
        for name in ("dnf", "yum"):
            if self.which(name) is not None:
                return name
        return None

    def _rows(self, *arguments: str) -> List[List[str]]:
        result = capture(self._rpm() + ["-q", "--qf", QUERY_FORMAT] + list(arguments))
        if result.returncode != 0 and "is not installed" not in result.stdout + result.stderr:
            raise ExecutorError("rpm -q failed", (result.stdout + result.stderr).splitlines()[-5:])
        return [line.split("\t") for line in result.stdout.splitlines() if line.count("\t") == 3]

    def installed_version(self, name: str) -> Optional[str]:
        rows = self._rows("--", name)
        if not rows:
            return None
        # Two rows only after an interrupted upgrade (recover() cleans that up): report the newest.
        return max((row[1] for row in rows), key=VersionKey)

    def list_installed(self, names: Optional[Sequence[str]] = None) -> Dict[str, str]:
        if names is not None:
            return super().list_installed(names)
        found = {}  # type: Dict[str, str]
        for row in self._rows("-a"):
            if row[0] not in found or rpm_vercmp(row[1], found[row[0]]) > 0:
                found[row[0]] = row[1]
        return found

    def install(self, path: str, package: Package, log: LogFn, allow_downgrade: bool = False) -> None:
        before = self.installed_version(package.name)
        target = package.full_version
        downgrade = before is not None and bool(package.version) and rpm_vercmp(target, before) < 0
        if downgrade and not allow_downgrade:
            raise ExecutorError(
                f"{package.name} {before} is installed; {target} would be a downgrade, which only a rollback may do"
            )
        failed_scriptlets = []  # type: List[str]

        def watch(line: str) -> None:
            if "scriptlet failed" in line:
                failed_scriptlets.append(line)
            log(line)

        frontend = self._frontend()
        if frontend is not None:
            verb = "downgrade" if downgrade else ("reinstall" if before == target else "install")
            with suffixed(path, ".rpm") as named:
                self.run([frontend, "-y", verb, named], watch)
        else:
            argv = self._rpm() + ["-Uvh", "--replacepkgs"]
            if allow_downgrade:
                argv.append("--oldpackage")
            if self.sandbox.enabled:
                argv.append("--nodeps")
            self.run(argv + [path], watch)
        if failed_scriptlets:
            # rpm keeps the package and exits 0; the software is not set up as its packager meant.
            raise ExecutorError(f"a scriptlet of {package.name} failed", failed_scriptlets)

    def remove(self, name: str, log: LogFn) -> None:
        rows = self._rows("--", name)
        if not rows:
            log(f"{name} is not installed")
            return
        argv = self._rpm() + ["-e"]
        if self.sandbox.enabled:
            argv.append("--nodeps")
        # More than one row (an interrupted upgrade): name them all, or rpm refuses the ambiguous name.
        self.run(
            argv
            + ["--"]
            + ([name] if len(rows) == 1 else [name + "-" + row[1] + "." + row[2] for row in rows]),
            log,
        )

    def recover(self, log: LogFn, names: Sequence[str] = ()) -> None:
        """rpm has no "configure pending": a crash mid-transaction can leave a damaged database (rebuilt)
        or both the old and the new version of a package registered (the older entry is dropped from the
        database only; its files belong to the newer one now). Only the interrupted tasks' packages
        (`names`) are looked at for such pairs: several versions of one name side by side are normal
        for others (kernels, installonly packages). yum's own journal is completed when the tool exists."""
        if capture(self._rpm() + ["-qa", "--qf", "%{NAME}\n"]).returncode != 0:
            log("the rpm database cannot be read; rebuilding it")
            self.run(self._rpm() + ["--rebuilddb"], log)
        if not self.sandbox.enabled and self.which("yum-complete-transaction") is not None:
            self.run(["yum-complete-transaction", "-y", "--cleanup-only"], log, check=False)
        wanted = [name for name in names if name]
        if not wanted:
            return
        by_key = {}  # type: Dict[str, List[List[str]]]
        for row in self._rows("--", *wanted):
            by_key.setdefault(row[0] + "." + row[2], []).append(row)
        for entries in by_key.values():
            if len(entries) < 2 or entries[0][0].startswith("gpg-pubkey"):
                continue
            entries.sort(key=lambda row: (int(row[3] or 0), VersionKey(row[1])))
            for stale in entries[:-1]:
                label = f"{stale[0]}-{stale[1]}.{stale[2]}"
                log(f"dropping the stale database entry {label} left by an interrupted upgrade")
                self.run(self._rpm() + ["-e", "--justdb", "--nodeps", "--noscripts", "--", label], log)


_SEGMENT = re.compile(r"(\d+|[a-zA-Z]+|~|\^)")


def rpm_vercmp(left: str, right: str) -> int:
    """rpm's ordering of [epoch:]version[-release] strings: -1, 0 or 1."""
    left_evr, right_evr = _split_evr(left), _split_evr(right)
    for a, b in zip(left_evr, right_evr):
        result = _compare_part(a, b)
        if result:
            return result
    return 0


def _split_evr(text: str) -> List[str]:
    epoch, _, rest = text.rpartition(":") if ":" in text else ("0", "", text)
    version, _, release = rest.partition("-")
    return [epoch or "0", version, release]


def _compare_part(a: str, b: str) -> int:
    """rpmvercmp: alphanumeric segments, numbers beat letters, ~ sorts before everything, ^ after."""
    if a == b:
        return 0
    left, right = _SEGMENT.findall(a), _SEGMENT.findall(b)
    while left or right:
        if left and left[0] == "~" or right and right[0] == "~":
            if not (left and left[0] == "~"):
                return 1
            if not (right and right[0] == "~"):
                return -1
            left, right = left[1:], right[1:]
            continue
        if left and left[0] == "^" or right and right[0] == "^":
            if not left:
                return -1
            if not right:
                return 1
            if left[0] != "^":
                return 1
            if right[0] != "^":
                return -1
            left, right = left[1:], right[1:]
            continue
        if not left or not right:
            return 1 if left else -1
        x, y = left[0], right[0]
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        if x.isdigit():
            x, y = x.lstrip("0") or "0", y.lstrip("0") or "0"
            if len(x) != len(y):
                return 1 if len(x) > len(y) else -1
        if x != y:
            return 1 if x > y else -1
        left, right = left[1:], right[1:]
    return 0


class VersionKey:
    """A sort key ordering rpm version strings with rpm_vercmp."""

    def __init__(self, version: str) -> None:
        self.version = version

    def __lt__(self, other: "VersionKey") -> bool:
        return rpm_vercmp(self.version, other.version) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VersionKey) and rpm_vercmp(self.version, other.version) == 0
