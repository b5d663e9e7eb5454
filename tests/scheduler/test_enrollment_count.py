"""What convoy_enrollments_total counts: enrolled, refused before auth redeemed the token, and nothing for
what says nothing about the token (an outage, a failure after the redeem)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from services.kit.errors import InvalidArgument, Unauthenticated, Unavailable
from services.scheduler.metrics import enrollment_answered, enrollment_redeemed


def counts() -> tuple[float, float]:
    return tuple(  # type: ignore[return-value]
        REGISTRY.get_sample_value("convoy_enrollments_total", {"result": result}) or 0.0
        for result in ("enrolled", "refused")
    )


def test_an_enrollment_counts_once() -> None:
    enrolled, refused = counts()

    with enrollment_answered():
        enrollment_redeemed()

    assert counts() == (enrolled + 1, refused)


def test_a_token_auth_refuses_counts_refused() -> None:
    enrolled, refused = counts()

    with pytest.raises(Unauthenticated), enrollment_answered():
        raise Unauthenticated("the join token is not valid")

    assert counts() == (enrolled, refused + 1)


def test_a_failure_after_the_redeem_counts_neither() -> None:
    before = counts()

    with pytest.raises(InvalidArgument), enrollment_answered():
        enrollment_redeemed()
        raise InvalidArgument("inventory refused the facts")
    with pytest.raises(Unavailable), enrollment_answered():
        raise Unavailable("auth is unavailable")

    assert counts() == before


def test_a_redeem_outside_an_enrollment_marks_nothing() -> None:
    enrollment_redeemed()
    enrolled, refused = counts()

    with pytest.raises(InvalidArgument), enrollment_answered():
        raise InvalidArgument("csr_pem is required")

    assert counts() == (enrolled, refused + 1)
