"""Tar packages: an archive with install.sh (and optionally uninstall.sh) at its root.

Each version is unpacked into R/var/lib/convoy/tar/<name>/<version>/ and install.sh runs there with
CONVOY_ROOT, CONVOY_PACKAGE_NAME and CONVOY_PACKAGE_VERSION set. The record R/var/lib/convoy/tar/<name>/
version names the installed version, whose directory (uninstall.sh included) is kept for removal. A
`pending` file marks an install.sh that has not finished: recover() runs it again (scripts must be
idempotent) rather than guessing how far it got."""

import os
import re
import shutil
import stat
import tarfile
import uuid
from typing import Dict, List, Optional, Sequence

from convoy_agent.executors.base import Executor, ExecutorError, LogFn, Package
from convoy_agent.files import write_atomically

RECORD_DIR = "/var/lib/convoy/tar"
INSTALL_SCRIPT = "install.sh"
UNINSTALL_SCRIPT = "uninstall.sh"
# The archive may not expand beyond this, nor hold more members (transfer checks the same on upload).
MAX_UNPACKED_BYTES = 8 * 1024 * 1024 * 1024
MAX_MEMBERS = 10000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}\Z")
# The record directory's own files (with the temporary names older agents wrote them under, which an
# upgraded node may still hold): a version with one of these names would collide with them.
RESERVED_VERSIONS = ("version", "pending", "version.tmp", "pending.tmp")


class TarExecutor(Executor):
    format = "tar"

    def record_dir(self, name: str) -> str:
        _check_name("package name", name)
        return self.sandbox.path(RECORD_DIR, name)

    def installed_version(self, name: str) -> Optional[str]:
        return _read(os.path.join(self.record_dir(name), "version"))

    def list_installed(self, names: Optional[Sequence[str]] = None) -> Dict[str, str]:
        if names is None:
            base = self.sandbox.path(RECORD_DIR)
            names = sorted(os.listdir(base)) if os.path.isdir(base) else []
        found = {}
        for name in names:
            if _NAME.match(name):
                version = self.installed_version(name)
                if version is not None:
                    found[name] = version
        return found

    def install(self, path: str, package: Package, log: LogFn, allow_downgrade: bool = False) -> None:
        version = package.full_version
        _check_name("version", version)
        if version in RESERVED_VERSIONS:
            raise ExecutorError(f"version {version!r} is reserved for the install record")
        pre_hook = _hook(package, "pre_hook")
        post_hook = _hook(package, "post_hook")
        record = self.record_dir(package.name)
        os.makedirs(record, exist_ok=True)
        target = os.path.join(record, version)
        staging = os.path.join(record, ".unpack-" + uuid.uuid4().hex)
        try:
            unpack(path, staging)
            if not os.path.isfile(os.path.join(staging, INSTALL_SCRIPT)):
                raise ExecutorError(f"the archive has no {INSTALL_SCRIPT} at its root")
            for hook in (pre_hook, post_hook):
                if hook and not os.path.isfile(os.path.join(staging, hook)):
                    raise ExecutorError(f"the archive has no {hook} (named by the deploy profile)")
            if os.path.lexists(target):
                shutil.rmtree(target)
            os.rename(staging, target)
        finally:
            if os.path.lexists(staging):
                shutil.rmtree(staging, ignore_errors=True)
        if pre_hook:
            log(f"running the pre_hook {pre_hook}")
            self._script(target, pre_hook, package.name, version, log)
        _write(os.path.join(record, "pending"), version)
        self._script(target, INSTALL_SCRIPT, package.name, version, log)
        if post_hook:
            log(f"running the post_hook {post_hook}")
            self._script(target, post_hook, package.name, version, log)
        self._finish(record, version, log)

    def _finish(self, record: str, version: str, log: LogFn) -> None:
        _write(os.path.join(record, "version"), version)
        os.unlink(os.path.join(record, "pending"))
        for entry in os.listdir(record):
            # Older versions' files are no longer needed: only the installed one's uninstall.sh counts.
            if entry not in (version, "version") and os.path.isdir(os.path.join(record, entry)):
                shutil.rmtree(os.path.join(record, entry), ignore_errors=True)

    def remove(self, name: str, log: LogFn) -> None:
        record = self.record_dir(name)
        version = self.installed_version(name)
        if version is None:
            log(f"{name} is not installed")
            if os.path.isdir(record) and _read(os.path.join(record, "pending")) is None:
                shutil.rmtree(record, ignore_errors=True)
            return
        unpacked = os.path.join(record, version)
        if not os.path.isfile(os.path.join(unpacked, UNINSTALL_SCRIPT)):
            raise ExecutorError(f"{name} {version} has no {UNINSTALL_SCRIPT}; it cannot be uninstalled")
        self._script(unpacked, UNINSTALL_SCRIPT, name, version, log)
        shutil.rmtree(record)

    def recover(self, log: LogFn, names: Sequence[str] = ()) -> None:
        base = self.sandbox.path(RECORD_DIR)
        if not os.path.isdir(base):
            return
        failures = []  # type: List[str]
        for name in sorted(os.listdir(base)):
            record = os.path.join(base, name)
            for entry in os.listdir(record) if os.path.isdir(record) else ():
                if entry.startswith(".unpack-"):
                    shutil.rmtree(os.path.join(record, entry), ignore_errors=True)
            version = _read(os.path.join(record, "pending"))
            if version is None or not _NAME.match(name) or not _NAME.match(version):
                continue
            if version in RESERVED_VERSIONS:
                continue
            log(f"{name}: install.sh of {version} was interrupted; running it again")
            try:
                self._script(os.path.join(record, version), INSTALL_SCRIPT, name, version, log)
            except ExecutorError as error:
                failures.append(f"{name} {version}: {error}")
                continue
            self._finish(record, version, log)
        if failures:
            raise ExecutorError("interrupted tar installs could not be finished", failures)

    def _script(self, directory: str, script: str, name: str, version: str, log: LogFn) -> None:
        path = os.path.join(directory, script)
        if not os.path.isfile(path):
            raise ExecutorError(f"{script} is missing from {name} {version}")
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        env = {
            "CONVOY_ROOT": self.sandbox.script_root,
            "CONVOY_PACKAGE_NAME": name,
            "CONVOY_PACKAGE_VERSION": version,
        }
        self.run([path], log, env=env, cwd=directory)


def unpack(archive: str, destination: str) -> None:
    """Extracts `archive` into `destination` (which must not exist), refusing anything that could land
    outside it or that a package has no business shipping: absolute or ".." paths, links that leave the
    tree, members reached through a symlink, devices, FIFOs. setuid/setgid bits are dropped. Files are
    written by hand (not by tarfile.extract) so that no member is followed through a link."""
    os.makedirs(destination)
    try:
        handle = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as error:
        raise ExecutorError(f"not a readable tar archive: {error}") from None
    with handle:
        try:
            _unpack(handle, destination)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise ExecutorError(f"cannot unpack the archive: {error}") from None


def _unpack(handle: tarfile.TarFile, destination: str) -> None:
    total = 0
    members = []
    seen_links = set()  # type: set
    regular = set()  # type: set
    for count, member in enumerate(handle, 1):
        if count > MAX_MEMBERS:
            raise ExecutorError(f"the archive has more than {MAX_MEMBERS} members")
        name = _member_path(member.name)
        if name is None:
            continue  # the root itself
        parents = _parents(name)
        if any(parent in seen_links for parent in parents):
            raise ExecutorError(f"member {member.name!r} lies behind a symlink")
        if member.issym():
            _check_link(name, member.linkname, member.name)
            seen_links.add(name)
        elif member.islnk():
            target = _member_path(member.linkname)
            if target is None or target not in regular:
                raise ExecutorError(f"hardlink {member.name!r} does not point to an earlier file")
        elif member.isfile():
            total += member.size
            if total > MAX_UNPACKED_BYTES:
                raise ExecutorError(f"the archive expands beyond {MAX_UNPACKED_BYTES} bytes")
            regular.add(name)
        elif not member.isdir():
            raise ExecutorError(f"member {member.name!r} is neither a file, a directory nor a link")
        members.append((name, member))
    for name, member in members:
        if member.issym():
            # Resolved as text, a link could still pass through another link and leave the tree.
            if any(step in seen_links for step in _walk(name, member.linkname)):
                raise ExecutorError(f"symlink {member.name!r} points through another symlink")
    for name, member in members:
        _extract(handle, destination, name, member)


def _extract(handle: tarfile.TarFile, destination: str, name: str, member: tarfile.TarInfo) -> None:
    path = os.path.join(destination, name)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent)
    mode = member.mode & 0o1777  # no setuid/setgid
    if member.isdir():
        if not os.path.isdir(path):
            os.mkdir(path)
        os.chmod(path, mode | 0o700)
    elif member.issym():
        os.symlink(member.linkname, path)
    elif member.islnk():
        shutil.copyfile(os.path.join(destination, _member_path(member.linkname) or ""), path)
        os.chmod(path, mode)
    else:
        source = handle.extractfile(member)
        if source is None:
            raise ExecutorError(f"cannot read member {member.name!r}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        if os.path.islink(path) or os.path.isdir(path):
            raise ExecutorError(f"member {member.name!r} would replace another member")
        with os.fdopen(os.open(path, flags, 0o600), "wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        os.chmod(path, mode)


def _member_path(raw: str) -> Optional[str]:
    """The normalised relative path of a member; None for the archive root; refuses escapes."""
    if raw.startswith("/") or "\\" in raw or "\x00" in raw:
        raise ExecutorError(f"member {raw!r} has an absolute or unusual path")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ExecutorError(f"member {raw!r} has a '..' component")
    return "/".join(parts) if parts else None


def _parents(name: str) -> List[str]:
    parts = name.split("/")
    return ["/".join(parts[:index]) for index in range(1, len(parts))]


def _check_link(name: str, target: str, raw: str) -> None:
    if not target or target.startswith("/") or "\x00" in target:
        raise ExecutorError(f"symlink {raw!r} points to an absolute or empty path")
    _resolve(name, target, raw)


def _resolve(name: str, target: str, raw: str = "") -> str:
    """The path (relative to the archive root) a symlink at `name` points to, read as text."""
    parts = name.split("/")[:-1]
    for part in target.split("/"):
        if part == "..":
            if not parts:
                raise ExecutorError("symlink %r points outside the archive" % (raw or name))
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def _walk(name: str, target: str) -> List[str]:
    """Every path a symlink's target passes through on the way to its end (the end itself excluded)."""
    parts = name.split("/")[:-1]
    steps = []
    for part in [part for part in target.split("/") if part not in ("", ".")]:
        if parts:
            steps.append("/".join(parts))
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return steps


def _hook(package: Package, key: str) -> str:
    """The relative path of a deploy-profile hook script inside the artifact ("" for none)."""
    value = str(package.profile.get(key) or "")
    if not value:
        return ""
    path = _member_path(value) if "\x00" not in value else None
    if not path:
        raise ExecutorError(f"{key} {value!r} is not a path inside the artifact")
    return path


def _check_name(what: str, value: str) -> None:
    if not _NAME.match(value or ""):
        raise ExecutorError(f"{what} {value!r} cannot name a directory")


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _write(path: str, text: str) -> None:
    """Atomically: a crash leaves the old content or the new, never half of it."""
    write_atomically(path, (text + "\n").encode("utf-8"), 0o644)
