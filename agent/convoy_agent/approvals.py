"""Local approval: `convoy-agent approve TASK` on the node, as an alternative to the operator's API call.

A file drop in the state directory, which only the agent's user can enter: a task that waits writes
`approvals/<assignment id>.waiting` (what it is about to install), the approve command adds
`<assignment id>.approved`, and the waiting task, which looks every half second, goes on and removes both.
"""

import json
import os
import re
import time
from typing import Dict, List

from convoy_agent import config as configuration
from convoy_agent.files import write_atomically

WAITING = ".waiting"
APPROVED = ".approved"
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


class ApprovalError(Exception):
    """The local approval cannot be given; the message says why."""


def _check(task_id: str) -> str:
    if not _TASK_ID.match(task_id):
        raise ApprovalError("%r is not a task id" % task_id)
    return task_id


def mark_waiting(directory: str, task_id: str, about: Dict[str, object]) -> None:
    configuration.ensure_state_dir(directory)
    data = json.dumps(dict(about, since=time.time()), sort_keys=True).encode("utf-8")
    write_atomically(os.path.join(directory, _check(task_id) + WAITING), data, 0o600)


def is_approved(directory: str, task_id: str) -> bool:
    return os.path.exists(os.path.join(directory, _check(task_id) + APPROVED))


def clear(directory: str, task_id: str) -> None:
    for suffix in (WAITING, APPROVED):
        path = os.path.join(directory, _check(task_id) + suffix)
        if os.path.exists(path):
            os.unlink(path)


def waiting(directory: str) -> List[Dict[str, object]]:
    """The tasks waiting for approval, oldest first, each with its id and what it installs."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(WAITING):
            continue
        try:
            with open(os.path.join(directory, name)) as handle:
                about = json.load(handle)
        except (OSError, ValueError):
            continue
        about["task"] = name[: -len(WAITING)]
        found.append(about)
    return sorted(found, key=lambda about: float(about.get("since", 0)))  # type: ignore


def approve(directory: str, task_id: str) -> Dict[str, object]:
    """Approves a waiting task; refuses a task that is not waiting, so a typo cannot approve ahead of time."""
    path = os.path.join(directory, _check(task_id) + WAITING)
    if not os.path.exists(path):
        raise ApprovalError("no task %s is waiting for approval on this node" % task_id)
    with open(path) as handle:
        about = json.load(handle)
    write_atomically(os.path.join(directory, task_id + APPROVED), b"", 0o600)
    return about
