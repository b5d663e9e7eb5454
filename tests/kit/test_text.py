"""Free text from clients: trimmed, bounded, without control characters, and the error names the field."""

from __future__ import annotations

import pytest

from services.kit.errors import InvalidArgument
from services.kit.text import check_query, check_text


def test_text_is_trimmed_and_may_use_any_script() -> None:
    assert check_text("  maintenance\u3000window 维护  ", 100, "reason") == "maintenance\u3000window 维护"


def test_the_limit_counts_the_trimmed_text() -> None:
    assert check_text("  " + "x" * 10 + "  ", 10, "reason") == "x" * 10


@pytest.mark.parametrize("value", ["x" * 11, "a\x00b", "two\nlines", "tab\there", "bell\x07"])
def test_long_text_or_control_characters_are_refused_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_text(value, 10, "reason")
    assert refused.value.message == "reason must be at most 10 characters without control characters"


def test_a_query_is_checked_the_same_way_under_its_own_name() -> None:
    assert check_query(" web ", 5) == "web"
    with pytest.raises(InvalidArgument) as refused:
        check_query("web\x00", 5)
    assert refused.value.message == "query must be at most 5 characters without control characters"
