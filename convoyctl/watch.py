"""Watching a deployment: one row per node, kept from a snapshot and the event stream, drawn as live
progress bars on a terminal and as one line per state change anywhere else."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from convoyctl.client import ApiClient
from convoyctl.errors import Interrupted
from convoyctl.events import Connected, DeploymentEvents
from convoyctl.output import Printer

__all__ = ["FINAL_STATES", "Row", "WatchState", "LineView", "LiveView", "follow", "render"]

FINAL_STATES = ("succeeded", "failed", "cancelled")
IN_FLIGHT = ("assigned", "downloading", "installing")
# Node states that need nothing more and no one's attention: left out first when the screen is full.
QUIET_DONE = ("succeeded", "unchanged", "skipped")
STYLES = {
    "succeeded": "green",
    "unchanged": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "skipped": "dim",
    "awaiting_approval": "magenta",
    "paused": "yellow",
    "running": "cyan",
}
COUNT_ORDER = (
    "succeeded",
    "unchanged",
    "failed",
    "skipped",
    "cancelled",
    "installing",
    "downloading",
    "assigned",
    "awaiting_approval",
    "pending",
)


@dataclass
class Row:
    server_id: str
    hostname: str
    state: str
    progress: int
    message: str
    attempt: int
    batch: int
    updated: datetime | None

    @classmethod
    def of(cls, target: dict[str, Any]) -> Row:
        return cls(
            server_id=target["server_id"],
            hostname=target.get("hostname") or target["server_id"],
            state=target.get("state") or "unknown",
            progress=int(target.get("progress_percent") or 0),
            message=target.get("message") or "",
            attempt=int(target.get("attempt") or 0),
            batch=int(target.get("batch") or 0),
            updated=_when(target.get("updated_at")),
        )

    def newer_than(self, other: Row) -> bool:
        """Events can repeat what a snapshot already showed, or arrive after it: the older one loses."""
        if self.attempt != other.attempt:
            return self.attempt > other.attempt
        return self.updated is None or other.updated is None or self.updated >= other.updated


class WatchState:
    """The deployment and its nodes as last reported; each change returns the lines that describe it."""

    def __init__(self) -> None:
        self.deployment: dict[str, Any] | None = None
        self.rows: dict[str, Row] = {}

    def snapshot(self, deployment: dict[str, Any], targets: list[dict[str, Any]]) -> list[str]:
        lines = self.deployment_changed(deployment)
        for target in targets:
            lines += self.target_changed(target)
        return lines

    def apply(self, kind: str, data: dict[str, Any]) -> list[str]:
        """One event's data ("deployment" or "target"); other kinds change nothing."""
        if kind == "deployment" and data.get("deployment"):
            return self.deployment_changed(data["deployment"])
        if kind == "target" and data.get("target"):
            return self.target_changed(data["target"])
        return []

    def deployment_changed(self, deployment: dict[str, Any]) -> list[str]:
        old = self.deployment
        if old is not None and not _not_older(deployment.get("updated_at"), old.get("updated_at")):
            return []
        self.deployment = deployment
        if old is not None and old.get("state") == deployment.get("state"):
            return []
        reason = deployment.get("state_reason") or ""
        return [
            f"deployment {deployment['id']} {deployment.get('state')}" + (f": {reason}" if reason else "")
        ]

    def target_changed(self, target: dict[str, Any]) -> list[str]:
        row, old = Row.of(target), self.rows.get(target["server_id"])
        if old is not None and not row.newer_than(old):
            return []
        self.rows[row.server_id] = row
        if old is not None and (old.state, old.attempt) == (row.state, row.attempt):
            return []
        detail = f": {row.message}" if row.message and row.state in ("failed", "skipped", "cancelled") else ""
        return [f"{row.hostname} {row.state}{detail}"]

    @property
    def state(self) -> str:
        return str((self.deployment or {}).get("state") or "unknown")

    @property
    def done(self) -> bool:
        """Finished, or paused with failed nodes and none still working: it waits for an operator."""
        if self.state in FINAL_STATES:
            return True
        counts = (self.deployment or {}).get("counts") or {}
        busy = sum(int(counts.get(name) or 0) for name in IN_FLIGHT)
        return self.state == "paused" and int(counts.get("failed") or 0) > 0 and busy == 0

    @property
    def succeeded(self) -> bool:
        return self.state == "succeeded"

    def failed_rows(self) -> list[Row]:
        return [row for row in self.ordered() if row.state == "failed"]

    def ordered(self) -> list[Row]:
        return sorted(self.rows.values(), key=lambda row: (row.batch, row.hostname, row.server_id))

    def summary(self) -> str:
        deployment = self.deployment or {}
        counts = deployment.get("counts") or {}
        parts = [f"{counts[name]} {name.replace('_', ' ')}" for name in COUNT_ORDER if counts.get(name)]
        what = " ".join(
            str(deployment.get(name))
            for name in ("action", "software_name", "version")
            if deployment.get(name)
        )
        batch = ""
        if deployment.get("batch_count"):
            batch = f", batch {deployment.get('current_batch', 0)} of {deployment['batch_count']}"
        return f"deployment {deployment.get('id', '?')} ({what}) {self.state}{batch}: {', '.join(parts) or 'no nodes'}"


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _not_older(new: Any, old: Any) -> bool:
    new_time, old_time = _when(new), _when(old)
    return new_time is None or old_time is None or new_time >= old_time


# --- drawing --------------------------------------------------------------------------------------------------


def render(state: WatchState, max_rows: int = 1000) -> RenderableType:
    """A summary line over a table of nodes with their progress bars; when there are more nodes than fit,
    those done without trouble are left out first."""
    rows = state.ordered()
    hidden = 0
    if len(rows) > max_rows:
        busy = [row for row in rows if row.state not in QUIET_DONE]
        hidden = len(rows) - min(len(busy), max_rows)
        rows = busy[:max_rows]
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in ("NODE", "STATE", "PROGRESS", "", "MESSAGE"):
        table.add_column(header, no_wrap=header != "MESSAGE", overflow="ellipsis")
    for row in rows:
        shown = 100 if row.state in ("succeeded", "unchanged") else max(0, min(100, row.progress))
        table.add_row(
            row.hostname,
            Text(row.state, style=STYLES.get(row.state, "")),
            ProgressBar(total=100, completed=shown, width=24),
            f"{shown:3d}%",
            row.message,
        )
    parts: list[RenderableType] = [Text(state.summary(), style=STYLES.get(state.state, "bold")), table]
    if hidden:
        parts.append(Text(f"… and {hidden} more node(s) done", style="dim"))
    return Group(*parts)


class LineView:
    """One timestamped line per state change: for logs, pipes and CI."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __enter__(self) -> LineView:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, state: WatchState, lines: list[str]) -> None:
        stamp = time.strftime("%H:%M:%S")
        for line in lines:
            self.console.print(Text(f"{stamp} {line}"))


class LiveView:
    """Progress bars redrawn in place on a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live = Live(console=console, refresh_per_second=8, transient=False, auto_refresh=True)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.__exit__(kind, exc, tb)

    def update(self, state: WatchState, lines: list[str]) -> None:
        self._live.update(render(state, max(5, self.console.size.height - 4)), refresh=True)


def follow(api: ApiClient, deployment_id: str, printer: Printer) -> WatchState:
    """Watches until the deployment is done (see WatchState.done); Ctrl-C stops watching only."""
    state = WatchState()
    live = not printer.json and printer.out.is_terminal
    view: LiveView | LineView = LiveView(printer.out) if live else LineView(printer.notes)
    base = f"/api/v1/deployments/{deployment_id}"
    try:
        with view:
            for item in DeploymentEvents(api, deployment_id):
                if isinstance(item, Connected):
                    # What changed while no stream was open (or before the first one) is read afresh.
                    lines = state.snapshot(api.get(base), api.walk(f"{base}/targets"))
                else:
                    lines = state.apply(item.kind, item.json())
                view.update(state, lines)
                if state.done:
                    break
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped watching; deployment {deployment_id} goes on (convoyctl deployments watch {deployment_id})"
        ) from None
    return state
