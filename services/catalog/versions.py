"""Version order of each package format: dpkg's rules for deb, tar and container, rpm's for rpm.

tar and container versions follow Debian ordering (epoch, then upstream version, then revision, with
'~' sorting before everything, even the end of the string), so write pre-releases as 1.0~rc1: it sorts
below 1.0. Packages of different formats compare by rpm's rules on epoch, version and release, which
agree with dpkg's on ordinary dotted versions.
"""

from __future__ import annotations

import functools
from typing import Any

from debian.debian_support import Version as DebianVersion

__all__ = [
    "DEBIAN_ORDERED",
    "rpmvercmp",
    "rpm_label_compare",
    "debian_compare",
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
    if sep and epoch.isdigit():
        return epoch, rest
    return "0", version


def rpm_label_compare(a_version: str, a_release: str, b_version: str, b_release: str) -> int:
    """rpm's EVR comparison: epoch, then version, then release (an empty release sorts below any)."""
    a_epoch, a_plain = split_epoch(a_version)
    b_epoch, b_plain = split_epoch(b_version)
    return rpmvercmp(a_epoch, b_epoch) or rpmvercmp(a_plain, b_plain) or rpmvercmp(a_release, b_release)


def debian_string(version: str, release: str) -> str:
    """The Debian version string: the release, when kept apart, is the Debian revision."""
    return f"{version}-{release}" if release else version


def debian_compare(a_version: str, a_release: str, b_version: str, b_release: str) -> int:
    """dpkg's comparison (epoch, upstream, revision; '~' before anything)."""
    a = DebianVersion(debian_string(a_version, a_release))
    b = DebianVersion(debian_string(b_version, b_release))
    return (a > b) - (a < b)


def compare(format: str, a_version: str, a_release: str, b_version: str, b_release: str) -> int:
    """-1, 0 or 1 as version a is older than, the same as or newer than version b of one format."""
    if format in DEBIAN_ORDERED:
        return debian_compare(a_version, a_release, b_version, b_release)
    return rpm_label_compare(a_version, a_release, b_version, b_release)


def compare_across(a: tuple[str, str, str], b: tuple[str, str, str]) -> int:
    """Compares (format, version, release) triples: the format's own rules when the formats agree,
    rpm's rules on version then release when they differ."""
    if a[0] == b[0]:
        return compare(a[0], a[1], a[2], b[1], b[2])
    return rpm_label_compare(a[1], a[2], b[1], b[2])


_KEY = functools.cmp_to_key(compare_across)


def sort_key(format: str, version: str, release: str) -> Any:
    """A key for sorted()/max(): oldest first; use reverse=True for newest first."""
    return _KEY((format, version, release))
