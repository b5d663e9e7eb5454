"""Checks of free text from clients: bounded, and without control characters PostgreSQL or a UI cannot take."""

from __future__ import annotations

import unicodedata

from services.kit.errors import InvalidArgument

__all__ = ["LINE_BREAKS", "has_control", "check_text", "check_description", "check_query"]

# What multi-line text (descriptions, signatures) may contain besides printable characters.
LINE_BREAKS = "\n\r\t"


def has_control(text: str, allowed: str = "") -> bool:
    """Whether `text` holds a control character (other than those `allowed`): NUL, which PostgreSQL
    cannot store, and the others, which only garble terminals and the UI. Other scripts' spaces
    (e.g. the ideographic space of Chinese text) are not control characters."""
    return any(unicodedata.category(char) == "Cc" and char not in allowed for char in text)


def check_text(value: str, limit: int, what: str) -> str:
    """One line of free text (a reason, a search text): trimmed, at most `limit` characters, without
    control characters; `what` names the field in the error."""
    text = value.strip()
    if len(text) > limit or has_control(text):
        raise InvalidArgument(f"{what} must be at most {limit} characters without control characters")
    return text


def check_description(value: str, limit: int) -> str:
    """A description: trimmed, at most `limit` characters, line breaks and tabs allowed."""
    text = value.strip()
    if len(text) > limit:
        raise InvalidArgument(f"description must be at most {limit} characters")
    if has_control(text, allowed=LINE_BREAKS):
        raise InvalidArgument(
            "description must not contain control characters other than line breaks and tabs"
        )
    return text


def check_query(value: str, limit: int) -> str:
    """A search text: trimmed, bounded, without control characters."""
    return check_text(value, limit, "query")
