"""What the catalog accepts as package facts and deploy profiles, and how it normalises them."""

from __future__ import annotations

import pytest

from services.catalog import validation as checks
from services.catalog.profiles import DeployProfileSpec, HealthCheckSpec, check_profile
from services.kit.errors import InvalidArgument


def test_names_are_lowercase_and_arch_aliases_become_the_names_nodes_report() -> None:
    assert checks.check_software_name(" NetworkManager ") == "networkmanager"
    assert checks.check_software_name("libstdc++6") == "libstdc++6"
    assert [checks.check_arch(a) for a in ("amd64", "arm64", "all", "X86_64", "mips64el")] == [
        "x86_64",
        "aarch64",
        "noarch",
        "x86_64",
        "mips64el",
    ]
    with pytest.raises(InvalidArgument):
        checks.check_software_name("a" * 129)


@pytest.mark.parametrize(
    ("format", "version", "release", "expected"),
    [
        ("deb", "1:2.3.4", "", ("1:2.3.4", "")),
        ("deb", "2.3.4-1ubuntu1", "", ("2.3.4-1ubuntu1", "")),
        ("deb", "2.3.4", "1ubuntu1", ("2.3.4", "1ubuntu1")),
        ("rpm", "2:1.0^git1", "1.el9", ("2:1.0^git1", "1.el9")),
        ("tar", " 1.0~rc1 ", "", ("1.0~rc1", "")),
        ("container", "24.04", "", ("24.04", "")),
    ],
)
def test_versions_valid_for_their_format(
    format: str, version: str, release: str, expected: tuple[str, str]
) -> None:
    assert checks.check_version(format, version, release) == expected


@pytest.mark.parametrize(
    ("format", "version", "release"),
    [
        ("deb", "1.0-", ""),
        ("deb", "1.0", "1-2"),
        ("deb", "1.0_1", ""),
        ("rpm", "x:1.0", "1"),
        ("rpm", "1.0", " "),
        ("container", "latest", ""),
        ("deb", "1" * 129, ""),
    ],
)
def test_versions_invalid_for_their_format(format: str, version: str, release: str) -> None:
    with pytest.raises(InvalidArgument):
        checks.check_version(format, version, release)


def test_families_follow_the_format() -> None:
    assert checks.check_families("rpm", []) == ["rpm"]
    assert checks.check_families("deb", ["deb"]) == ["deb"]
    assert checks.check_families("tar", []) == ["deb", "rpm"]
    assert checks.check_families("container", ["rpm", "rpm"]) == ["rpm"]
    with pytest.raises(InvalidArgument, match="rpm family"):
        checks.check_families("rpm", ["deb", "rpm"])


def test_other_fields() -> None:
    assert checks.check_sha256(" " + "AB" * 32) == "ab" * 32
    assert checks.check_depends([" libc6 (>= 2.31) "]) == ["libc6 (>= 2.31)"]
    for bad in ([""], ["a\nb"], ["x"] * 257):
        with pytest.raises(InvalidArgument):
            checks.check_depends(bad)
    with pytest.raises(InvalidArgument):
        checks.check_signature("signé")
    with pytest.raises(InvalidArgument):
        checks.check_description("x" * 5000)
    assert checks.check_holder("scheduler.deployment:1") == "scheduler.deployment:1"


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8080/healthz", "https://127.0.0.2/up", "http://[::1]:9000/", "http://127.0.0.1"],
)
def test_health_urls_on_the_node_itself(url: str) -> None:
    check = check_profile(DeployProfileSpec(health_check=HealthCheckSpec(http_url=url)))
    assert check.health_check == HealthCheckSpec(http_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/x",
        "http://10.0.0.1/healthz",
        "http://user:pw@127.0.0.1/",
        "http://127.0.0.1:99999/",
        "http:///nohost",
        "http://localhost.example.com/",
    ],
)
def test_health_urls_elsewhere_are_refused(url: str) -> None:
    with pytest.raises(InvalidArgument, match="http_url"):
        check_profile(DeployProfileSpec(health_check=HealthCheckSpec(http_url=url)))


def test_hooks_units_and_commands() -> None:
    profile = DeployProfileSpec(
        pre_hook="./scripts/pre-install.sh",
        post_hook="post.sh",
        restart_service="worker@2.service",
        health_check=HealthCheckSpec(command=("systemctl", "is-active", "worker@2"), timeout_seconds=600),
    )
    assert check_profile(profile) == profile
    refused = [
        DeployProfileSpec(pre_hook="scripts/../../etc/passwd"),
        DeployProfileSpec(post_hook="hooks//post.sh"),
        DeployProfileSpec(post_hook="post.sh; rm -rf /"),
        DeployProfileSpec(restart_service="-bad.service"),
        DeployProfileSpec(health_check=HealthCheckSpec(command=("",))),
        DeployProfileSpec(health_check=HealthCheckSpec(command=("true",), http_url="http://localhost/")),
        DeployProfileSpec(health_check=HealthCheckSpec(command=("true",), timeout_seconds=-1)),
    ]
    for bad in refused:
        with pytest.raises(InvalidArgument):
            check_profile(bad)


def test_a_line_break_before_the_end_is_not_taken_for_the_end() -> None:
    """A regular expression's '$' also matches before a final newline; every check must match the whole text."""
    with pytest.raises(InvalidArgument):
        checks.check_holder("scheduler.deployment:1\n")


def test_descriptions_and_searches_take_any_script_but_no_control_characters() -> None:
    text = "前端服务\u3000说明\nline two\tand a tab"
    assert checks.check_description(text) == text
    assert checks.check_query(" 前端\u3000服务 ") == "前端\u3000服务"
    for control in ("\x00", "\x1b[31m", "\x7f"):
        with pytest.raises(InvalidArgument, match="control characters"):
            checks.check_description(f"a{control}b")
        with pytest.raises(InvalidArgument, match="control characters"):
            checks.check_query(f"a{control}b")
