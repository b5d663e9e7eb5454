"""The agent times the phases of a traced assignment and hands them back in its result; its download call
carries a traceparent naming the download phase, so that transfer's span joins the trace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from convoy_agent import spans

from tests.agent.test_run import assignment_for, deliver, installed
from tests.agent.test_run_fakes import Servers, agent_pb2, configuration
from tests.support.packages import build_deb

S = agent_pb2
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
DISPATCH = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_an_untraced_assignment_records_nothing() -> None:
    recorder = spans.Recorder("")
    with recorder.phase("download", {"convoy.package.name": "app"}):
        assert recorder.metadata() is None
    assert recorder.records() == []


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        f"00-{TRACE_ID}-0000000000000000-01",
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",
        "not a traceparent",
    ],
)
def test_a_malformed_traceparent_is_treated_as_none(traceparent: str) -> None:
    recorder = spans.Recorder(traceparent)
    with recorder.phase("download", {}):
        pass
    assert recorder.records() == []


def test_a_phase_is_timed_named_in_calls_and_marked_failed_by_its_error() -> None:
    recorder = spans.Recorder(DISPATCH)
    with recorder.phase("download", {"convoy.package.name": "app", "convoy.package.bytes": 42}):
        inside = recorder.traceparent()
    with pytest.raises(OSError), recorder.phase("install", {}):
        raise OSError("dpkg said no")
    assert recorder.traceparent() == ""

    download, install = recorder.records()
    assert inside == f"00-{TRACE_ID}-{download.span_id}-01"
    assert re.fullmatch("[0-9a-f]{16}", download.span_id) and download.span_id != install.span_id
    assert 0 < download.start_time_unix_nano <= download.end_time_unix_nano <= install.start_time_unix_nano
    assert not download.failed
    assert {a.key: a.WhichOneof("value") for a in download.attributes} == {
        "convoy.package.name": "string_value",
        "convoy.package.bytes": "int_value",
    }
    assert install.failed and install.error == "dpkg said no"


def test_a_traced_install_reports_its_download_and_install_phases(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "traced-app", "1.0")
    task = assignment_for(servers, deb, "traced-app", "1.0")
    task.traceparent = DISPATCH

    result = deliver(servers, config, task)

    assert result.state == S.TASK_STATE_SUCCEEDED and installed(root, "traced-app") == "1.0"
    download, install = result.spans
    assert (download.name, install.name) == ("download", "install")
    assert not download.failed and not install.failed
    assert download.end_time_unix_nano <= install.start_time_unix_nano
    facts = {a.key: a.string_value or a.int_value for a in install.attributes}
    assert facts == {
        "convoy.package.name": "traced-app",
        "convoy.package.version": "1.0",
        "convoy.action": "install",
    }
    assert servers.transfer.traceparents == [f"00-{TRACE_ID}-{download.span_id}-01"]


def test_an_untraced_install_sends_no_traceparent(
    servers: Servers, config: configuration.Config, tmp_path: Path
) -> None:
    task = assignment_for(servers, build_deb(tmp_path, "plain-app", "1.0"), "plain-app", "1.0")

    result = deliver(servers, config, task)

    assert result.state == S.TASK_STATE_SUCCEEDED and list(result.spans) == []
    assert servers.transfer.traceparents == [""]
