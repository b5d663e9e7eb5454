"""Version order, checked against the real rpm (4.18) and dpkg on this machine."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from services.catalog.versions import compare, compare_across, rpmvercmp, sort_key

RPM_PAIRS = [
    ("1.0-2", "1.0-1"),
    ("1.0a", "1.0"),
    ("1.0~rc1", "1.0"),
    ("1.0^git1", "1.0"),
    ("2.0", "1.999"),
    ("1.01", "1.1"),
    ("1.a", "1.1"),
    ("1.0.a", "1.0.1"),
    ("1.0.0", "1.0"),
    ("1.0~rc1", "1.0~rc2"),
    ("1.0~~", "1.0~"),
    ("1.0~", "1.0"),
    ("1.0^", "1.0"),
    ("1.0^", "1.0^git1"),
    ("1.0^git1", "1.0.1"),
    ("1.0^git1", "1.0~rc1"),
    ("1.0^git2", "1.0^git1"),
    ("1:1.0", "2.0"),
    ("0:1.0", "1.0"),
    ("2:0.1-1", "1:9.9-9"),
    ("1:1.0-1", "1.0-2"),
    ("1.0-1.el8", "1.0-1.el9"),
    ("1.0-10", "1.0-9"),
    ("3.0.0-0.1.rc1", "3.0.0-1"),
    ("1.0_1", "1.0.1"),
    ("1.0+1", "1.0.1"),
    ("10", "9"),
    ("1.0010", "1.9"),
    ("0.9.9", "0.10"),
    ("abc", "abd"),
    ("ABC", "abc"),
    ("1.0a", "1.0b"),
    ("1.0aa", "1.0b"),
    ("1.0a1", "1.0a"),
    ("5.5p1", "5.5p10"),
    ("5.5p10", "5.6"),
    ("1.0", "1.0."),
    ("2.0.1a", "2.0.1"),
    ("2.0.1a", "2.0.1.1"),
    ("1.2.3~beta", "1.2.3~alpha"),
    ("1.0-1", "1.0-1"),
    ("00001", "1"),
    ("1.0~rc1^git1", "1.0~rc1"),
    ("1.0a", "1.0^git1"),
    ("1.0-1", "1.0-1.1"),
]

DEB_PAIRS = [
    ("1:1.0", "2.0"),
    ("1.0~rc1", "1.0"),
    ("1.10", "1.9"),
    ("1.0", "1.0-0"),
    ("1.0-1", "1.0-2"),
    ("1.0+dfsg-1", "1.0-1"),
    ("1.0a", "1.0"),
    ("1.0~", "1.0"),
    ("1.0~~", "1.0~"),
    ("1.0~~a", "1.0~~"),
    ("1.0.1", "1.0"),
    ("2.0", "10.0"),
    ("1.01", "1.1"),
    ("1.0-1ubuntu1", "1.0-1"),
    ("1.0-1+deb11u1", "1.0-1"),
    ("0:1.0", "1.0"),
    ("1:0.1", "0:9.9"),
    ("1.0-1~bpo11+1", "1.0-1"),
    ("1.2.3", "1.2.3a"),
    ("1.2.3a", "1.2.3+1"),
    ("1.0.0", "1.0"),
    ("7.6p2-4", "7.6-0"),
    ("2:1.0", "10:0.1"),
    ("1.0+git20200101", "1.0"),
    ("1.0~git20200101", "1.0"),
    ("3.0-1", "3.0-1.1"),
    ("3.0-1.1", "3.0-1a"),
    ("1.0", "1.0"),
    ("1.2+b1", "1.2"),
    ("9.99", "10"),
    ("1.0-a", "1.0-1"),
]


def _rpm_evr(text: str) -> tuple[str, str]:
    """Splits "[E:]V[-R]" as rpm does: the release follows the last '-'."""
    version, _, release = text.rpartition("-") if "-" in text else (text, "", "")
    return version, release


def _real_rpm(pairs: list[tuple[str, str]]) -> list[int]:
    """rpm's own answers, both ways round for every pair, from one `rpm --eval`."""
    calls = "".join(f'print(rpm.vercmp("{a}", "{b}")..",") ' for pair in pairs for a, b in (pair, pair[::-1]))
    output = subprocess.run(
        ["rpm", "--eval", f"%{{lua: {calls}}}"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [int(value) for value in output.strip().rstrip(",").split(",")]


def _real_dpkg(a: str, b: str) -> int:
    def holds(relation: str) -> bool:
        command = ["dpkg", "--compare-versions", a, relation, b]
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    return -1 if holds("lt") else 0 if holds("eq") else 1


def _rpm_compare(a: str, b: str) -> int:
    return compare("rpm", *_rpm_evr(a), *_rpm_evr(b))


def _deb_compare(a: str, b: str) -> int:
    return compare("deb", a, "", b, "")


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed")
def test_rpm_order_matches_the_real_rpm() -> None:
    both_ways = [p for pair in RPM_PAIRS for p in (pair, pair[::-1])]
    expected = _real_rpm(RPM_PAIRS)
    assert len(expected) == len(both_ways)
    ours = [_rpm_compare(a, b) for a, b in both_ways]
    assert [(pair, mine) for pair, mine in zip(both_ways, ours, strict=True)] == list(
        zip(both_ways, expected, strict=True)
    )


def test_rpm_order_on_the_cases_people_ask_about() -> None:
    assert compare("rpm", "1.0", "2", "1.0", "1") == 1
    assert rpmvercmp("1.0a", "1.0") == 1
    assert rpmvercmp("1.0~rc1", "1.0") == -1
    assert rpmvercmp("1.0^git1", "1.0") == 1
    assert rpmvercmp("2.0", "1.999") == 1
    assert rpmvercmp("1.01", "1.1") == 0
    assert rpmvercmp("1.a", "1.1") == -1
    assert compare("rpm", "1:1.0", "1", "2.0", "1") == 1


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
@pytest.mark.parametrize(("a", "b"), DEB_PAIRS)
def test_deb_order_matches_the_real_dpkg(a: str, b: str) -> None:
    assert (_deb_compare(a, b), _deb_compare(b, a)) == (_real_dpkg(a, b), _real_dpkg(b, a))


def test_a_debian_release_kept_apart_is_the_revision() -> None:
    assert compare("deb", "1.0", "2", "1.0", "1") == 1
    assert compare("deb", "1.0", "1", "1.0-1", "") == 0


def test_tar_and_container_versions_follow_debian_order() -> None:
    for format in ("tar", "container"):
        assert compare(format, "1.0~rc1", "", "1.0", "") == -1
        assert compare(format, "1:1.0", "", "2.0", "") == 1
        assert compare(format, "1.10", "", "1.9", "") == 1


def test_formats_compare_by_rpm_rules_across_formats() -> None:
    assert compare_across(("deb", "2.0", ""), ("rpm", "1.9", "1")) == 1
    assert compare_across(("tar", "1.0", "1"), ("rpm", "1.0", "2")) == -1
    # Within one format its own rules apply: dpkg's tilde.
    assert compare_across(("deb", "1.0~rc1", ""), ("deb", "1.0", "")) == -1


def test_sort_key_orders_newest_first() -> None:
    versions = ["1.0", "1:1.0", "1.0~rc1", "1.9", "2.0", "1.10"]
    ordered = sorted(versions, key=lambda v: sort_key("deb", v, ""), reverse=True)
    assert ordered == ["1:1.0", "2.0", "1.10", "1.9", "1.0", "1.0~rc1"]
