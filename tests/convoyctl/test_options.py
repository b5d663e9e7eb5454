"""From the command line to the request body: targets, strategies, deployments and policies, and the
command lines refused before anything is sent."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from convoyctl.cli import build_parser, run
from convoyctl.client import ApiClient
from convoyctl.commands.catalog import upload_fields
from convoyctl.commands.options import (
    deployment_body,
    parse_strategy,
    policy_body,
    strategy_body,
    target_body,
    target_spec,
)
from convoyctl.config import Connection
from convoyctl.credentials import CredentialStore
from convoyctl.errors import EXIT_USAGE, UsageError
from convoyctl.resolve import PackageSpec, full_version, parse_package

GROUP = "6f1c1d52-3c4e-4a57-9d1e-1b2a3c4d5e6f"
SERVER = "0b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


@pytest.fixture
def offline_api(tmp_path: Path) -> ApiClient:
    """A client that is never used: ids are taken as they are, so nothing is looked up."""
    return ApiClient(Connection("http://127.0.0.1:9"), CredentialStore(tmp_path))


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_deploy_to_a_group_with_a_strategy(offline_api: ApiClient) -> None:
    args = parse(
        "deploy",
        "nginx=1.2-1",
        "--group",
        GROUP,
        "--batch-size",
        "2",
        "--strategy",
        "max-failures=1,canary=yes",
    )
    spec = target_spec(args)
    assert spec is not None
    body = deployment_body(
        action=args.action,
        package_id="pkg",
        target=target_body(spec, offline_api),
        strategy=strategy_body(args),
    )
    assert body == {
        "action": "install",
        "package_id": "pkg",
        "target": {"group_id": GROUP},
        "strategy": {"max_failures": 1, "canary": True, "batch_size": 2},
    }
    assert parse_package(args.package) == PackageSpec(software="nginx", version="1.2-1")


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["--server", SERVER], {"server_id": SERVER}),
        (["--all"], {"all": True}),
        (["--selector", "os_family=deb,env!=prod"], {"selector": "os_family=deb,env!=prod"}),
        (["-g", GROUP], {"group_id": GROUP}),
    ],
)
def test_each_kind_of_target(offline_api: ApiClient, argv: list[str], target: dict[str, object]) -> None:
    spec = target_spec(parse("deploy", "x", *argv))
    assert spec is not None and target_body(spec, offline_api) == target


def test_options_win_over_the_strategy_string_and_nothing_means_the_defaults() -> None:
    args = parse(
        "deploy", "x", "--all", "--strategy", "batch_size=5,require_approval=false", "--batch-size", "3"
    )
    assert strategy_body(args) == {"batch_size": 3, "require_approval": False}
    assert strategy_body(parse("deploy", "x", "--all")) is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("batch_size", "is not KEY=VALUE"),
        ("batch_size=-1", "expected 0 or more"),
        ("canary=maybe", "true or false"),
        ("speed=11", "unknown strategy field 'speed'"),
    ],
)
def test_a_wrong_strategy_says_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_strategy(text)


def test_a_rollback_of_a_deployment_takes_neither_package_nor_target() -> None:
    body = deployment_body(action="rollback", package_id=None, target=None, rollback_of="d-1", dry_run=True)
    assert body == {"action": "rollback", "rollback_deployment_id": "d-1", "dry_run": True}
    with pytest.raises(UsageError, match="--rollback-of goes with --action rollback"):
        deployment_body(action="install", package_id=None, target=None, rollback_of="d-1")
    with pytest.raises(UsageError, match="give a package and a target"):
        deployment_body(action="install", package_id="p", target=None)


def test_policy_bodies() -> None:
    common = {"name": "nginx-web", "software": "nginx", "target": {"all": True}, "strategy": None}
    present = policy_body(**common, version=None, absent=False, mode="enforce", enabled=True)
    assert present == {
        "name": "nginx-web",
        "target": {"all": True},
        "software_name": "nginx",
        "state": "present",
        "mode": "enforce",
        "enabled": True,
        "version": "latest",
    }
    absent = policy_body(**common, version=None, absent=True, mode="report", enabled=False)
    assert absent["state"] == "absent" and "version" not in absent and absent["enabled"] is False


def test_package_names_versions_and_ids() -> None:
    assert parse_package("hello") == PackageSpec(software="hello")
    assert parse_package("hello=1:2.0=beta") == PackageSpec(software="hello", version="1:2.0=beta")
    assert parse_package(GROUP) == PackageSpec(package_id=GROUP)
    for wrong in ("=1.0", "hello=", " "):
        with pytest.raises(UsageError):
            parse_package(wrong)
    assert full_version({"version": "1.0", "release": "3"}) == "1.0-3"
    assert full_version({"version": "1.0-3", "release": ""}) == "1.0-3"


def test_upload_sends_only_the_fields_given() -> None:
    args = parse("packages", "upload", "a.deb", "--description", "the web app")
    assert upload_fields(args) == {"description": "the web app"}


def test_output_option_before_or_after_the_command() -> None:
    assert parse("-o", "json", "servers", "list").output == "json"
    assert parse("servers", "list", "-o", "json").output == "json"
    assert parse("servers", "list").output == "table"
    # One given before the command is not undone by the command's own default.
    assert parse("-o", "json", "deployments", "get", "x").output == "json"


@pytest.mark.parametrize(
    "argv",
    [
        ["deploy", "x", "--group", "a", "--all"],  # two targets
        ["servers", "list", "--limit", "0"],
        ["groups", "create", "g", "--category", "mainframe"],
        ["deploy", "x", "--batch-size", "many"],
        ["nonsense"],
        [],
    ],
)
def test_a_bad_command_line_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv, environ={}, stdout=io.StringIO(), stderr=io.StringIO()) == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_deploy_without_a_package_is_a_usage_error(tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    environ = {"XDG_CONFIG_HOME": str(tmp_path), "CONVOY_SERVER": "http://127.0.0.1:9"}
    assert run(["deploy", "--all"], environ=environ, stdout=stdout, stderr=stderr) == EXIT_USAGE
    assert "give a PACKAGE[=VERSION]" in stderr.getvalue() and stdout.getvalue() == ""
