"""RPM packages: the header read with `rpm -qp` (never through a shell, bounded in time and output)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from services.kit.errors import FailedPrecondition
from services.transfer.errors import Rejected
from services.transfer.inspection.model import RPM, Inspection, Limits
from services.transfer.inspection.tools import Ran, TooMuchOutput, TooSlow, run_tool

__all__ = ["inspect_rpm"]

_UNSET = "(none)"
_FIELDS = ("NAME", "EPOCH", "VERSION", "RELEASE", "ARCH", "SOURCERPM", "SUMMARY")
_QUERY = "".join(f"%{{{field}}}\\n" for field in _FIELDS)
# rpm's messages are read by us, so they must not be translated.
_ENV = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}
# Far above any real package's fields and requirements; a header with more would only fill memory and,
# through the inspection, a reply larger than gRPC carries.
_MAX_OUTPUT = 1024 * 1024


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
    output = io.BytesIO()
    ran = _run([tool, "-qp", "--nosignature", *arguments, str(path)], output, limits)
    if ran.returncode != 0:
        raise Rejected("bad_rpm", f"rpm refused the package: {_first_error(ran.stderr, path)}")
    return output.getvalue().decode("utf-8", "replace")


def _run(command: list[str], output: io.BytesIO, limits: Limits) -> Ran:
    """rpm run by the bounded runner, its being stopped told to the uploader in rpm's terms."""
    try:
        return run_tool(command, output, timeout=limits.timeout_seconds, max_output=_MAX_OUTPUT, env=_ENV)
    except TooSlow as exc:
        message = f"rpm took longer than {limits.timeout_seconds:g}s to read the package"
        raise Rejected("bad_rpm", message) from exc
    except TooMuchOutput as exc:
        message = f"the rpm header is absurdly large (over {_MAX_OUTPUT // 1024} KiB of fields)"
        raise Rejected("bad_rpm", message) from exc


def _first_error(stderr: bytes, path: Path) -> str:
    """rpm's first complaint, without the temp file's path (which means nothing to the uploader)."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    line = lines[0].removeprefix("error:").strip()
    return line.removeprefix(f"{path}:").strip()
