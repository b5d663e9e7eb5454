"""One executor per artifact format, all behind the Executor interface of base.py."""

from typing import Any, Callable, Optional, Union

from convoy_agent.executors.base import (
    DEFAULT_TIMEOUT,
    Executor,
    ExecutorError,
    NoRuntimeError,
    Package,
    full_version,
)
from convoy_agent.executors.container import ContainerExecutor
from convoy_agent.executors.deb import DebExecutor
from convoy_agent.executors.rpm import RpmExecutor
from convoy_agent.executors.tar import TarExecutor
from convoy_agent.sandbox import Sandbox

__all__ = [
    "Executor",
    "ExecutorError",
    "NoRuntimeError",
    "Package",
    "full_version",
    "select_executor",
    "format_name",
    "DebExecutor",
    "RpmExecutor",
    "TarExecutor",
    "ContainerExecutor",
]

_EXECUTORS = {
    "deb": DebExecutor,
    "rpm": RpmExecutor,
    "tar": TarExecutor,
    "container": ContainerExecutor,
}
# convoy.agent.v1.Format numbers.
_FORMAT_NUMBERS = {1: "deb", 2: "rpm", 3: "tar", 4: "container"}


def format_name(fmt: Union[str, int]) -> str:
    """ "deb", "rpm", "tar" or "container" from a name, an enum name ("FORMAT_DEB") or its number."""
    if isinstance(fmt, int):
        name = _FORMAT_NUMBERS.get(fmt, "")
    else:
        name = fmt.lower()
        if name.startswith("format_"):
            name = name[len("format_") :]
    if name not in _EXECUTORS:
        raise ValueError(f"unknown artifact format {fmt!r}")
    return name


def select_executor(
    fmt: Union[str, int],
    config: Any = None,
    sandbox_root: Optional[str] = None,
    which: Optional[Callable[[str], Optional[str]]] = None,
    timeout: Optional[float] = None,
) -> Executor:
    """The executor for `fmt`. The sandbox root and command timeout come from the arguments or else from
    `config` (attributes `sandbox_root` and `command_timeout`, both optional)."""
    if sandbox_root is None and config is not None:
        sandbox_root = getattr(config, "sandbox_root", None) or None
    if timeout is None and config is not None:
        timeout = getattr(config, "command_timeout", None)
    executor_class = _EXECUTORS[format_name(fmt)]
    return executor_class(Sandbox(sandbox_root), which=which, timeout=timeout or DEFAULT_TIMEOUT)
