"""Outside tools run on uploads (rpm, zstd) are bounded as a whole: a stalled or chatty tool is killed and
the upload refused with a clear reason, and no worker thread waits on it for ever."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from services.transfer.errors import Rejected
from services.transfer.inspection import Limits, inspect_artifact
from services.transfer.inspection.tools import TooMuchOutput, TooSlow, run_tool
from tests.support.packages import build_deb


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_tool_that_finishes_hands_back_its_output_status_and_complaints() -> None:
    out = io.BytesIO()
    ran = run_tool(
        python("import sys; sys.stdout.write('fields'); sys.stderr.write('warning: odd'); sys.exit(3)"),
        out,
        timeout=30,
        max_output=1024,
    )
    assert (out.getvalue(), ran.returncode, ran.stderr) == (b"fields", 3, b"warning: odd")


def test_a_tool_reads_the_file_it_is_given_as_input(tmp_path: Path) -> None:
    source = tmp_path / "input"
    source.write_bytes(b"compressed bytes")
    out = io.BytesIO()
    with source.open("rb") as stdin:
        ran = run_tool(
            python("import sys; sys.stdout.write(sys.stdin.read().upper())"),
            out,
            stdin=stdin,
            timeout=30,
            max_output=1024,
        )
    assert (ran.returncode, out.getvalue()) == (0, b"COMPRESSED BYTES")


@pytest.mark.timeout(30)
def test_a_tool_that_stalls_with_its_output_open_is_killed_at_the_deadline() -> None:
    """The read itself is bounded: a tool that printed a little and then hangs does not hold the caller."""
    stalls = python("import sys, time; sys.stdout.write('x'); sys.stdout.flush(); time.sleep(600)")
    out = io.BytesIO()
    with pytest.raises(TooSlow) as stopped:
        run_tool(stalls, out, timeout=0.5, max_output=1024)
    assert str(stopped.value) == f"{sys.executable} took longer than 0.5s"
    assert out.getvalue() == b"x"


@pytest.mark.timeout(30)
def test_a_tool_that_closes_its_output_but_does_not_exit_is_killed_at_the_deadline() -> None:
    lingers = python("import os, time; os.close(1); os.close(2); time.sleep(600)")
    with pytest.raises(TooSlow):
        run_tool(lingers, io.BytesIO(), timeout=0.5, max_output=1024)


@pytest.mark.timeout(30)
def test_a_tool_that_never_stops_complaining_is_killed_at_the_deadline() -> None:
    """Standard error is drained and dropped beyond its start, so only the deadline stops such a tool."""
    chatty = python("import sys\nwhile True: sys.stderr.write('e' * 65536)")
    with pytest.raises(TooSlow):
        run_tool(chatty, io.BytesIO(), timeout=0.5, max_output=1024)


def test_a_tool_that_prints_more_than_allowed_is_killed() -> None:
    greedy = python("import sys\nwhile True: sys.stdout.write('o' * 65536)")
    out = io.BytesIO()
    with pytest.raises(TooMuchOutput):
        run_tool(greedy, out, timeout=30, max_output=100_000)
    assert len(out.getvalue()) <= 100_000


@pytest.mark.timeout(30)
def test_a_deb_whose_zstd_stalls_is_refused_within_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zstd that hangs with its output open (here a stand-in that only sleeps) used to hold the
    inspecting thread for ever; now the upload is refused once the inspection timeout passes."""
    deb = build_deb(tmp_path, "stalled", "1.0", compression="zstd")
    tools = tmp_path / "tools"
    tools.mkdir()
    stand_in = tools / "zstd"
    stand_in.write_text("#!/bin/sh\nexec sleep 600\n")
    stand_in.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    with pytest.raises(Rejected) as refused:
        inspect_artifact(deb, Limits(timeout_seconds=0.5))
    assert (refused.value.reason, refused.value.message) == (
        "bad_deb",
        "zstd took longer than 0.5s to unpack the deb's control part",
    )
