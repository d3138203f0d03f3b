"""scan.learning.learn, the one place both stores' scans learn a renewal time: what it does without the CA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from certrotate.decide.renewal_time import lifetime_renewal_time
from certrotate.scan import learning

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
NOT_BEFORE = NOW - timedelta(days=10)
NOT_AFTER = NOW + timedelta(days=80)


def _learn(kept_tag: str | None = None, unreachable_since: datetime | None = None) -> learning.Learnt:
    return learning.learn(
        "c",
        kept_tag=kept_tag,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        ari_id="aki.serial",
        source=None,
        now=NOW,
        random_fraction=0.5,
        unreachable_since=unreachable_since,
    )


def test_a_ca_without_renewal_information_is_asked_again_at_the_renewal_time() -> None:
    learnt = _learn()

    renew_at = lifetime_renewal_time(NOT_BEFORE, NOT_AFTER)
    assert (learnt.schedule.source, learnt.schedule.renew_at, learnt.schedule.next_ask) == (
        "lifetime",
        renew_at,
        renew_at,
    )


def test_a_ca_that_could_not_be_read_is_asked_again_within_the_hour() -> None:
    learnt = _learn(unreachable_since=NOW)

    assert learnt.schedule.renew_at == lifetime_renewal_time(NOT_BEFORE, NOT_AFTER)
    assert learnt.schedule.next_ask == NOW + learning.UNREACHABLE_CA_RETRY


def test_asking_again_sooner_is_not_a_new_renewal_time_to_write() -> None:
    first = _learn()

    again = _learn(kept_tag=first.schedule.tag_value(), unreachable_since=NOW)

    assert not again.changed  # the IAM scan writes no tag for it; its index keeps when to ask
