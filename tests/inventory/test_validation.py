"""Normalisation and checks of client input: host names, addresses, labels and maintenance windows."""

from __future__ import annotations

import pytest

from services.inventory.validation import (
    MaintenanceWindow,
    check_cron,
    check_description,
    check_group_name,
    check_hostname,
    check_ip,
    check_labels,
    check_query,
    check_window,
)
from services.kit.errors import InvalidArgument


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("10.0.0.1", "10.0.0.1"),
        (" 2001:0DB8:0000::0001 ", "2001:db8::1"),
        ("::ffff:192.0.2.5", "192.0.2.5"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_addresses_are_stored_normalised(given: str, stored: str) -> None:
    assert check_ip(given) == stored


@pytest.mark.parametrize(
    "given",
    ["", "10.0.0", "10.0.0.256", "fe80::1::2", "fe80::1%eth0", "host.example", "0.0.0.0", "::", "224.0.0.1"],
)
def test_bad_addresses_are_refused(given: str) -> None:
    with pytest.raises(InvalidArgument, match="ip_address"):
        check_ip(given)


@pytest.mark.parametrize(
    ("given", "stored"),
    [("", ""), ("DB-01.Example.COM.", "db-01.example.com"), ("a" * 63, "a" * 63), ("x1", "x1")],
)
def test_host_names_are_lowercased(given: str, stored: str) -> None:
    assert check_hostname(given) == stored


@pytest.mark.parametrize(
    "given",
    ["-a.example", "a-.example", "a..b", "under_score", "a" * 64, ".".join(["abcdefgh"] * 29), "sp ace"],
)
def test_bad_host_names_are_refused(given: str) -> None:
    with pytest.raises(InvalidArgument, match="hostname"):
        check_hostname(given)


def test_labels_have_bounded_keys_and_values() -> None:
    assert check_labels({"env": "prod", "k8s.io/zone": "sh-1", "empty": ""}) == {
        "env": "prod",
        "k8s.io/zone": "sh-1",
        "empty": "",
    }
    for bad in ({"": "x"}, {"a" * 64: "x"}, {"env": "a=b"}, {"env": " x"}, {"env": "x\n"}, {"status": "x"}):
        with pytest.raises(InvalidArgument):
            check_labels(bad)


@pytest.mark.parametrize(
    "expression", ["* * * * *", "0 2 * * 6", "*/15 0-6/2 1,15 jan-mar mon-fri", "0 0 31 12 7"]
)
def test_five_field_cron_expressions_are_accepted(expression: str) -> None:
    assert check_cron(expression) == " ".join(expression.split())


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("* * * *", "5 fields"),
        ("* * * * * *", "5 fields"),
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day of month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day of week"),
        ("5-1 * * * *", "backwards"),
        ("*/0 * * * *", "step"),
        ("? * * * *", "minute"),
    ],
)
def test_bad_cron_expressions_say_which_field(expression: str, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        check_cron(expression)


def test_windows_need_a_known_zone_and_a_sane_duration() -> None:
    assert check_window(MaintenanceWindow("0 2 * * *", 3600, " Europe/Berlin ")).timezone == "Europe/Berlin"
    for window in (
        MaintenanceWindow("0 2 * * *", 59, "UTC"),
        MaintenanceWindow("0 2 * * *", 86401, "UTC"),
        MaintenanceWindow("0 2 * * *", 3600, ""),
        MaintenanceWindow("0 2 * * *", 3600, "Nowhere/City"),
        MaintenanceWindow("0 2 * * *", 3600, "/etc/passwd"),
    ):
        with pytest.raises(InvalidArgument):
            check_window(window)


def test_group_names_are_trimmed_and_may_not_break_selectors() -> None:
    assert check_group_name("  Front Ends  ") == "Front Ends"
    for bad in ("", " ", "a,b", "a=b", "x" * 65, "tab\there"):
        with pytest.raises(InvalidArgument):
            check_group_name(bad)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (check_hostname, "web\n.example.com"),
        (lambda key: check_labels({key: "x"}), "env\n"),
    ],
    ids=["hostname-label", "label-key"],
)
def test_a_line_break_before_the_end_is_not_taken_for_the_end(check: object, value: str) -> None:
    """A regular expression's '$' also matches before a final newline; every check must match the whole text."""
    with pytest.raises(InvalidArgument):
        check(value)  # type: ignore[operator]


def test_descriptions_and_searches_take_any_script_but_no_control_characters() -> None:
    text = "前端服务器\u3000(web)\nline two\tand a tab"
    assert check_description(text) == text
    assert check_query(" 前端\u3000服务器 ", 256) == "前端\u3000服务器"
    for control in ("\x00", "\x1b[31m", "\x7f"):
        with pytest.raises(InvalidArgument, match="control characters"):
            check_description(f"a{control}b")
        with pytest.raises(InvalidArgument, match="control characters"):
            check_query(f"a{control}b", 256)
