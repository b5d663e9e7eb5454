"""The checks every tar member passes before the next one is read: nothing may escape, explode or surprise."""

from __future__ import annotations

import bisect
import posixpath
import re
import stat
import tarfile

from services.transfer.errors import Rejected
from services.transfer.inspection.links import PATH_MAX, LinkTable, PathEscapes, PathTooDeep
from services.transfer.inspection.model import Limits

__all__ = ["MemberScanner", "normal_name", "shown"]

_NAME_MAX = 255  # bytes in one path component, as on Linux
# Names are quoted in refusals, which travel in a gRPC trailer of a few KiB.
_SHOWN_CHARS = 120
# Extractors stop a name at NUL ("..\0/x" is ".." to them); control characters and backslashes have no
# place in a package and hide what a name really is from the person reading it.
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_DEVICE_KINDS = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}
# File capabilities give whoever runs the file privileges, as setuid does.
_CAPABILITY_KEYS = ("SCHILY.xattr.security.capability", "LIBARCHIVE.xattr.security.capability")
# In a global pax header these would rename or resize every later member.
_GLOBAL_OVERRIDES = ("path", "linkpath", "size", "GNU.sparse.name")


def normal_name(name: str) -> str:
    """A member path relative to the archive root ("./a/b/" → "a/b", the root itself → ".")."""
    return posixpath.normpath(name.lstrip("/") or ".")


def shown(name: str) -> str:
    """`name` quoted for a message, cut short when long."""
    if len(name) <= _SHOWN_CHARS:
        return repr(name)
    return f"{name[:_SHOWN_CHARS]!r} (and {len(name) - _SHOWN_CHARS} more characters)"


class _Places:
    """Where earlier members landed, and which places have become directories by holding something."""

    def __init__(self) -> None:
        self.members: dict[str, tarfile.TarInfo] = {}
        self._sorted: list[str] = []

    def add(self, place: str, member: tarfile.TarInfo) -> None:
        if place not in self.members:
            bisect.insort(self._sorted, place)
        self.members[place] = member

    def is_directory(self, place: str) -> bool:
        """An earlier member is a directory here, or landed below here (so extraction made one)."""
        earlier = self.members.get(place)
        if earlier is not None and earlier.isdir():
            return True
        below = place + "/"
        index = bisect.bisect_left(self._sorted, below)
        return index < len(self._sorted) and self._sorted[index].startswith(below)


class MemberScanner:
    """Checks each member as it is reached, before the next one is read (and decompressed).

    A node extracts these archives with whatever tool it has (GNU tar, bsdtar, Python's tarfile), so a
    member is refused not only when it is dangerous to us but whenever those tools could read it otherwise.
    """

    def __init__(self, limits: Limits, archive_size: int) -> None:
        self.limits = limits
        self.content_limit = limits.max_expansion_ratio * max(archive_size, 1)
        self.links = LinkTable()
        self.places = _Places()
        self.count = self.declared = 0

    def check(self, member: tarfile.TarInfo, global_headers: dict[str, str]) -> None:
        self._count_entry()
        _check_headers(member, global_headers)
        _check_kind(member)
        place = self._place(member)
        if member.issym():
            self._check_symlink(member, place)
        elif member.islnk():
            self._check_hardlink(member)
        self._count_contents(member)
        # Kept records are read for their names and offsets only; whole pax headers would hold memory.
        member.pax_headers = {}
        self.places.add(place, member)

    def finish(self) -> dict[str, tarfile.TarInfo]:
        """The members by place, once every symlink is checked again: a later symlink can redirect the
        target of an earlier one (l -> a/b/../.., then a/b -> ..)."""
        for place in self.links.targets:
            self._resolve_target(self.places.members[place], place, " once every symlink is in place")
        return self.places.members

    def _count_entry(self) -> None:
        # Counted per entry, not per path: repeating one name must not get around the limit.
        self.count += 1
        if self.count > self.limits.max_members:
            raise Rejected("too_many_members", f"the archive has more than {self.limits.max_members} members")

    def _count_contents(self, member: tarfile.TarInfo) -> None:
        self.declared += member.size
        if self.declared > self.content_limit:
            raise Rejected(
                "expansion_limit",
                f"member {shown(member.name)} brings the archive's contents to {self.declared} bytes, more "
                f"than {self.limits.max_expansion_ratio}x the archive's size",
            )

    def _place(self, member: tarfile.TarInfo) -> str:
        """Where the member lands: through the symlinks before it, inside the root, on a free place."""
        _check_member_name(member.name)
        try:
            place = self._land(member.name)
        except PathEscapes as exc:
            raise Rejected("unsafe_path", f"member {shown(member.name)} escapes the archive root") from exc
        except PathTooDeep as exc:
            raise Rejected(
                "unsafe_link", f"member {shown(member.name)} is reached through too many symlinks"
            ) from exc
        self._check_free(member, place)
        return place

    def _land(self, name: str) -> str:
        """The place of `name`, its parent's symlinks followed; the last component is what gets created,
        so a symlink there is replaced, not followed."""
        normal = normal_name(name)
        if normal == ".":
            return "."
        parent, base = posixpath.split(normal)
        above = self.links.resolve(parent) if parent else "."
        return base if above == "." else f"{above}/{base}"

    def _check_free(self, member: tarfile.TarInfo, place: str) -> None:
        """One member per place (directories may repeat), and nothing but a directory where one is:
        extractors disagree on replacing things, and then on where later members go."""
        if place == ".":
            if not member.isdir():
                raise Rejected("unsafe_path", f"member {shown(member.name)} would replace the archive root")
            return
        earlier = self.places.members.get(place)
        if earlier is not None and not (earlier.isdir() and member.isdir()):
            raise Rejected(
                "duplicate_member",
                f"member {shown(member.name)} would overwrite {shown(earlier.name)}, which is earlier in "
                "the archive",
            )
        if not member.isdir() and self.places.is_directory(place):
            raise Rejected("unsafe_path", f"member {shown(member.name)} would replace a directory")

    def _check_symlink(self, member: tarfile.TarInfo, place: str) -> None:
        target = member.linkname
        _check_text(target, f"the link target of {shown(member.name)}", "unsafe_link")
        if target.startswith("/"):
            raise Rejected(
                "unsafe_link", f"symlink {shown(member.name)} points to the absolute path {shown(target)}"
            )
        self._resolve_target(member, place, "")
        self.links.add(place, target)

    def _resolve_target(self, member: tarfile.TarInfo, place: str, when: str) -> None:
        target = member.linkname
        try:
            self.links.resolve(posixpath.join(posixpath.dirname(place), target))
        except PathEscapes as exc:
            raise Rejected(
                "unsafe_link",
                f"symlink {shown(member.name)} points outside the archive{when} ({shown(target)})",
            ) from exc
        except PathTooDeep as exc:
            raise Rejected(
                "unsafe_link",
                f"symlink {shown(member.name)} goes through too many symlinks ({shown(target)})",
            ) from exc

    def _check_hardlink(self, member: tarfile.TarInfo) -> None:
        """A hardlink names an earlier regular file: linking to a symlink would re-read its target from
        the link's own directory, and to anything else extractors disagree."""
        target, name = member.linkname, shown(member.name)
        _check_text(target, f"the link target of {name}", "unsafe_link")
        if target.startswith("/"):
            raise Rejected("unsafe_link", f"hardlink {name} points to the absolute path {shown(target)}")
        if ".." in target.split("/"):
            raise Rejected("unsafe_link", f"hardlink {name} points outside the archive ({shown(target)})")
        try:
            earlier = self.places.members.get(self._land(target))
        except (PathEscapes, PathTooDeep) as exc:
            raise Rejected(
                "unsafe_link", f"hardlink {name} points outside the archive ({shown(target)})"
            ) from exc
        if earlier is None or not earlier.isreg():
            raise Rejected(
                "unsafe_link",
                f"hardlink {name} points to {shown(target)}, which is not a regular file earlier in the archive",
            )


def _check_text(value: str, subject: str, reason: str) -> None:
    """A name or link target every extractor reads as we do: bounded, no NUL, no control characters."""
    if not value:
        raise Rejected(reason, f"{subject} is empty")
    if _BAD_CHARS.search(value):
        raise Rejected(reason, f"{subject} has a control character or a backslash in it")
    encoded = value.encode("utf-8", "surrogateescape")
    if len(encoded) > PATH_MAX:
        raise Rejected(reason, f"{subject} is longer than {PATH_MAX} bytes")
    if any(len(part) > _NAME_MAX for part in encoded.split(b"/")):
        raise Rejected(reason, f"{subject} has a path component longer than {_NAME_MAX} bytes")


def _check_member_name(name: str) -> None:
    """GNU tar and bsdtar skip members with '..' in their name, so such a member is not where we would
    think it is; none is needed to build any tree."""
    _check_text(name, f"the name of member {shown(name)}", "unsafe_path")
    if name.startswith("/"):
        raise Rejected("unsafe_path", f"member {shown(name)} has an absolute path")
    if ".." in name.split("/"):
        raise Rejected("unsafe_path", f"member {shown(name)} has a '..' component")


def _check_headers(member: tarfile.TarInfo, global_headers: dict[str, str]) -> None:
    """Extended headers: one name per member, no sparse maps, no privileges."""
    overridden = [key for key in _GLOBAL_OVERRIDES if key in global_headers]
    if overridden:
        raise Rejected("unsafe_path", f"a global pax header sets {overridden[0]!r} for every member")
    pax, name = member.pax_headers, shown(member.name)
    if member.issparse() or any(key.startswith("GNU.sparse.") for key in pax):
        raise Rejected("unsupported_member", f"member {name} is a sparse file")
    # tarfile lets a GNU long name win over a pax path that follows it; GNU tar does the opposite.
    if "path" in pax and pax["path"].rstrip("/") != member.name.rstrip("/"):
        raise Rejected(
            "unsafe_path", f"member {name} has another name in its pax header ({shown(pax['path'])})"
        )
    if "linkpath" in pax and pax["linkpath"] != member.linkname:
        raise Rejected("unsafe_link", f"member {name} has another link target in its pax header")
    if any(key in pax for key in _CAPABILITY_KEYS):
        raise Rejected("setuid", f"member {name} carries file capabilities (security.capability)")


def _check_kind(member: tarfile.TarInfo) -> None:
    name = shown(member.name)
    kind = _DEVICE_KINDS.get(member.type)
    if kind is not None:
        raise Rejected("device_file", f"member {name} is a {kind}")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise Rejected("unsupported_member", f"member {name} has an unsupported type")
    if member.size < 0:
        raise Rejected("corrupt_archive", f"the archive is damaged: member {name} has a negative size")
    # Extractors disagree on whether such data is skipped, and so on where the next header starts.
    if member.size and not member.isreg():
        raise Rejected("unsupported_member", f"member {name} is not a regular file but carries data")
    if member.mode & stat.S_ISUID:
        raise Rejected("setuid", f"member {name} has the setuid bit set")
    if member.mode & stat.S_ISGID:
        raise Rejected("setuid", f"member {name} has the setgid bit set")
