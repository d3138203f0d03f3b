"""Every tag value is anyone's to write: each is parsed defensively, and an odd one affects its own
certificate only (never an exception that stops a scan or turns a rotation into a retried failure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from certrotate.decide import holds
from certrotate.decide.holds import HeldCertificate, held_now, hold_after_failure
from certrotate.model import ServerCertificate, parse_count, parse_timestamp
from certrotate.model.certificates import RenewalSchedule
from certrotate.names import (
    FAILURES_TAG,
    HELD_UNTIL_TAG,
    MANAGED_TAG,
    RENEWAL_TAG,
    RETRY_AFTER_TAG,
    SERVED_SINCE_TAG,
)
from certrotate.scan.plan import plan_scan

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def certificate(name: str, days_left: float, **tags: str) -> ServerCertificate:
    return ServerCertificate(
        name=name,
        arn=f"arn:aws:iam::123456789012:server-certificate/{name}",
        certificate_id=f"ID{name.upper()}",
        path="/",
        expiration=NOW + timedelta(days=days_left),
        upload_date=NOW - timedelta(days=80),
        tags={MANAGED_TAG: "true", **tags},
    )


@pytest.mark.parametrize(
    "value",
    [
        "²",  # passes str.isdigit(), fails int()
        "١٢",  # Arabic-Indic digits: isdigit() and even int() accept them
        "-1",
        "1e3",
        "9" * 40,
        " ",
        "three",
    ],
)
def test_an_odd_failure_count_reads_as_none(value: str) -> None:
    assert parse_count(value) == 0
    assert certificate("odd", 10, **{FAILURES_TAG: value}).failures == 0


def test_a_failure_count_of_ascii_digits_is_read() -> None:
    assert parse_count(" 3 ") == 3
    assert certificate("ok", 10, **{FAILURES_TAG: "2"}).failures == 2


@pytest.mark.parametrize(
    "value",
    [
        "\uff12\uff10\uff12\uff16-01-01T00:00:00+00:00",  # full-width digits
        "2026-01-01",  # a date without a time or an offset
        "2026-01-01T00:00:00",  # no offset: which time zone?
        "2026-02-30T00:00:00+00:00",  # the shape of a date, not a date
        "9999-12-31T23:59:59+00:00",  # a grace period added to it would overflow
        "0001-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00+00:00\n",
        "2026-W01-1T00:00:00+00:00",
        "tomorrow",
    ],
)
def test_an_odd_timestamp_reads_as_absent(value: str) -> None:
    assert parse_timestamp(value) is None
    odd = certificate("odd", 10, **{HELD_UNTIL_TAG: value, RETRY_AFTER_TAG: value, SERVED_SINCE_TAG: value})
    assert odd.held_until is None and odd.retry_after is None and odd.replacement_served_since is None


def test_timestamps_as_certrotate_writes_them_are_read_in_utc() -> None:
    assert parse_timestamp("2026-06-02T10:00:00.123456+02:00") == datetime(
        2026, 6, 2, 8, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_timestamp("2026-06-02T10:00:00Z") == datetime(2026, 6, 2, 10, tzinfo=UTC)


def test_an_odd_renewal_tag_is_learnt_again() -> None:
    value = "source=ari start=9999-12-31T00:00:00Z end=² at=x ask=2026-01-01T00:00:00Z"
    assert RenewalSchedule.parse(value) is None


def test_one_odd_certificate_is_planned_alone_and_the_others_as_usual() -> None:
    odd = certificate(
        "odd",
        5,
        **{
            FAILURES_TAG: "²",
            HELD_UNTIL_TAG: "9999-12-31T23:59:59+00:00",
            RETRY_AFTER_TAG: "\uff12\uff10\uff12\uff16-01-01T00:00:00+00:00",
            RENEWAL_TAG: "source=ari start=² end=² at=² ask=²",
            SERVED_SINCE_TAG: "0001-01-01T00:00:00+00:00",
        },
    )
    good = certificate("good", 5)
    plan = plan_scan([odd, good], now=NOW, renew_before_days=30, lease_seconds=300)
    assert [c.name for c in plan.to_enqueue] == ["odd", "good"]
    assert plan.held == () and plan.unplanned == ()
    assert hold_after_failure(odd, "x", NOW).failures == 1


def test_a_certificate_whose_planning_fails_is_reported_and_the_others_planned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = held_now

    def fails_for_odd(
        cert: ServerCertificate, now: datetime, inputs: str | None = None
    ) -> HeldCertificate | None:
        if cert.name == "odd":
            raise OverflowError("date value out of range")
        return original(cert, now, inputs)

    monkeypatch.setattr(holds, "held_now", fails_for_odd)
    plan = plan_scan(
        [certificate("odd", 5), certificate("good", 5)], now=NOW, renew_before_days=30, lease_seconds=300
    )
    assert [c.name for c in plan.to_enqueue] == ["good"]
    assert [(c.name, why) for c, why in plan.unplanned] == [("odd", "OverflowError: date value out of range")]
