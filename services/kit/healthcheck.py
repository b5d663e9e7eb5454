"""`python -m services.kit.healthcheck TARGET`: exit 0 only when the process at TARGET says it is serving."""

from __future__ import annotations

import argparse
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["check_grpc", "check_http", "main"]

DEFAULT_TIMEOUT = 3.0
MAX_TIMEOUT = 60.0
_SERVING = health_pb2.HealthCheckResponse.SERVING


def check_grpc(target: str, service: str = "", timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """None when the plaintext health port at `target` reports `service` ("" = the whole process) SERVING,
    else what is wrong."""
    request = health_pb2.HealthCheckRequest(service=service)
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout)
        except grpc.RpcError as exc:
            return _rpc_problem(exc, target, service, timeout)
    if reply.status == _SERVING:
        return None
    return (
        f"{_named(service)} at {target} is {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    )


def _rpc_problem(exc: grpc.RpcError, target: str, service: str, timeout: float) -> str:
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    if code == grpc.StatusCode.NOT_FOUND:
        return f"{target} reports no health for {_named(service)}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"{target} did not answer within {timeout:g}s"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach {target}: {exc.details()}"  # type: ignore[attr-defined]
    return f"{target} answered {code.name}: {exc.details()}"  # type: ignore[attr-defined]


def check_http(url: str, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """None when `url` answers 2xx, else what is wrong."""
    # This asks a process on this host whether it is up, not who it is: its certificate may be one that
    # only the clients out there can verify.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"cannot reach {url}: {reason}"
    return None if 200 <= status < 300 else f"{url} answered HTTP {status}"


def _named(service: str) -> str:
    return f"service {service!r}" if service else "the process"


def _timeout(value: str) -> float:
    seconds = float(value)
    if not 0 < seconds <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.kit.healthcheck",
        description="Exit 0 when the process is serving, 1 (with the reason) when it is not.",
    )
    parser.add_argument(
        "target",
        help="HOST:PORT of a plaintext gRPC health port (CONVOY_<SVC>_HEALTH_LISTEN), or an http(s):// URL",
    )
    parser.add_argument(
        "--service", default="", help="gRPC service whose health to ask (default: the process)"
    )
    parser.add_argument(
        "--timeout", type=_timeout, default=DEFAULT_TIMEOUT, help="seconds to wait for the answer"
    )
    return parser


def _is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if _is_url(args.target):
        if args.service:
            parser.error("--service applies to gRPC health ports only, not to URLs")
        problem = check_http(args.target, args.timeout)
    else:
        host, _, port = args.target.rpartition(":")
        if not host or not port.isdigit():
            parser.error(f"expected HOST:PORT or an http(s):// URL, got {args.target!r}")
        problem = check_grpc(args.target, args.service, args.timeout)
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print(f"{args.target}: serving")
    return 0


if __name__ == "__main__":
    sys.exit(main())
