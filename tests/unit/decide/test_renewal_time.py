"""The renewal decision with ARI (RFC 9773) and the lifetime rule: pure, time is an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from certrotate.decide.due import is_due, renewal_due
from certrotate.decide.policies import Verdict, decide_rotation
from certrotate.decide.renewal_time import (
    lifetime_renewal_time,
    needs_renewal_info,
    schedule_from_lifetime,
    schedule_from_window,
)
from certrotate.model import ServerCertificate
from certrotate.model.certificates import RenewalSchedule, learnt_for_value
from certrotate.names import MANAGED_TAG, RENEWAL_TAG

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def cert(days_left: float, **tags: str) -> ServerCertificate:
    return ServerCertificate(
        name="site",
        arn="arn:aws:iam::123456789012:server-certificate/site",
        certificate_id="ASCAEXAMPLE",
        path="/",
        expiration=NOW + days_left * DAY,
        tags={MANAGED_TAG: "true", **tags},
    )


def test_a_window_ahead_gives_a_random_point_inside_it() -> None:
    start, end = NOW + 10 * DAY, NOW + 12 * DAY
    for fraction, expected in ((0.0, start), (0.5, NOW + 11 * DAY), (1.0, end)):
        schedule = schedule_from_window(
            start, end, retry_after=NOW + timedelta(hours=6), now=NOW, random_fraction=fraction
        )
        assert schedule.renew_at == expected


@pytest.mark.parametrize("start", [NOW - DAY, NOW - 400 * DAY, NOW])
def test_a_window_begun_or_in_the_past_means_now(start: datetime) -> None:
    schedule = schedule_from_window(start, start + DAY, retry_after=NOW + DAY, now=NOW, random_fraction=0.9)
    assert schedule.renew_at == NOW


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (NOW, NOW + timedelta(minutes=1)),
        (NOW + timedelta(hours=6), NOW + timedelta(hours=6)),
        (NOW + 30 * DAY, NOW + DAY),
    ],
)
def test_retry_after_is_clamped_to_a_minute_and_a_day(retry_after: datetime, expected: datetime) -> None:
    schedule = schedule_from_window(
        NOW + DAY, NOW + 2 * DAY, retry_after=retry_after, now=NOW, random_fraction=0.5
    )
    assert schedule.next_ask == expected


@pytest.mark.parametrize(
    ("lifetime_days", "renew_days_before_expiry"),
    [(90, 30), (45, 15), (6, 3), (160 / 24, 80 / 24)],
)
def test_lifetime_rule_a_third_left_or_half_under_ten_days(
    lifetime_days: float, renew_days_before_expiry: float
) -> None:
    not_after = NOW + lifetime_days * DAY
    renew_at = lifetime_renewal_time(NOW, not_after)
    assert abs((not_after - renew_at) - renew_days_before_expiry * DAY) < timedelta(seconds=1)


def test_the_tag_round_trips_and_holds_only_what_iam_tag_values_allow() -> None:
    schedule = schedule_from_window(
        NOW + DAY, NOW + 2 * DAY, retry_after=NOW + timedelta(hours=6), now=NOW, random_fraction=0.25
    )
    value = schedule.tag_value()
    assert len(value) <= 256 and "," not in value
    assert all(c.isalnum() or c in " _.:/=+-@" for c in value)
    assert RenewalSchedule.parse(value) == schedule.__class__(
        "ari", schedule.window_start, schedule.window_end, schedule.renew_at, schedule.next_ask
    )


@pytest.mark.parametrize(
    "value", ["", "garbage", "start=yesterday end=x at=y ask=z", "start=2026-01-01T00:00:00"]
)
def test_an_unreadable_tag_is_no_schedule(value: str) -> None:
    assert RenewalSchedule.parse(value) is None


def schedule_tag(renew_in_days: float, ask_in_days: float = 1) -> str:
    return RenewalSchedule(
        "ari", NOW - DAY, NOW + 5 * DAY, NOW + renew_in_days * DAY, NOW + ask_in_days * DAY
    ).tag_value()


def test_an_opened_window_makes_it_due_although_the_floor_says_not_yet() -> None:
    due, why, source = renewal_due(cert(80, **{RENEWAL_TAG: schedule_tag(-0.5)}), NOW, 30)
    assert due and "renewal window" in why and source == "ARI window"


def test_a_window_ahead_is_not_due_and_the_floor_still_is() -> None:
    assert not is_due(cert(80, **{RENEWAL_TAG: schedule_tag(3)}), NOW, 30)
    assert is_due(cert(20, **{RENEWAL_TAG: schedule_tag(3)}), NOW, 30), "the floor wins"
    assert not is_due(cert(20, **{RENEWAL_TAG: schedule_tag(3)}), NOW, None), "no floor: ARI alone"


def test_the_scan_asks_when_never_asked_or_retry_after_passed_never_for_expired_or_replaced() -> None:
    assert needs_renewal_info(cert(80), NOW, None)
    assert not needs_renewal_info(cert(80, **{RENEWAL_TAG: schedule_tag(3, ask_in_days=0.5)}), NOW, None)
    assert needs_renewal_info(cert(80, **{RENEWAL_TAG: schedule_tag(3, ask_in_days=-0.01)}), NOW, None)
    assert not needs_renewal_info(cert(-1), NOW, None)
    assert not needs_renewal_info(cert(80, **{"certrotate:replaced-by": "site-cr1"}), NOW, None)
    assert not needs_renewal_info(cert(20), NOW, 30), "the floor already makes it due"


@pytest.mark.parametrize(
    ("lifetime_days", "days_left", "due"),
    [(90, 31, False), (90, 29, True), (6, 3.1, False), (6, 2.9, True)],
)
def test_without_a_floor_or_a_kept_time_the_lifetime_rule_decides(
    lifetime_days: float, days_left: float, due: bool
) -> None:
    certificate = cert(days_left)
    not_before = certificate.expiration - lifetime_days * DAY
    assert is_due(certificate, NOW, None, not_before) is due


def test_decide_rotation_gives_the_ca_as_the_reason() -> None:
    decision = decide_rotation(
        cert(80, **{RENEWAL_TAG: schedule_tag(-1)}), None, now=NOW, renew_before_days=30, force=False
    )
    assert decision.verdict is Verdict.ISSUE and "the CA's renewal window" in decision.reason


def test_without_ari_the_lifetime_schedule_is_not_learnt_again_before_its_renewal_time() -> None:
    not_after = NOW + 80 * DAY
    renew_at = lifetime_renewal_time(NOW - 10 * DAY, not_after)
    schedule = schedule_from_lifetime(NOW - 10 * DAY, not_after, next_ask=renew_at, now=NOW)
    assert schedule.next_ask == renew_at == not_after - 30 * DAY
    assert not needs_renewal_info(cert(80, **{RENEWAL_TAG: schedule.tag_value()}), NOW + 40 * DAY, None)


def test_a_schedule_bound_to_a_certificate_reads_back_and_knows_another_one() -> None:
    expires = NOW + 60 * DAY
    bound = RenewalSchedule("lifetime", NOW, expires, NOW, NOW + DAY, learnt_for=learnt_for_value(expires))
    value = bound.tag_value()
    assert value.endswith(" for=2027-01-25T12:00:00Z") and "," not in value
    assert RenewalSchedule.parse(value) == bound
    assert not bound.learnt_for_another(expires)
    assert bound.learnt_for_another(expires + DAY), "a re-imported certificate is another one"
    unbound = RenewalSchedule.parse(schedule_tag(3))
    assert unbound is not None and not unbound.learnt_for_another(expires), "IAM's tags name none"
