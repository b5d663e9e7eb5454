"""RPM packages: the header read with `rpm -qp` (never through a shell, bounded in time)."""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import time
from pathlib import Path

from services.kit.errors import FailedPrecondition
from services.transfer.errors import Rejected
from services.transfer.inspection.model import RPM, Inspection, Limits

__all__ = ["inspect_rpm"]

_UNSET = "(none)"
_FIELDS = ("NAME", "EPOCH", "VERSION", "RELEASE", "ARCH", "SOURCERPM", "SUMMARY")
_QUERY = "".join(f"%{{{field}}}\\n" for field in _FIELDS)
# rpm's messages are read by us, so they must not be translated.
_ENV = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}
# Far above any real package's fields and requirements; a header with more would only fill memory and,
# through the inspection, a reply larger than gRPC carries.
_MAX_OUTPUT = 1024 * 1024
_READ_CHUNK = 64 * 1024


def inspect_rpm(path: Path, limits: Limits) -> Inspection:
    lines = _query(path, ["--qf", _QUERY], limits).split("\n")
    name, epoch, version, release, arch, source, summary = (lines + [""] * len(_FIELDS))[: len(_FIELDS)]
    if source in ("", _UNSET):
        raise Rejected("bad_rpm", "this is a source rpm, which cannot be installed; upload a binary rpm")
    requires = _query(path, ["--requires"], limits).splitlines()
    return Inspection(
        format=RPM,
        name=name,
        version=f"{epoch}:{version}" if epoch not in ("", _UNSET) else version,
        release=release,
        arch=arch,
        depends=tuple(line.strip() for line in requires if line.strip() and not line.startswith("rpmlib(")),
        description=summary.strip(),
    )


def _query(path: Path, arguments: list[str], limits: Limits) -> str:
    tool = shutil.which("rpm", path=_ENV["PATH"])
    if tool is None:
        raise FailedPrecondition("rpm packages cannot be inspected: the rpm tool is missing on this server")
    returncode, stdout, stderr = _run([tool, "-qp", "--nosignature", *arguments, str(path)], limits)
    if returncode != 0:
        raise Rejected("bad_rpm", f"rpm refused the package: {_first_error(stderr, path)}")
    return stdout.decode("utf-8", "replace")


def _run(command: list[str], limits: Limits) -> tuple[int, bytes, bytes]:
    """Runs `command` without a shell; it is killed when it outlives the timeout or prints too much."""
    deadline = time.monotonic() + limits.timeout_seconds
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_ENV
    ) as process:
        try:
            stdout, stderr = _collect(process, deadline, limits)
            return process.wait(max(0.0, deadline - time.monotonic())), stdout, stderr
        except subprocess.TimeoutExpired as exc:
            raise _too_slow(limits) from exc
        finally:
            if process.poll() is None:
                process.kill()


def _too_slow(limits: Limits) -> Rejected:
    return Rejected("bad_rpm", f"rpm took longer than {limits.timeout_seconds:g}s to read the package")


def _collect(process: subprocess.Popen[bytes], deadline: float, limits: Limits) -> tuple[bytes, bytes]:
    """Both output streams until they close, each at most _MAX_OUTPUT bytes."""
    assert process.stdout is not None and process.stderr is not None, "both streams are pipes"
    buffers = {process.stdout.fileno(): bytearray(), process.stderr.fileno(): bytearray()}
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            ready = selector.select(deadline - time.monotonic())
            if not ready:
                raise Rejected(
                    "bad_rpm", f"rpm took longer than {limits.timeout_seconds:g}s to read the package"
                )
            for key, _ in ready:
                _take(key.fd, buffers[key.fd], selector)
    return bytes(buffers[process.stdout.fileno()]), bytes(buffers[process.stderr.fileno()])


def _take(fd: int, buffer: bytearray, selector: selectors.BaseSelector) -> None:
    chunk = os.read(fd, _READ_CHUNK)
    if not chunk:
        selector.unregister(fd)
        return
    buffer += chunk
    if len(buffer) > _MAX_OUTPUT:
        raise Rejected(
            "bad_rpm", f"the rpm header is absurdly large (over {_MAX_OUTPUT // 1024} KiB of fields)"
        )


def _first_error(stderr: bytes, path: Path) -> str:
    """rpm's first complaint, without the temp file's path (which means nothing to the uploader)."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    line = lines[0].removeprefix("error:").strip()
    return line.removeprefix(f"{path}:").strip()
