"""The selector syntax: what parses into which terms, and what is refused with a message saying why."""

from __future__ import annotations

import pytest

from services.inventory.selector import MAX_TERMS, Term, group_names, parse
from services.kit.errors import InvalidArgument


def test_terms_with_equals_and_not_equals_and_spaces() -> None:
    assert parse(" os_family=rpm , category!=web,env = prod ,group=Front-Ends,team!=") == [
        Term("os_family", "rpm"),
        Term("category", "web", negated=True),
        Term("env", "prod"),
        Term("group", "Front-Ends"),
        Term("team", "", negated=True),
    ]


def test_label_keys_may_use_dots_slashes_and_dashes() -> None:
    assert parse("app.kubernetes.io/name=nginx") == [Term("app.kubernetes.io/name", "nginx")]


def test_group_names_are_collected_once_each_as_written() -> None:
    # PostgreSQL folds their case when they are matched, as the unique index on group names does.
    assert group_names(parse("group=Web,arch=x86_64,group!=DB,group=Web")) == ["Web", "DB"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("os_family", "key=value"),
        ("os_family=rpm,", "key=value"),
        ("=rpm", "key=value"),
        ("a=b=c", "key=value"),
        ("os_family=msi", "os_family"),
        ("status=asleep", "status"),
        ("category=mainframe", "category"),
        ("bad key=1", "neither a known key nor a label"),
        ("-lead=1", "neither a known key nor a label"),
        ("group=", "group name"),
        ("env=\x00", "printable"),
        ("env=" + "v" * 129, "128"),
        (",".join(["a=b"] * (MAX_TERMS + 1)), "terms"),
    ],
)
def test_bad_selectors_are_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse(text)
    assert says in refused.value.message
