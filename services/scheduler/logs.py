"""Per-attempt output of a node, bounded: the first head lines and the last tail lines are kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert
from sqlmodel import col

from services.kit.db import AsyncSession
from services.scheduler.models import Target, TargetLog

__all__ = ["LogLimits", "MAX_LINE_CHARS", "clean_text", "append_log"]

# A longer line is cut: a runaway line must not make one log row megabytes long.
MAX_LINE_CHARS = 4096


@dataclass(frozen=True)
class LogLimits:
    head_lines: int = 200
    tail_lines: int = 800


def clean_text(value: str, limit: int) -> str:
    """Text from a node as PostgreSQL can store it: without NUL, at most `limit` characters."""
    return value.replace("\x00", "\ufffd")[:limit]


async def append_log(
    session: AsyncSession, target: Target, lines: list[str], now: datetime, limits: LogLimits
) -> None:
    """Appends to the attempt's log; lines that fall in the dropped middle are never written, and those
    that move into it are deleted. The caller holds the target row's lock (it counts the lines)."""
    if not lines:
        return
    first = target.log_line_count + 1
    total = target.log_line_count + len(lines)
    keep_after = total - limits.tail_lines
    rows = [
        {
            "deployment_id": target.deployment_id,
            "server_id": target.server_id,
            "attempt": target.attempt,
            "seq": seq,
            "time": now,
            "text": clean_text(line, MAX_LINE_CHARS),
        }
        for seq, line in enumerate(lines, start=first)
        if seq <= limits.head_lines or seq > keep_after
    ]
    connection = await session.connection()
    if keep_after > limits.head_lines and first > 1:
        await connection.execute(
            delete(TargetLog).where(
                col(TargetLog.deployment_id) == target.deployment_id,
                col(TargetLog.server_id) == target.server_id,
                col(TargetLog.attempt) == target.attempt,
                col(TargetLog.seq) > limits.head_lines,
                col(TargetLog.seq) <= keep_after,
            )
        )
    if rows:
        await connection.execute(insert(TargetLog), rows)
    target.log_line_count = total
