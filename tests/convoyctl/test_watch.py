"""What watching shows and when it stops: rows from a snapshot and events (late ones ignored), one line
per state change, progress bars, and the outcome that becomes the exit code."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from convoyctl.watch import WatchState, render

DEPLOYMENT_ID = "d-1"


def deployment(state: str, updated: str, **counts: int) -> dict[str, Any]:
    total = sum(counts.values())
    return {
        "id": DEPLOYMENT_ID,
        "action": "install",
        "software_name": "hello",
        "version": "1.0-1",
        "state": state,
        "state_reason": "failure budget spent: 1 target(s) failed, at most 0 allowed"
        if state == "paused"
        else "",
        "counts": {"total": total, **counts},
        "current_batch": 1,
        "batch_count": 1,
        "updated_at": updated,
    }


def target(
    host: str, state: str, updated: str, progress: int = 0, message: str = "", attempt: int = 1
) -> dict:
    return {
        "deployment_id": DEPLOYMENT_ID,
        "server_id": f"id-{host}",
        "hostname": host,
        "attempt": attempt,
        "batch": 1,
        "state": state,
        "progress_percent": progress,
        "message": message,
        "updated_at": updated,
    }


def at(second: int) -> str:
    return f"2030-01-01T00:00:{second:02d}Z"


def test_snapshot_then_events_one_line_per_state_change() -> None:
    state = WatchState()
    lines = state.snapshot(
        deployment("running", at(1), pending=1, downloading=1),
        [target("web-1", "downloading", at(1), 40), target("web-2", "pending", at(1))],
    )
    assert lines == ["deployment d-1 running", "web-1 downloading", "web-2 pending"]
    # Progress alone is no state change: no line, but the row moves on.
    assert state.apply("target", {"target": target("web-1", "downloading", at(2), 80)}) == []
    assert state.rows["id-web-1"].progress == 80
    assert state.apply("target", {"target": target("web-1", "succeeded", at(3), 100)}) == ["web-1 succeeded"]
    failed = target("web-2", "failed", at(4), message="postinst fails on purpose")
    assert state.apply("target", {"target": failed}) == ["web-2 failed: postinst fails on purpose"]
    assert not state.done


def test_an_event_older_than_what_is_shown_changes_nothing() -> None:
    state = WatchState()
    state.snapshot(deployment("running", at(5)), [target("web-1", "installing", at(5), 60)])
    # An event from before the snapshot, delivered after it.
    assert state.apply("target", {"target": target("web-1", "downloading", at(3), 10)}) == []
    assert state.apply("deployment", {"deployment": deployment("pending", at(2))}) == []
    assert (state.rows["id-web-1"].state, state.state) == ("installing", "running")
    # A new attempt (a retry) wins whatever its time says.
    assert state.apply("target", {"target": target("web-1", "pending", at(1), attempt=2)}) == [
        "web-1 pending"
    ]


def test_done_when_final_or_paused_with_failures_and_nothing_in_flight() -> None:
    state = WatchState()
    state.snapshot(deployment("paused", at(1), failed=1, installing=1), [])
    assert not state.done, "a node still installing will report"
    state.apply("deployment", {"deployment": deployment("paused", at(2), failed=1, succeeded=1)})
    assert state.done and not state.succeeded
    canary = WatchState()
    canary.snapshot(deployment("paused", at(1), succeeded=1, pending=1), [])
    assert not canary.done, "a canary pause waits for the operator"
    for final in ("succeeded", "failed", "cancelled"):
        ended = WatchState()
        ended.snapshot(deployment(final, at(1), succeeded=1), [])
        assert ended.done and ended.succeeded == (final == "succeeded")


def test_failed_rows_and_the_summary() -> None:
    state = WatchState()
    state.snapshot(
        deployment("failed", at(9), failed=1, succeeded=1, skipped=1),
        [
            target("web-2", "failed", at(9), message="dpkg said no"),
            target("web-1", "succeeded", at(8), 100),
            target("db-1", "skipped", at(1), message="rpm package, node uses deb"),
        ],
    )
    assert [row.hostname for row in state.failed_rows()] == ["web-2"]
    assert state.summary() == (
        "deployment d-1 (install hello 1.0-1) failed, batch 1 of 1: 1 succeeded, 1 failed, 1 skipped"
    )


def draw(state: WatchState, max_rows: int = 1000) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None, record=True)
    console.print(render(state, max_rows))
    return console.export_text()


def test_the_live_view_has_a_bar_per_node() -> None:
    state = WatchState()
    state.snapshot(
        deployment("running", at(1), installing=1, succeeded=1),
        [target("web-1", "installing", at(1), 45), target("web-2", "succeeded", at(1), 100)],
    )
    text = draw(state)
    assert text.splitlines()[0].startswith("deployment d-1 (install hello 1.0-1) running")
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("web-")}
    assert "installing" in rows["web-1"] and " 45%" in rows["web-1"]
    assert "succeeded" in rows["web-2"] and "100%" in rows["web-2"]


def test_a_fleet_larger_than_the_screen_shows_the_nodes_that_need_looking_at() -> None:
    state = WatchState()
    hosts = [target(f"web-{n:02d}", "succeeded", at(1), 100) for n in range(30)]
    hosts.append(target("web-99", "failed", at(1), message="broken"))
    state.snapshot(deployment("running", at(1), succeeded=30, failed=1), hosts)
    text = draw(state, max_rows=5)
    assert "web-99" in text and "web-00" not in text
    assert "… and 30 more node(s) done" in text
