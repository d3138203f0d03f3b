"""Is a certificate due: the renewal rules and the last resort under them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from certrotate.decide.due import days_to_expiry, is_due, renewal_due
from certrotate.decide.renewal_time import believed_schedule, last_resort_time, needs_renewal_info

from tests.factories import NOW, cert

# --- due ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "threshold", "due"),
    [
        (29.99, 30, True),
        (30, 30, False),
        (30.01, 30, False),
        (0, 30, True),
        (-5, 30, True),
        (10, 10, False),  # above the last resort (a tenth of 90 days)
        (9.5, 10, True),
    ],
)
def test_due_means_fewer_days_than_the_threshold(days: float, threshold: int, due: bool) -> None:
    assert is_due(cert(days=days), NOW, threshold) is due


FAR_FUTURE = "2999-01-01T00:00:00Z"
FORGED_RENEWAL = f"source=ari start={FAR_FUTURE} end={FAR_FUTURE} at={FAR_FUTURE} ask={FAR_FUTURE}"


@pytest.mark.parametrize("threshold", [None, 1])
def test_a_renewal_tag_cannot_put_renewal_off_past_the_last_tenth_of_the_lifetime(
    threshold: int | None,
) -> None:
    """Anyone allowed to tag can write certrotate:renewal: a time beyond the expiry is not this certificate's
    (asked again), and a time just before it gives way to the last resort."""
    forged = cert(days=5, **{"certrotate:renewal": FORGED_RENEWAL})  # lived 80 days: 85 in all
    assert believed_schedule(forged) is None
    assert needs_renewal_info(forged, NOW, threshold)
    assert renewal_due(forged, NOW, threshold)[:2] == (
        True,
        "expires in 5.0 days: in the last tenth of its lifetime, due whatever its renewal tag says",
    )
    late = NOW + timedelta(days=4)
    just_before = f"source=ari start={late:%Y-%m-%dT%H:%M:%SZ} end={late:%Y-%m-%dT%H:%M:%SZ} " + (
        f"at={late:%Y-%m-%dT%H:%M:%SZ} ask={late:%Y-%m-%dT%H:%M:%SZ}"
    )
    assert renewal_due(cert(days=5, **{"certrotate:renewal": just_before}), NOW, threshold)[2] == (
        "last resort"
    )


def test_the_last_resort_leaves_an_earlier_ca_window_alone() -> None:
    later = NOW + timedelta(days=3)
    window = f"source=ari start={later:%Y-%m-%dT%H:%M:%SZ} end={later:%Y-%m-%dT%H:%M:%SZ} " + (
        f"at={later:%Y-%m-%dT%H:%M:%SZ} ask={later:%Y-%m-%dT%H:%M:%SZ}"
    )
    due, _, rule = renewal_due(cert(days=20, **{"certrotate:renewal": window}), NOW, None)
    assert (due, rule) == (False, "ARI window")
    assert last_resort_time(None, NOW + timedelta(days=20)) == NOW + timedelta(days=11)  # 90 days
    assert last_resort_time(NOW - timedelta(days=5), NOW + timedelta(days=1)) == NOW - timedelta(days=1)


def test_days_to_expiry_is_fractional_and_negative_once_expired() -> None:
    assert days_to_expiry(NOW + timedelta(hours=36), NOW) == 1.5
    assert days_to_expiry(NOW - timedelta(days=2), NOW) == -2
