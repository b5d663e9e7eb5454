"""Container image archives: `load` into podman (preferred) or docker, then replace the named container.

The container is named after the package (or the profile's `container_name`) and labelled with the package
name and version, which is what installed_version reads back. A node without either runtime cannot take
such an artifact at all: NoRuntimeError, which the task runner reports as SKIPPED. A runtime that is
installed but does not answer (a docker CLI without its daemon) is a failure the operator must see."""

import re
from typing import Dict, List, Optional, Sequence

from convoy_agent.executors.base import Executor, ExecutorError, LogFn, NoRuntimeError, Package, capture

RUNTIMES = ("podman", "docker")
LABEL_NAME = "org.convoy.package"
LABEL_VERSION = "org.convoy.version"
_LOADED = re.compile(r"^Loaded image(?:\(s\))?: *(\S+)")
_LOADED_ID = re.compile(r"^Loaded image ID: *(\S+)")


class ContainerExecutor(Executor):
    format = "container"

    def runtime(self) -> str:
        for name in RUNTIMES:
            if self.which(name) is not None:
                return name
        raise NoRuntimeError("no container runtime: neither podman nor docker is installed on this node")

    def _answering_runtime(self) -> str:
        runtime = self.runtime()
        probe = capture([runtime, "version"], timeout=30)
        if probe.returncode != 0:
            raise ExecutorError(f"{runtime} does not answer", (probe.stdout + probe.stderr).splitlines()[-5:])
        return runtime

    def container_name(self, package: Package) -> str:
        return str(package.profile.get("container_name") or package.name)

    def installed_version(self, name: str) -> Optional[str]:
        try:
            runtime = self.runtime()
        except NoRuntimeError:
            return None
        result = capture(
            [
                runtime,
                "inspect",
                "--type",
                "container",
                "--format",
                f'{{{{ index .Config.Labels "{LABEL_VERSION}" }}}}',
                "--",
                name,
            ],
            timeout=60,
        )
        version = result.stdout.strip()
        if result.returncode != 0 or not version or version == "<no value>":
            return None
        return version

    def list_installed(self, names: Optional[Sequence[str]] = None) -> Dict[str, str]:
        if names is not None:
            return super().list_installed(names)
        try:
            runtime = self.runtime()
        except NoRuntimeError:
            return {}
        result = capture(
            [runtime, "ps", "-a", "--filter", "label=" + LABEL_NAME, "--format", "{{.Names}}"], timeout=60
        )
        found = {}
        for name in result.stdout.split() if result.returncode == 0 else []:
            version = self.installed_version(name)
            if version is not None:
                found[name] = version
        return found

    def install(self, path: str, package: Package, log: LogFn, allow_downgrade: bool = False) -> None:
        runtime = self._answering_runtime()
        loaded = []  # type: List[str]

        def watch(line: str) -> None:
            match = _LOADED.match(line) or _LOADED_ID.match(line)
            if match:
                loaded.extend(match.group(1).split(","))
            log(line)

        self.run([runtime, "load", "-i", path], watch)
        image = str(package.profile.get("image") or (loaded[-1] if loaded else ""))
        if not image:
            raise ExecutorError(f"{runtime} load did not say which image it loaded")
        name = self.container_name(package)
        self.run([runtime, "rm", "-f", "--", name], log, check=False)
        argv = [runtime, "run", "-d", "--name", name, "--restart", "unless-stopped"]
        argv += [
            "--label",
            LABEL_NAME + "=" + package.name,
            "--label",
            LABEL_VERSION + "=" + package.full_version,
        ]
        for option in _strings(package.profile.get("run_options")):
            argv.append(option)
        argv.append(image)
        argv += _strings(package.profile.get("command"))
        self.run(argv, log)

    def remove(self, name: str, log: LogFn) -> None:
        runtime = self._answering_runtime()
        if self.installed_version(name) is None:
            log(f"no container {name}")
            return
        self.run([runtime, "rm", "-f", "--", name], log)

    def recover(self, log: LogFn, names: Sequence[str] = ()) -> None:
        """A runtime restarts its containers itself; an interrupted replace is repeated by the next attempt."""


def _strings(value: object) -> List[str]:
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return []
