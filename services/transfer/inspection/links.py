"""Where a path inside an archive lands once the archive's own symlinks are followed, as an extraction would."""

from __future__ import annotations

from collections import deque

__all__ = ["LinkTable", "PathEscapes", "PathTooDeep", "MAX_LINK_FOLLOWS", "PATH_MAX"]

# Linux gives up a lookup after 40 symlinks (MAXSYMLINKS); an extraction cannot follow more.
MAX_LINK_FOLLOWS = 40
# Linux's limit on one path, in bytes; also the bound on where a lookup may land.
PATH_MAX = 4096
# Components walked in one lookup, links included: far above any real package, and it keeps a crafted
# chain of links (each doubling the work) from making the scan take forever.
_MAX_STEPS = 512


class PathEscapes(Exception):
    """The path leaves the archive root."""


class PathTooDeep(Exception):
    """The lookup needs more symlinks or steps than allowed (a loop, or an attempt to slow the scan)."""


class LinkTable:
    """The archive's symlinks so far, by the place each one sits (a path with no symlink in it)."""

    def __init__(self) -> None:
        self.targets: dict[str, str] = {}

    def add(self, place: str, target: str) -> None:
        self.targets[place] = target

    def resolve(self, path: str) -> str:
        """The place `path` (relative to the root) lands on, every symlink in it followed; "." is the root."""
        return _Lookup(self.targets, path).run()


class _Lookup:
    """One path lookup, component by component, the way the kernel walks it."""

    def __init__(self, targets: dict[str, str], path: str) -> None:
        self.targets, self.path = targets, path
        self.places: list[str] = []  # places[i]: the first i + 1 components, as a place
        self.pending = deque(path.split("/"))
        self.follows = 0

    def run(self) -> str:
        for _ in range(_MAX_STEPS):
            if not self.pending:
                return self.places[-1] if self.places else "."
            self._step(self.pending.popleft())
        raise PathTooDeep(self.path)

    def _step(self, part: str) -> None:
        if part in ("", "."):
            return
        if part == "..":
            if not self.places:
                raise PathEscapes(self.path)
            self.places.pop()
            return
        here = f"{self.places[-1]}/{part}" if self.places else part
        target = self.targets.get(here)
        if target is None:
            if len(here) > PATH_MAX:
                raise PathTooDeep(self.path)
            self.places.append(here)
        else:
            self._follow(target)

    def _follow(self, target: str) -> None:
        self.follows += 1
        if self.follows > MAX_LINK_FOLLOWS:
            raise PathTooDeep(self.path)
        if target.startswith("/"):
            raise PathEscapes(self.path)
        # A symlink's target is relative to the directory holding the link, which `places` ends at now.
        self.pending.extendleft(reversed(target.split("/")))
