"""The task journal: one small JSON file per (assignment_id, attempt) under <state>/journal/.

It is what makes a redelivered assignment a no-op (the recorded result is reported again), what tells a
restarted agent which tasks a crash interrupted, and which results still wait for the scheduler's Ack.
Every write replaces the whole file atomically (temp file, fsync, rename, fsync of the directory), so a
crash at any moment leaves the previous record or the new one, never a torn one."""

import base64
import json
import os
import re
import threading
import time
from typing import Any, Dict, List, Optional

from convoy_agent.files import fsync_directory, write_atomically

# Task states as the journal records them (the names of convoy.agent.v1.TaskState without the prefix).
ASSIGNED = "assigned"
DOWNLOADING = "downloading"
AWAITING_APPROVAL = "awaiting_approval"
INSTALLING = "installing"
FINAL_STATES = ("succeeded", "unchanged", "failed", "skipped", "cancelled")

JOURNAL_DIR = "journal"
_ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")


class JournalError(Exception):
    pass


class Entry:
    """One task as journaled. `assignment` and `result` are opaque bytes (serialized protobuf messages)."""

    def __init__(self, data: Dict[str, Any]) -> None:
        self.assignment_id = str(data["assignment_id"])
        self.attempt = int(data["attempt"])
        self.state = str(data.get("state") or ASSIGNED)
        self.created_at = float(data.get("created_at") or 0.0)
        self.updated_at = float(data.get("updated_at") or 0.0)
        self.acked = bool(data.get("acked"))
        self.details = dict(data.get("details") or {})  # type: Dict[str, Any]
        self.assignment = _decode(data.get("assignment"))
        self.result = _decode(data.get("result"))

    @property
    def finished(self) -> bool:
        """A result is recorded: the task must not run again."""
        return self.result is not None

    def to_json(self) -> Dict[str, Any]:
        return {
            "assignment_id": self.assignment_id,
            "attempt": self.attempt,
            "state": self.state,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "acked": self.acked,
            "details": self.details,
            "assignment": _encode(self.assignment),
            "result": _encode(self.result),
        }

    def __repr__(self) -> str:
        acked = " acked" if self.acked else ""
        return f"Entry({self.assignment_id}#{self.attempt} {self.state}{acked})"


class Journal:
    """Thread-safe; one instance per state directory."""

    def __init__(self, state_dir: str) -> None:
        self.directory = os.path.join(state_dir, JOURNAL_DIR)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._lock = threading.RLock()
        self._clean_temporaries()

    def path(self, assignment_id: str, attempt: int) -> str:
        if not _ASSIGNMENT_ID.match(assignment_id or ""):
            raise JournalError(f"assignment id {assignment_id!r} cannot name a journal file")
        return os.path.join(self.directory, f"{assignment_id}.{int(attempt)}.json")

    def get(self, assignment_id: str, attempt: int) -> Optional[Entry]:
        with self._lock:
            return self._load(self.path(assignment_id, attempt))

    def begin(
        self, assignment_id: str, attempt: int, assignment: Optional[bytes] = None, **details: Any
    ) -> Entry:
        """The entry for this task, created in state "assigned" unless it exists: then it is returned
        unchanged, which is how a redelivery is recognised."""
        with self._lock:
            existing = self.get(assignment_id, attempt)
            if existing is not None:
                return existing
            now = time.time()
            entry = Entry(
                {
                    "assignment_id": assignment_id,
                    "attempt": attempt,
                    "state": ASSIGNED,
                    "created_at": now,
                    "updated_at": now,
                    "details": details,
                }
            )
            entry.assignment = assignment
            self._save(entry)
            return entry

    def record_state(self, assignment_id: str, attempt: int, state: str, **details: Any) -> Entry:
        """Moves an unfinished task to `state` (and merges `details`); a finished one is left alone."""
        with self._lock:
            entry = self._require(assignment_id, attempt)
            if entry.finished:
                return entry
            entry.state = state
            entry.details.update(details)
            entry.updated_at = time.time()
            self._save(entry)
            return entry

    def record_result(
        self, assignment_id: str, attempt: int, state: str, result: bytes, **details: Any
    ) -> Entry:
        """Records the final state and result once; a second call returns the first result unchanged."""
        if state not in FINAL_STATES:
            raise JournalError(f"{state!r} is not a final state")
        with self._lock:
            entry = self._require(assignment_id, attempt)
            if entry.finished:
                return entry
            entry.state = state
            entry.result = bytes(result)
            entry.details.update(details)
            entry.updated_at = time.time()
            self._save(entry)
            return entry

    def acknowledge(self, assignment_id: str, attempt: int) -> Optional[Entry]:
        """The scheduler has the result: stop resending it. The entry stays, so that a late redelivery is
        still answered from it, until prune() drops it."""
        with self._lock:
            entry = self.get(assignment_id, attempt)
            if entry is None or not entry.finished or entry.acked:
                return entry
            entry.acked = True
            entry.updated_at = time.time()
            self._save(entry)
            return entry

    def forget(self, assignment_id: str, attempt: int) -> None:
        with self._lock:
            try:
                os.unlink(self.path(assignment_id, attempt))
            except FileNotFoundError:
                return
            fsync_directory(self.directory)

    def entries(self) -> List[Entry]:
        with self._lock:
            found = []
            for name in sorted(os.listdir(self.directory)):
                if name.endswith(".json"):
                    entry = self._load(os.path.join(self.directory, name))
                    if entry is not None:
                        found.append(entry)
            found.sort(key=lambda entry: (entry.created_at, entry.assignment_id, entry.attempt))
            return found

    def unfinished(self) -> List[Entry]:
        """Tasks a crash or a restart interrupted: no result recorded, oldest first."""
        return [entry for entry in self.entries() if not entry.finished]

    def unacknowledged(self) -> List[Entry]:
        """Results to send again after a reconnect."""
        return [entry for entry in self.entries() if entry.finished and not entry.acked]

    def prune(self, older_than_seconds: float) -> int:
        """Drops acknowledged entries last touched longer ago than that; returns how many."""
        limit = time.time() - older_than_seconds
        dropped = 0
        for entry in self.entries():
            if entry.acked and entry.updated_at < limit:
                self.forget(entry.assignment_id, entry.attempt)
                dropped += 1
        return dropped

    def _require(self, assignment_id: str, attempt: int) -> Entry:
        entry = self.get(assignment_id, attempt)
        if entry is None:
            raise JournalError(f"no journal entry for {assignment_id} attempt {attempt}")
        return entry

    def _load(self, path: str) -> Optional[Entry]:
        try:
            with open(path, "rb") as handle:
                return Entry(json.loads(handle.read().decode("utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError):
            # Not written by us, or the disk lost it: keep it for a human, out of the way.
            os.replace(path, path + ".corrupt")
            return None

    def _save(self, entry: Entry) -> None:
        path = self.path(entry.assignment_id, entry.attempt)
        write_atomically(path, json.dumps(entry.to_json(), sort_keys=True).encode("utf-8"))

    def _clean_temporaries(self) -> None:
        """Drops the temporary files a crash left: `.<entry>.tmp-*`, and older agents' `<entry>.tmp-*`."""
        for name in os.listdir(self.directory):
            if ".json.tmp-" in name:
                try:
                    os.unlink(os.path.join(self.directory, name))
                except OSError:
                    pass


def _encode(value: Optional[bytes]) -> Optional[str]:
    return None if value is None else base64.b64encode(value).decode("ascii")


def _decode(value: Any) -> Optional[bytes]:
    return None if value is None else base64.b64decode(value)
