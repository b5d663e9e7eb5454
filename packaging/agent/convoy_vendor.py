"""The agent package's dependencies: wheels for every supported CPython, extracted for the one present.

The package carries the wheels of grpcio, protobuf, cryptography and what they need, resolved once per
Python version (wheels/manifest.json lists them). `install` (run by the package's postinst / %post, and by
the launcher when the interpreter changed since) extracts the set for this interpreter into deps/ after
checking each wheel's tags against it; no pip, no network. `remove` undoes that before the package's files
go. Runs on Python 3.6 and later, standard library only.
"""

import compileall
import fcntl
import hashlib
import json
import os
import platform
import shutil
import sys
import sysconfig
import zipfile

MANIFEST = os.path.join("wheels", "manifest.json")
DEPS = "deps"
MARKER = ".convoy-deps.json"
# The tag that stands for each old manylinux name: the glibc it promises.
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MACHINES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


class VendorError(Exception):
    """The dependencies cannot be put in place for this interpreter; the message says why."""


def library_dir(script):
    # type: (str) -> str
    """/usr/lib/convoy-agent for /usr/bin/convoy-agent (or this file), also inside a sandbox root."""
    here = os.path.dirname(os.path.realpath(script))
    if os.path.isfile(os.path.join(here, MANIFEST)):
        return here
    return os.path.join(os.path.dirname(here), "lib", "convoy-agent")


def interpreter():
    # type: () -> dict
    """What decides which wheels fit: CPython version, ABI tag, machine and glibc."""
    major, minor = sys.version_info[:2]
    soabi = sysconfig.get_config_var("SOABI") or ""
    parts = soabi.split("-")
    abi = "cp" + parts[1] if soabi.startswith("cpython-") and len(parts) > 1 else "cp%d%d" % (major, minor)
    return {
        "implementation": sys.implementation.name,
        "python": "%d.%d" % (major, minor),
        "abi": abi,
        "machine": _MACHINES.get(platform.machine(), platform.machine()),
        "glibc": list(glibc_version()),
    }


def glibc_version():
    # type: () -> tuple
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        text = ""
    name, _, version = text.partition(" ")
    numbers = version.split(".")
    if name != "glibc" or len(numbers) < 2 or not all(part.isdigit() for part in numbers[:2]):
        return (0, 0)
    return (int(numbers[0]), int(numbers[1]))


def wheel_fits(filename, about):
    # type: (str, dict) -> bool
    """Whether a wheel's (compressed) tags allow it on the interpreter `about` describes."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) < 5:
        return False
    pythons, abis, platforms = (part.split(".") for part in parts[-3:])
    return (
        about["implementation"] == "cpython"
        and any(_platform_fits(tag, about) for tag in platforms)
        and any(_python_abi_fits(python, abi, about) for python in pythons for abi in abis)
    )


def _python_abi_fits(python, abi, about):
    # type: (str, str, dict) -> bool
    minor = int(about["python"].split(".")[1])
    own = "cp3%d" % minor
    if abi == "abi3":
        return python.startswith("cp3") and python[3:].isdigit() and int(python[3:]) <= minor
    if abi == "none":
        return python in ("py3", own, "py3%d" % minor) or (
            python.startswith("py3") and python[3:].isdigit() and int(python[3:]) <= minor
        )
    return python == own and abi == about["abi"]


def _platform_fits(tag, about):
    # type: (str, dict) -> bool
    if tag == "any":
        return True
    machine = about["machine"]
    if not tag.endswith("_" + machine):
        return False
    name = tag[: -len(machine) - 1]
    if name in _LEGACY_MANYLINUX:
        needed = _LEGACY_MANYLINUX[name]
    elif name.startswith("manylinux_"):
        numbers = name[len("manylinux_") :].split("_")
        if len(numbers) != 2 or not all(number.isdigit() for number in numbers):
            return False
        needed = (int(numbers[0]), int(numbers[1]))
    else:
        return False
    return tuple(about["glibc"]) >= needed


def load_manifest(lib):
    # type: (str) -> dict
    path = os.path.join(lib, MANIFEST)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        manifest = json.loads(data.decode("utf-8"))
    except (OSError, ValueError) as error:
        raise VendorError("cannot read %s: %s" % (path, error)) from None
    manifest["digest"] = hashlib.sha256(data).hexdigest()
    return manifest


def wanted(lib, manifest, about):
    # type: (str, dict, dict) -> list
    """The wheel files for this interpreter, each checked against its tags."""
    if about["implementation"] != "cpython":
        raise VendorError("the agent needs CPython, not %s" % about["implementation"])
    if about["machine"] != manifest.get("machine"):
        raise VendorError(
            "this package is for %s, but this machine is %s: install the package for %s"
            % (manifest.get("machine"), about["machine"], about["machine"])
        )
    files = manifest.get("pythons", {}).get(about["python"])
    if files is None:
        supported = sorted(manifest.get("pythons", {}), key=lambda text: tuple(map(int, text.split("."))))
        raise VendorError(
            "this package has no dependencies for Python %s (it has them for %s)"
            % (about["python"], ", ".join(supported))
        )
    unfit = [name for name in files if not wheel_fits(name, about)]
    if unfit:
        raise VendorError(
            "these wheels do not fit Python %s (%s, glibc %d.%d) on %s: %s"
            % (
                about["python"],
                about["abi"],
                about["glibc"][0],
                about["glibc"][1],
                about["machine"],
                ", ".join(unfit),
            )
        )
    return [os.path.join(lib, "wheels", name) for name in files]


def current(lib, manifest, about):
    # type: (str, dict, dict) -> bool
    """Whether deps/ holds what `install` would extract now."""
    try:
        with open(os.path.join(lib, DEPS, MARKER)) as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        return False
    return marker == dict(about, manifest=manifest["digest"])


def install(lib, compile_code=True):
    # type: (str, bool) -> bool
    """Extracts this interpreter's wheels into deps/ unless they are there already (True when it did), and
    compiles the agent's code for it."""
    manifest = load_manifest(lib)
    about = interpreter()
    with _locked(lib):
        if compile_code:
            _compile(os.path.join(lib, "convoy_agent"))
        if current(lib, manifest, about):
            return False
        wheels = wanted(lib, manifest, about)
        staging = os.path.join(lib, ".deps.new")
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        for wheel in wheels:
            extract(wheel, staging)
        if compile_code:
            _compile(staging)
        with open(os.path.join(staging, MARKER), "w") as handle:
            json.dump(dict(about, manifest=manifest["digest"]), handle)
        target = os.path.join(lib, DEPS)
        old = os.path.join(lib, ".deps.old")
        shutil.rmtree(old, ignore_errors=True)
        if os.path.lexists(target):
            os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    return True


def extract(wheel, target):
    # type: (str, str) -> None
    """A wheel's importable contents into `target` (purelib and platlib alike; scripts, headers and data of
    .data/ are not needed by the agent and are left out)."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as error:
        raise VendorError("cannot open %s: %s" % (wheel, error)) from None
    with archive:
        for member in archive.infolist():
            name = _destination(member.filename)
            if name is None:
                continue
            path = os.path.join(target, *name.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with archive.open(member) as source, open(path, "wb") as sink:
                shutil.copyfileobj(source, sink)
            os.chmod(path, 0o755 if (member.external_attr >> 16) & 0o111 else 0o644)


def _destination(name):
    # type: (str) -> Optional[str]
    """Where a wheel member goes, relative to the target; None to leave it out. Refuses a path that
    would leave the target."""
    if name.endswith("/"):
        return None
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(part in ("", ".", "..") for part in parts):
        raise VendorError("a wheel member has an unsafe name: %r" % name)
    if parts[0].endswith(".data"):
        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
            return None
        parts = parts[2:]
    return "/".join(parts)


def _compile(directory):
    # type: (str) -> None
    """Bytecode next to the sources, so that the launcher (python3 -B) starts fast; failures only cost time."""
    if os.path.isdir(directory):
        compileall.compile_dir(directory, maxlevels=64, quiet=2)


def remove(lib):
    # type: (str) -> None
    """Everything `install` and the interpreter created under the library directory."""
    with _locked(lib):
        for name in (DEPS, ".deps.new", ".deps.old"):
            shutil.rmtree(os.path.join(lib, name), ignore_errors=True)
        for top, directories, _files in os.walk(lib):
            if "__pycache__" in directories:
                shutil.rmtree(os.path.join(top, "__pycache__"), ignore_errors=True)
                directories.remove("__pycache__")


class _locked:
    """flock on the library directory: a postinst and an agent starting at the same time take turns."""

    def __init__(self, lib):
        # type: (str) -> None
        self.lib = lib
        self.fd = -1

    def __enter__(self):
        # type: () -> None
        self.fd = os.open(self.lib, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        # type: (*object) -> None
        os.close(self.fd)


def activate(lib):
    # type: (str) -> None
    """Puts the agent and its dependencies first on sys.path, extracting them when they are missing or were
    extracted for another interpreter (as root; otherwise says what to run)."""
    manifest = load_manifest(lib)
    about = interpreter()
    if not current(lib, manifest, about):
        if not os.access(lib, os.W_OK):
            raise VendorError(
                "the dependencies in %s are missing or were extracted for another Python: run "
                "`python3 %s install` as root"
                % (os.path.join(lib, DEPS), os.path.join(lib, "convoy_vendor.py"))
            )
        install(lib)
    sys.path[:0] = [lib, os.path.join(lib, DEPS)]


def launch(lib, argv):
    # type: (str, list) -> int
    """The `convoy-agent` command of the package."""
    try:
        activate(lib)
    except (VendorError, OSError) as error:
        sys.stderr.write("convoy-agent: %s\n" % error)
        return 1
    import warnings

    # cryptography's notice that the node's Python is old is no news there: it is the node's own python3.
    warnings.filterwarnings("ignore", message=r"Python 3\.[0-9]+ is no longer supported")
    from convoy_agent.cli import main

    return main(argv)


def main(argv):
    # type: (list) -> int
    """`convoy_vendor.py install|remove|check [LIBDIR]` for the package's scripts."""
    if not argv or argv[0] not in ("install", "remove", "check") or len(argv) > 2:
        sys.stderr.write("usage: convoy_vendor.py install|remove|check [LIBDIR]\n")
        return 2
    lib = os.path.abspath(argv[1]) if len(argv) > 1 else library_dir(__file__)
    try:
        if argv[0] == "install":
            done = install(lib)
            about = interpreter()
            sys.stdout.write(
                "convoy-agent: dependencies %s for Python %s (%s)\n"
                % ("extracted" if done else "already in place", about["python"], about["machine"])
            )
        elif argv[0] == "remove":
            remove(lib)
        else:
            manifest = load_manifest(lib)
            about = interpreter()
            wanted(lib, manifest, about)
            if not current(lib, manifest, about):
                sys.stdout.write(
                    "convoy-agent: the dependencies for Python %s are not extracted\n" % about["python"]
                )
                return 1
            sys.stdout.write("convoy-agent: the dependencies for Python %s are in place\n" % about["python"])
    except (VendorError, OSError) as error:
        sys.stderr.write("convoy-agent: %s\n" % error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
