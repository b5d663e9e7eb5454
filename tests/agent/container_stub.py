"""A stand-in for the `docker` / `podman` command line, for the container executor's tests.

`install_stub(directory, name)` writes an executable `directory/name` that runs this file. It keeps its
images and containers in `directory/name.d/state.json`, appends every argv it gets to `calls.jsonl` there, and
answers the subcommands the executor uses the way the real tools do (same output formats, same exit
statuses): `version`/`info`, `load -i ARCHIVE` (a real `docker save` or OCI archive: the image names come
from its manifest.json or index.json), `inspect --type container --format '{{ index .Config.Labels "K" }}'`,
`ps -a --filter label=K --format {{.Names}}`, `rm -f -- NAME` and `run -d --name … IMAGE [COMMAND…]`.

Faults are switched on by files in `name.d`: `daemon-down` (every call but the argv record fails as a
CLI without its daemon does), `load-fails` (the load reads the archive, then fails with a few lines).
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
import uuid
from pathlib import Path

__all__ = ["Runtime", "install_stub"]

DAEMON_DOWN = {
    "docker": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
    "podman": "Error: unable to connect to Podman socket: dial unix /run/podman/podman.sock: no such file",
}
_LABEL_FORMAT = re.compile(r'^\{\{ *index \.Config\.Labels "([^"]+)" *\}\}$')


class Runtime:
    """What the test reads back from a stub runtime's directory."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / name
        self.name = name
        # The stub's own files: two runtimes in one directory keep apart.
        self.directory = directory / f"{name}.d"

    def calls(self) -> list[list[str]]:
        """Every argv the stub was called with (without the program name), oldest first."""
        log = self.directory / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line]

    def subcommands(self) -> list[str]:
        return [argv[0] if argv else "" for argv in self.calls()]

    def state(self) -> dict:
        file = self.directory / "state.json"
        return json.loads(file.read_text()) if file.exists() else {"images": [], "containers": {}}

    def containers(self) -> dict:
        return self.state()["containers"]

    def images(self) -> list[str]:
        return self.state()["images"]

    def daemon_down(self, down: bool = True) -> None:
        self._flag("daemon-down", down)

    def failing_load(self, failing: bool = True) -> None:
        self._flag("load-fails", failing)

    def _flag(self, name: str, on: bool) -> None:
        flag = self.directory / name
        if on:
            flag.write_text("on\n")
        elif flag.exists():
            flag.unlink()


def install_stub(directory: Path, name: str) -> Runtime:
    """An executable `directory/name` (e.g. "docker", "podman") that runs this module as that runtime."""
    runtime = Runtime(directory, name)
    runtime.directory.mkdir(parents=True, exist_ok=True)
    stub = Path(__file__).resolve()
    runtime.path.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{stub}" {name} "{runtime.directory}" "$@"\n'
    )
    runtime.path.chmod(0o755)
    return runtime


# --- the stub itself ---------------------------------------------------------------------------------------


def _image_names(archive: str) -> list[str]:
    """The names a `load` of this archive gives: RepoTags of a docker archive, ref annotations of OCI."""
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        if "manifest.json" in names:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            return [tag for entry in manifest for tag in entry.get("RepoTags") or []]
        if "index.json" in names:
            index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
            return [
                entry.get("annotations", {}).get("io.containerd.image.name", "")
                for entry in index.get("manifests", [])
            ]
    raise ValueError("no manifest.json or index.json in the archive")


def _main(runtime: str, directory: Path, argv: list[str]) -> int:
    with (directory / "calls.jsonl").open("a") as log:
        log.write(json.dumps(argv) + "\n")
    if (directory / "daemon-down").exists():
        print(DAEMON_DOWN[runtime], file=sys.stderr)
        return 1
    state_file = directory / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"images": [], "containers": {}}

    def save() -> None:
        state_file.write_text(json.dumps(state))

    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command in ("version", "info"):
        print(f"{runtime} version 99.0 (stub)")
        return 0
    if command == "load":
        archive = args[args.index("-i") + 1]
        try:
            names = _image_names(archive)
        except (OSError, ValueError, tarfile.TarError) as error:
            print(
                f"Error: payload does not match any of the supported image formats: {error}", file=sys.stderr
            )  # noqa: E501
            return 125
        if (directory / "load-fails").exists():
            print("Getting image source signatures")
            print("Copying blob sha256:0123456789ab")
            print("Error: writing blob: storage quota exceeded", file=sys.stderr)
            return 125
        for image in names:
            if image not in state["images"]:
                state["images"].append(image)
        save()
        prefix = "Loaded image(s): " if runtime == "podman" else "Loaded image: "
        if runtime == "podman":
            print(prefix + ",".join(names))
        else:
            for image in names:
                print(prefix + image)
        return 0
    if command == "inspect":
        template = args[args.index("--format") + 1]
        name = args[-1]
        container = state["containers"].get(name)
        if container is None:
            print(f"Error: No such object: {name}", file=sys.stderr)
            return 1
        match = _LABEL_FORMAT.match(template)
        if not match:
            print(f"Error: template: unsupported in the stub: {template}", file=sys.stderr)
            return 1
        print(container["labels"].get(match.group(1), "<no value>"))
        return 0
    if command == "ps":
        wanted = [a[len("label=") :] for a in args if a.startswith("label=")]
        for name, container in sorted(state["containers"].items()):
            if all(key.split("=", 1)[0] in container["labels"] for key in wanted):
                print(name)
        return 0
    if command == "rm":
        name = args[-1]
        if state["containers"].pop(name, None) is None:
            print(f"Error: No such container: {name}", file=sys.stderr)
            return 1
        save()
        print(name)
        return 0
    if command == "run":
        labels: dict[str, str] = {}
        options: dict[str, str] = {}
        rest = list(args)
        while rest and rest[0].startswith("-"):
            option = rest.pop(0)
            if option == "-d":
                continue
            value = rest.pop(0)
            if option == "--label":
                key, _, text = value.partition("=")
                labels[key] = text
            else:
                options[option] = value
        if not rest:
            print('"run" requires at least 1 argument', file=sys.stderr)
            return 125
        image, command_line = rest[0], rest[1:]
        name = options.get("--name", "")
        if name in state["containers"]:
            print(f'Error: the container name "{name}" is already in use', file=sys.stderr)
            return 125
        if image not in state["images"]:
            print(f"Error: Unable to find image '{image}' locally", file=sys.stderr)
            return 125
        identifier = uuid.uuid4().hex + uuid.uuid4().hex
        state["containers"][name] = {
            "id": identifier,
            "image": image,
            "labels": labels,
            "restart": options.get("--restart", ""),
            "command": command_line,
        }
        save()
        print(identifier)
        return 0
    print(f"Error: unknown command {command!r} for the stub", file=sys.stderr)
    return 125


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], Path(sys.argv[2]), sys.argv[3:]))
