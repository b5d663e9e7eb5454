"""Version order, checked against the real rpm (4.18) and dpkg on this machine."""

from __future__ import annotations

import itertools
import random
import subprocess

import pytest
from debian.debian_support import Version as DebianVersion

from services.kit.versions import (
    compare,
    compare_across,
    debian_string,
    rpm_key,
    rpmvercmp,
    sort_key,
)

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


def _generated_versions(seed: int, count: int, alphabet: str) -> list[str]:
    """Random-ish version strings, reproducible from `seed`."""
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(count)]


# Digits weigh more so that numeric segments of several digits, and leading zeros, come up often.
RPM_ALPHABET = "0123456789" * 2 + "00aZ" + "...~~^^_+"


def _generated_pairs(seed: int) -> list[tuple[str, str]]:
    """Pairs of generated versions, plus each version against small changes of itself."""
    rng = random.Random(seed)
    versions = _generated_versions(seed, 400, RPM_ALPHABET)
    pairs = [(rng.choice(versions), rng.choice(versions)) for _ in range(1600)]
    pairs += [
        (v, v + rng.choice(["", ".", "~", "^", "0", "a", "_", "+", ".0", "~a", "^1"])) for v in versions
    ]
    return pairs


def _real_rpm_batch(pairs: list[tuple[str, str]]) -> list[int]:
    """rpm's answer for every pair, from one `rpm --eval` whose Lua loops over a table of the pairs
    (one print per pair would pass the kernel's limit on one argument)."""
    table = ",".join(f'"{text}"' for pair in pairs for text in pair)
    lua = (
        f"local t = {{{table}}} local r = {{}} "
        "for i = 1, #t, 2 do r[#r + 1] = rpm.vercmp(t[i], t[i + 1]) end print(table.concat(r, ','))"
    )
    output = subprocess.run(
        ["rpm", "--eval", f"%{{lua: {lua}}}"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [int(value) for value in output.strip().split(",")]


def test_rpmvercmp_and_its_key_match_the_real_rpm_on_generated_versions() -> None:
    pairs = _generated_pairs(seed=20240601)
    expected = _real_rpm_batch(pairs)
    assert len(expected) == len(pairs)
    ours = [rpmvercmp(a, b) for a, b in pairs]
    by_key = [(rpm_key(a) > rpm_key(b)) - (rpm_key(a) < rpm_key(b)) for a, b in pairs]
    assert [p for p, mine, real in zip(pairs, ours, expected, strict=True) if mine != real] == []
    assert [p for p, mine, real in zip(pairs, by_key, expected, strict=True) if mine != real] == []


def test_the_debian_key_orders_as_python_debian_does() -> None:
    """python-debian implements dpkg's comparison; the key must agree with it on every pair."""
    upstreams = [v for v in _generated_versions(7, 300, "0123456789" * 2 + "aZ.+~:") if v[0].isdigit()]
    revisions = ["", *_generated_versions(8, 30, "0123456789aZ.+~")]
    rng = random.Random(9)
    versions = [(u, rng.choice(revisions)) for u in upstreams]
    versions = [(u, r) for u, r in versions if _is_debian(debian_string(u, r))]
    for (a, ra), (b, rb) in itertools.product(versions[:120], repeat=2):
        reference = DebianVersion(debian_string(a, ra)), DebianVersion(debian_string(b, rb))
        expected = (reference[0] > reference[1]) - (reference[0] < reference[1])
        assert compare("deb", a, ra, b, rb) == expected, (a, ra, b, rb)


def _is_debian(text: str) -> bool:
    try:
        DebianVersion(text)
    except ValueError:
        return False
    return True
