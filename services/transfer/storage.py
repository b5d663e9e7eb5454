"""Where blob bytes live: a small storage interface and its local-filesystem implementation."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = ["StagedFile", "Storage", "LocalStorage", "STAGING_DIR"]

log = logging.getLogger("convoy.transfer.storage")

STAGING_DIR = "tmp"
_STAGED_SUFFIX = ".part"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class StagedFile:
    """An upload being received: a private temp file plus the running sha256 and size of what was written.

    Staging is always a local file (inspection reads a path), whatever the backend stores blobs in.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        assert self._file is not None, "the staged file is already finished"
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def finish(self) -> None:
        """Makes the bytes durable (fsync) and closes the file; it can then be inspected and committed."""
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None

    def discard(self) -> None:
        """Closes and removes the temp file; harmless after a commit moved it away.

        Synchronous on purpose: it runs in `finally` blocks, also while the call is being cancelled.
        """
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


class Storage(Protocol):
    """What the service needs from a blob store; an S3-compatible backend would implement the same."""

    def stage(self) -> StagedFile: ...

    def commit(self, staged: StagedFile, sha256: str) -> None: ...

    def open_read(self, sha256: str) -> BinaryIO: ...

    def size(self, sha256: str) -> int: ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> bool: ...

    def sweep_staging(self, older_than_seconds: float) -> int: ...


class LocalStorage:
    """Blobs at `<root>/sha256/ab/cd/<hex>`; uploads staged in `<root>/tmp` (same filesystem: atomic rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / STAGING_DIR
        self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_of(self, sha256: str) -> Path:
        # Callers validate user input first; this keeps any slip from turning into a path outside the store.
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256[:80]!r}")
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def stage(self) -> StagedFile:
        return StagedFile(self.staging / f"upload-{uuid.uuid4().hex}{_STAGED_SUFFIX}")

    def commit(self, staged: StagedFile, sha256: str) -> None:
        """Moves the finished temp file into place; an existing complete copy of the same bytes is kept."""
        staged.finish()
        final = self.path_of(sha256)
        if final.exists() and final.stat().st_size == staged.size:
            return
        _make_dirs(final.parent)
        os.chmod(staged.path, 0o444)
        os.replace(staged.path, final)
        _fsync_dir(final.parent)

    def open_read(self, sha256: str) -> BinaryIO:
        return self.path_of(sha256).open("rb")

    def size(self, sha256: str) -> int:
        return self.path_of(sha256).stat().st_size

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        path = self.path_of(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def sweep_staging(self, older_than_seconds: float) -> int:
        """Removes temp files a crashed process left behind; fresh ones may belong to a running upload."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.staging.glob(f"*{_STAGED_SUFFIX}"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # another replica swept it first
        if removed:
            log.info("removed %d stale upload file(s) from %s", removed, self.staging)
        return removed


def _make_dirs(directory: Path) -> None:
    """Creates `directory` and its missing parents, each made durable in its own parent: when the directory
    a blob is renamed into is new, a crash could otherwise forget the directory, and the blob with it."""
    missing: list[Path] = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)  # another commit may be creating it at the same moment
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Makes a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
