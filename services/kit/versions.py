"""Version order of each package format: dpkg's rules for deb, tar and container, rpm's for rpm.

tar and container versions follow Debian ordering (epoch, then upstream version, then revision, with
'~' sorting before everything, even the end of the string), so write pre-releases as 1.0~rc1: it sorts
below 1.0. Packages of different formats compare by rpm's rules on epoch, version and release, which
agree with dpkg's on ordinary dotted versions. (On unusual ones that is not a total order: deb 1.0+1-2 <
deb 1.0.1-1 by dpkg, yet rpm 1.0.1-1.5 lies between them by rpm's rules; listings sort a stable order
first, so that their answer is at least always the same.)

rpmvercmp is rpm's C function line by line, for reading next to it; sorting uses VersionKey, which parses
each version once into keys with the same order (rpm_key, debian_key), checked against rpm and dpkg.
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "DEBIAN_ORDERED",
    "VersionKey",
    "rpmvercmp",
    "rpm_key",
    "rpm_evr_key",
    "dpkg_part_key",
    "debian_key",
    "debian_string",
    "split_epoch",
    "compare",
    "compare_across",
    "sort_key",
]

# Formats whose versions are Debian versions.
DEBIAN_ORDERED = frozenset({"deb", "tar", "container"})


def _is_alnum(char: str) -> bool:
    # rpm's risalnum: ASCII letters and digits only, whatever the locale.
    return char.isascii() and char.isalnum()


def _skip_separators(text: str, pos: int) -> int:
    while pos < len(text) and not _is_alnum(text[pos]) and text[pos] not in "~^":
        pos += 1
    return pos


def _segment_end(text: str, pos: int, numeric: bool) -> int:
    while (
        pos < len(text) and text[pos].isascii() and (text[pos].isdigit() if numeric else text[pos].isalpha())
    ):
        pos += 1
    return pos


def _char(text: str, pos: int) -> str:
    return text[pos] if pos < len(text) else ""


def _tilde_or_caret(a: str, i: int, b: str, j: int) -> int | None:
    """rpm's rule for '~' (before anything, even the end) and '^' (after the end, before anything else).

    None when neither side is at a '~' or '^'; 0 when both are at the same one (skip it and go on).
    """
    x, y = _char(a, i), _char(b, j)
    if x == "~" or y == "~":
        return 0 if x == y else (-1 if x == "~" else 1)
    if x == "^" or y == "^":
        if not x:
            return -1
        if not y:
            return 1
        return 0 if x == y else (-1 if x == "^" else 1)
    return None


def _compare_segments(one: str, two: str, numeric: bool) -> int:
    if numeric:
        one, two = one.lstrip("0"), two.lstrip("0")
        if len(one) != len(two):
            return 1 if len(one) > len(two) else -1
    return (one > two) - (one < two)


def rpmvercmp(a: str, b: str) -> int:
    """rpm 4.18's rpmvercmp: -1, 0 or 1 as `a` is older than, equal to or newer than `b`."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        i, j = _skip_separators(a, i), _skip_separators(b, j)
        special = _tilde_or_caret(a, i, b, j)
        if special is not None:
            if special:
                return special
            i, j = i + 1, j + 1
            continue
        if i >= len(a) or j >= len(b):
            break
        numeric = a[i].isdigit()
        end_a, end_b = _segment_end(a, i, numeric), _segment_end(b, j, numeric)
        if end_b == j:
            # Segments of different kinds: a number is newer than letters.
            return 1 if numeric else -1
        order = _compare_segments(a[i:end_a], b[j:end_b], numeric)
        if order:
            return order
        i, j = end_a, end_b
    if i >= len(a) and j >= len(b):
        return 0
    return 1 if i < len(a) else -1


def split_epoch(version: str) -> tuple[str, str]:
    """("epoch", "version") of an rpm version written "E:V"; the epoch is "0" when absent."""
    epoch, sep, rest = version.partition(":")
    if sep and epoch.isascii() and epoch.isdigit():
        return epoch, rest
    return "0", version


# rpmvercmp's order as a key: its segments are digit runs, ASCII letter runs, '~' and '^' (everything
# else only separates), compared one by one with '~' < end < '^' < letters < digits.
_RPM_SEGMENT = re.compile(r"[0-9]+|[A-Za-z]+|[~^]")
_TILDE, _END, _CARET, _LETTERS, _DIGITS = range(5)


def rpm_key(text: str) -> tuple[tuple[int | str, ...], ...]:
    """A key whose order is rpmvercmp's: parsed once, compared as plain tuples."""
    key: list[tuple[int | str, ...]] = []
    for segment in _RPM_SEGMENT.findall(text):
        if segment == "~":
            key.append((_TILDE,))
        elif segment == "^":
            key.append((_CARET,))
        elif segment[0].isdigit():
            digits = segment.lstrip("0")
            key.append((_DIGITS, len(digits), digits))
        else:
            key.append((_LETTERS, segment))
    key.append((_END,))
    return tuple(key)


def rpm_evr_key(version: str, release: str) -> tuple[object, ...]:
    """rpm's EVR order: epoch, then version, then release (an empty release sorts below any)."""
    epoch, plain = split_epoch(version)
    return (rpm_key(epoch), rpm_key(plain), rpm_key(release))


def debian_string(version: str, release: str) -> str:
    """The Debian version string: the release, when kept apart, is the Debian revision."""
    return f"{version}-{release}" if release else version


# dpkg's order as a key. A version part is runs of non-digits and digits in turn; a non-digit run compares
# character by character ('~' first, then the run's end, then letters, then everything else), a digit run
# by its value, and the part's end like an endless "0". A run's end and the part's end are both 0; they
# never meet, because every run but the first starts with a non-digit (an empty part is written "0").
_DPKG_RUNS = re.compile(r"([^0-9]*)([0-9]*)")


def _dpkg_rank(char: str) -> int:
    if char == "~":
        return -1
    return ord(char) if char.isascii() and char.isalpha() else ord(char) + 256


def dpkg_part_key(part: str) -> tuple[int, ...]:
    key: list[int] = []
    for text, digits in _DPKG_RUNS.findall(part or "0"):
        if text or digits:
            key += [*(_dpkg_rank(char) for char in text), 0, int(digits or "0")]
    key.append(0)
    return tuple(key)


def debian_key(version: str, release: str) -> tuple[object, ...]:
    """dpkg's order (epoch, upstream, revision) of a version that check_version accepted."""
    full = debian_string(version, release)
    epoch, sep, rest = full.partition(":")
    if not (sep and epoch.isascii() and epoch.isdigit()):
        epoch, rest = "0", full
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return (int(epoch), dpkg_part_key(upstream), dpkg_part_key(revision))


def _cmp(a: object, b: object) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]


@functools.total_ordering
class VersionKey:
    """One package's place in version order, parsed once: its format's own key (`own`), and rpm's EVR
    key for comparing with packages of other formats (see the module docstring), parsed only then."""

    __slots__ = ("format", "own", "_version", "_release", "_rpm")

    def __init__(self, format: str, version: str, release: str) -> None:
        self.format, self._version, self._release = format, version, release
        self._rpm: tuple[object, ...] | None = None
        self.own = debian_key(version, release) if format in DEBIAN_ORDERED else self.rpm

    @property
    def rpm(self) -> tuple[object, ...]:
        if self._rpm is None:
            self._rpm = rpm_evr_key(self._version, self._release)
        return self._rpm

    def compare(self, other: VersionKey) -> int:
        if self.format == other.format:
            return _cmp(self.own, other.own)
        return _cmp(self.rpm, other.rpm)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VersionKey) and self.compare(other) == 0

    def __lt__(self, other: VersionKey) -> bool:
        return self.compare(other) < 0

    __hash__ = None  # type: ignore[assignment]


def compare(format: str, a_version: str, a_release: str, b_version: str, b_release: str) -> int:
    """-1, 0 or 1 as version a is older than, the same as or newer than version b of one format."""
    return VersionKey(format, a_version, a_release).compare(VersionKey(format, b_version, b_release))


def compare_across(a: tuple[str, str, str], b: tuple[str, str, str]) -> int:
    """Compares (format, version, release) triples: the format's own rules when the formats agree,
    rpm's rules on version then release when they differ."""
    return VersionKey(*a).compare(VersionKey(*b))


def sort_key(format: str, version: str, release: str) -> VersionKey:
    """A key for sorted()/max(): oldest first; use reverse=True for newest first."""
    return VersionKey(format, version, release)
