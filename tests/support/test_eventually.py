"""`eventually`, the bounded wait of the scheduler tests: a timeout says what was awaited."""

from __future__ import annotations

import pytest

from tests.support.scheduler import eventually


async def test_the_first_truthy_answer_is_returned() -> None:
    answers = iter([None, 0, "ready"])

    async def probe() -> str | int | None:
        return next(answers)

    assert await eventually(probe, timeout=5, what="the probe") == "ready"


async def test_a_timeout_names_what_was_awaited() -> None:
    async def never() -> None:
        return None

    with pytest.raises(AssertionError, match="waiting for the node to come online"):
        await eventually(never, timeout=0.2, what="the node to come online")


async def test_a_timeout_of_the_probe_itself_is_not_mistaken_for_one_of_the_wait() -> None:
    async def failing() -> None:
        raise TimeoutError("the probe's own call timed out")

    with pytest.raises(TimeoutError, match="the probe's own call"):
        await eventually(failing, timeout=5, what="anything")
