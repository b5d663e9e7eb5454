"""Generated servicer base classes answer UNIMPLEMENTED on grpc.aio servers, without any stub exception.

tools/protogen.py rewrites the grpc plugin's servicer stubs (set a status, then raise) into async methods
that abort with UNIMPLEMENTED; these tests hold the generated tree to that and serve the result for real.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor_pb2 import FileDescriptorProto

from convoy.agent.v1 import agent_pb2, agent_pb2_grpc
from convoy.scheduler.v1 import scheduler_pb2, scheduler_pb2_grpc
from convoy.transfer.v1 import transfer_pb2, transfer_pb2_grpc
from services.kit.grpc_server import GrpcServer
from services.kit.settings import ServiceSettings, TlsFiles
from services.kit.tls import open_channel, server_credentials

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATED = [REPO_ROOT / "gen", REPO_ROOT / "agent" / "convoy_agent" / "proto"]
BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}
# The plugin's grpcio version check at the top of each gen/ module is the only place naming any.
VERSION_CHECK = {"ImportError", "RuntimeError"}
CALL_TIMEOUT = 10.0
PROBE_PROTO = """syntax = "proto3";
package probe.v1;
message Ping {}
service ProbeService {
  // Documented.
  rpc Unary(Ping) returns (Ping);
  rpc Watch(Ping) returns (stream Ping);
  rpc Talk(stream Ping) returns (stream Ping);
}
"""


def load_protogen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("protogen", REPO_ROOT / "tools" / "protogen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


protogen = load_protogen()


def tls_files(pki_dir: Path, name: str) -> TlsFiles:
    return TlsFiles(pki_dir / f"{name}.pem", pki_dir / f"{name}-key.pem", pki_dir / "ca.pem")


def test_generated_modules_name_no_stub_exception() -> None:
    """Stronger than looking for the one exception the plugin's stubs raise: no generated file names any
    builtin exception (in code, strings or comments) beyond the version check's."""
    modules = [path for root in GENERATED for path in root.rglob("*.py") if "__pycache__" not in path.parts]
    assert len(modules) > 12
    for path in modules:
        named = set(re.findall(r"\w+", path.read_text())) & BUILTIN_EXCEPTIONS
        assert named <= VERSION_CHECK, f"{path.relative_to(REPO_ROOT)} names {sorted(named)}"


@pytest.fixture(scope="module")
def plugin_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, FileDescriptorProto]:
    """What the grpc plugin itself writes for a small service of every kind, with its file descriptor."""
    proto_dir, out_dir = tmp_path_factory.mktemp("proto"), tmp_path_factory.mktemp("out")
    (proto_dir / "probe" / "v1").mkdir(parents=True)
    (proto_dir / "probe" / "v1" / "probe.proto").write_text(PROBE_PROTO)
    (file,) = protogen.run_protoc(proto_dir, out_dir).file
    return (out_dir / "probe" / "v1" / "probe_pb2_grpc.py").read_text(), file


def test_plugin_stubs_become_async_methods(plugin_output: tuple[str, FileDescriptorProto]) -> None:
    source, file = plugin_output
    result = protogen.async_servicers(source, file, Path("probe_pb2_grpc.py"))

    (servicer,) = (
        node for node in ast.parse(result).body if getattr(node, "name", "") == "ProbeServiceServicer"
    )
    methods = {node.name: node for node in servicer.body if isinstance(node, ast.AsyncFunctionDef)}
    assert list(methods) == ["Unary", "Watch", "Talk"]
    generators = {
        name for name, node in methods.items() if any(isinstance(n, ast.Yield) for n in ast.walk(node))
    }
    assert generators == {"Watch", "Talk"}
    assert (ast.get_docstring(methods["Unary"]) or "").strip() == "Documented."
    assert not set(re.findall(r"\w+", result)) & BUILTIN_EXCEPTIONS - VERSION_CHECK


@pytest.mark.parametrize(
    ("written", "instead", "error"),
    [
        ("context.set_details(", "context.set_trailing_metadata(", "stub changed shape"),
        ("        raise ", "        return ", "no longer ends in a raise"),
        ("class ProbeServiceServicer", "class ProbeServicer", "no servicer class"),
        ("def Talk(self, request_iterator,", "def Talk(self, request,", "expected a plain method"),
    ],
    ids=["stub body", "stub end", "class name", "arguments"],
)
def test_unexpected_plugin_output_stops_generation(
    plugin_output: tuple[str, FileDescriptorProto], written: str, instead: str, error: str
) -> None:
    source, file = plugin_output
    assert written in source
    with pytest.raises(SystemExit, match=error):
        protogen.async_servicers(source.replace(written, instead), file, Path("probe_pb2_grpc.py"))


def test_a_method_missing_from_the_plugin_output_stops_generation(
    plugin_output: tuple[str, FileDescriptorProto],
) -> None:
    source, file = plugin_output
    longer = FileDescriptorProto()
    longer.CopyFrom(file)
    longer.service[0].method.add(name="Later", input_type=".probe.v1.Ping", output_type=".probe.v1.Ping")
    with pytest.raises(SystemExit, match="is not just the methods"):
        protogen.async_servicers(source, longer, Path("probe_pb2_grpc.py"))


class BareScheduler(scheduler_pb2_grpc.SchedulerServiceServicer):
    """Implements nothing."""


class BareAgent(agent_pb2_grpc.AgentServiceServicer):
    """Implements nothing."""


class BareTransfer(transfer_pb2_grpc.TransferServiceServicer):
    """Implements nothing."""


SERVICES = [
    (
        scheduler_pb2_grpc.add_SchedulerServiceServicer_to_server,
        BareScheduler(),
        scheduler_pb2,
        "SchedulerService",
    ),
    (agent_pb2_grpc.add_AgentServiceServicer_to_server, BareAgent(), agent_pb2, "AgentService"),
    (
        transfer_pb2_grpc.add_TransferServiceServicer_to_server,
        BareTransfer(),
        transfer_pb2,
        "TransferService",
    ),
]


async def kit_server(pki_dir: Path) -> tuple[int, Callable[[], Awaitable[None]]]:
    """The servers our services run: services/kit's GrpcServer with its call interceptor, over mTLS."""
    files = tls_files(pki_dir, "scheduler")
    settings = ServiceSettings(
        tls_cert=files.cert, tls_key=files.key, tls_ca=files.ca, drain_seconds=0, shutdown_grace_seconds=0
    )
    server = GrpcServer(settings)
    for add, servicer, messages, name in SERVICES:
        server.add(add, servicer, messages.DESCRIPTOR.services_by_name[name])
    return await server.start(), server.stop


async def plain_server(pki_dir: Path) -> tuple[int, Callable[[], Awaitable[None]]]:
    """A grpc.aio server without interceptors, as some tests serve fakes."""
    server = grpc.aio.server()
    for add, servicer, _, _ in SERVICES:
        add(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(tls_files(pki_dir, "scheduler")))
    await server.start()
    return port, lambda: server.stop(0)


@pytest.fixture(params=[kit_server, plain_server], ids=["service kit server", "plain grpc.aio server"])
async def channel(request: pytest.FixtureRequest, pki_dir: Path) -> AsyncIterator[grpc.aio.Channel]:
    port, stop = await request.param(pki_dir)
    try:
        async with open_channel(
            f"127.0.0.1:{port}", tls_files(pki_dir, "gateway"), server_name="scheduler"
        ) as opened:
            yield opened
    finally:
        await stop()


async def unimplemented(call: Any) -> grpc.aio.AioRpcError:
    """The error a call ends with, whether it answers once or streams."""
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        if isinstance(call, grpc.aio.UnaryUnaryCall | grpc.aio.StreamUnaryCall):
            await call
        else:
            async for _ in call:
                pytest.fail("an unimplemented method sent a response")
    return failure.value


async def test_unary_method_answers_unimplemented(channel: grpc.aio.Channel) -> None:
    stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
    error = await unimplemented(
        stub.GetDeployment(scheduler_pb2.GetDeploymentRequest(), timeout=CALL_TIMEOUT)
    )
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error


async def test_server_streaming_method_answers_unimplemented(channel: grpc.aio.Channel) -> None:
    stub = scheduler_pb2_grpc.SchedulerServiceStub(channel)
    call = stub.WatchDeployment(scheduler_pb2.WatchDeploymentRequest(), timeout=CALL_TIMEOUT)
    error = await unimplemented(call)
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error


async def test_bidi_method_answers_unimplemented(channel: grpc.aio.Channel) -> None:
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    error = await unimplemented(stub.Connect(iter([agent_pb2.AgentMessage()]), timeout=CALL_TIMEOUT))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error


async def test_client_streaming_method_answers_unimplemented(channel: grpc.aio.Channel) -> None:
    stub = transfer_pb2_grpc.TransferServiceStub(channel)
    error = await unimplemented(stub.Upload(iter([transfer_pb2.UploadRequest()]), timeout=CALL_TIMEOUT))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error
