"""The task journal: redeliveries, results recorded once, acknowledgements, and crash safety with a real
process killed while it writes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from convoy_agent.journal import Journal, JournalError

from tests.support.sandbox import AGENT_DIR

ASSIGNMENT = "0b6c5f1e-3d0a-4c1e-9a55-5d2a7c1b9e01"


def test_lifecycle(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path))
    assert journal.get(ASSIGNMENT, 1) is None
    entry = journal.begin(ASSIGNMENT, 1, b"\x0a\x01x", deployment_id="d1")
    assert (entry.state, entry.assignment, entry.details) == (
        "assigned",
        b"\x0a\x01x",
        {"deployment_id": "d1"},
    )
    # A redelivery finds the entry as it is; nothing is reset.
    journal.record_state(ASSIGNMENT, 1, "downloading", percent=40)
    again = journal.begin(ASSIGNMENT, 1, b"other")
    assert (again.state, again.assignment, again.details["percent"]) == ("downloading", b"\x0a\x01x", 40)
    assert [e.assignment_id for e in journal.unfinished()] == [ASSIGNMENT]

    journal.record_result(ASSIGNMENT, 1, "succeeded", b"result-1", installed_version="1.0")
    # The first result stands; a later state change or result does not overwrite it.
    journal.record_result(ASSIGNMENT, 1, "failed", b"result-2")
    journal.record_state(ASSIGNMENT, 1, "installing")
    entry = journal.get(ASSIGNMENT, 1)
    assert entry is not None
    assert (entry.state, entry.result, entry.finished) == ("succeeded", b"result-1", True)
    assert journal.unfinished() == []
    assert [e.result for e in journal.unacknowledged()] == [b"result-1"]

    journal.acknowledge(ASSIGNMENT, 1)
    assert journal.unacknowledged() == []
    assert journal.get(ASSIGNMENT, 1).acked  # type: ignore[union-attr]
    assert journal.prune(3600) == 0
    assert journal.prune(-1) == 1
    assert journal.get(ASSIGNMENT, 1) is None


def test_attempts_are_separate(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path))
    journal.begin(ASSIGNMENT, 1)
    journal.record_result(ASSIGNMENT, 1, "failed", b"r1")
    journal.begin(ASSIGNMENT, 2)
    assert [(e.attempt, e.state) for e in journal.entries()] == [(1, "failed"), (2, "assigned")]
    journal.forget(ASSIGNMENT, 1)
    journal.forget(ASSIGNMENT, 1)
    assert [e.attempt for e in journal.entries()] == [2]


@pytest.mark.parametrize("assignment_id", ["../x", "", "a/b", ".hidden", "x" * 200])
def test_ids_that_cannot_name_a_file(tmp_path: Path, assignment_id: str) -> None:
    with pytest.raises(JournalError):
        Journal(str(tmp_path)).begin(assignment_id, 1)


def test_mistakes(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path))
    with pytest.raises(JournalError, match="no journal entry"):
        journal.record_state(ASSIGNMENT, 1, "installing")
    journal.begin(ASSIGNMENT, 1)
    with pytest.raises(JournalError, match="not a final state"):
        journal.record_result(ASSIGNMENT, 1, "installing", b"")


def test_leftovers_of_a_crash_are_ignored_and_cleaned(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path))
    journal.begin(ASSIGNMENT, 1)
    directory = tmp_path / "journal"
    (directory / f"{ASSIGNMENT}.2.json.tmp-99-1").write_text('{"assignment_id": "')
    (directory / "torn.1.json").write_text('{"assignment_id": "torn", "att')
    reopened = Journal(str(tmp_path))
    assert [e.attempt for e in reopened.entries()] == [1]
    names = sorted(path.name for path in directory.iterdir())
    assert names == [f"{ASSIGNMENT}.1.json", "torn.1.json.corrupt"]


WRITER = """
import sys
from convoy_agent.journal import Journal
journal = Journal(sys.argv[1])
step = 0
while True:
    step += 1
    attempt = step % 5 + 1
    journal.begin("task", attempt, b"x" * 2000)
    journal.record_state("task", attempt, "downloading", step=step, padding="p" * (step % 3000))
    if step == 20:
        print("ready", flush=True)
"""


def test_a_killed_writer_leaves_only_whole_records(tmp_path: Path) -> None:
    """SIGKILL a process in the middle of its writes, several times: every record reads back whole."""
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(AGENT_DIR)},
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == b"ready\n"
            time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            process.stdout.close()  # type: ignore[union-attr]
        journal = Journal(str(tmp_path))
        entries = journal.entries()
        assert 1 <= len(entries) <= 5
        for entry in entries:
            assert entry.assignment == b"x" * 2000
            assert entry.state == "downloading"
        for path in (tmp_path / "journal").iterdir():
            assert path.name.endswith(".json"), path.name
            json.loads(path.read_text())
