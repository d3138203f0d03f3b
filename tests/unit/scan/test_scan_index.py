"""The scan index: whose tags a scan reads afresh (scan.tags.reason_to_read_tags), and the kept entries."""

from __future__ import annotations

import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from certrotate.decide.renewal_time import same_pick, same_renewal_time, schedule_from_window
from certrotate.model import Endpoint, EndpointKind, ServerCertificate, scan_index
from certrotate.model.certificates import RenewalSchedule
from certrotate.model.endpoints import (
    ENDPOINT_RECORD_MAX_AGE,
    KnownEndpoints,
    confirmed_endpoints,
    endpoint_from_message,
    record_to_check,
)
from certrotate.names import (
    HELD_UNTIL_TAG,
    MANAGED_TAG,
    RENEWAL_TAG,
    REPLACED_BY_TAG,
    RETRY_AFTER_TAG,
)
from certrotate.scan.tags import could_act_now, kept_tags, reason_to_read_tags

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def cert(days_left: float, lifetime_days: float = 90, **tags: str) -> ServerCertificate:
    expiration = NOW + days_left * DAY
    return ServerCertificate(
        name="site",
        arn="arn:aws:iam::123456789012:server-certificate/site",
        certificate_id="ASCAEXAMPLE",
        path="/",
        expiration=expiration,
        upload_date=expiration - lifetime_days * DAY,
        tags=tags,
    )


def schedule_tag(renew_in_days: float) -> str:
    at = NOW + renew_in_days * DAY
    return RenewalSchedule("ari", at, at + DAY, at, NOW + DAY).tag_value()


def reason(c: ServerCertificate, floor: int | None = 30, not_before: datetime | None = None) -> str | None:
    return reason_to_read_tags(c, now=NOW, renew_before_days=floor, not_before=not_before)


def test_a_certificate_far_from_due_is_not_read_whether_managed_or_not() -> None:
    assert reason(cert(80)) is None
    assert reason(cert(80, **{MANAGED_TAG: "true", RENEWAL_TAG: schedule_tag(20)})) is None
    assert not could_act_now(cert(80), now=NOW, renew_before_days=30, not_before=None)


@pytest.mark.parametrize("managed", [{}, {MANAGED_TAG: "true"}, {MANAGED_TAG: "false"}])
def test_due_by_the_floor_or_the_lifetime_is_read_whatever_the_kept_managed_flag(
    managed: dict[str, str],
) -> None:
    """An operator may have opted it in (or out) since the tags were kept."""
    assert reason(cert(29, **managed)) == "within RENEW_BEFORE_DAYS=30"
    assert reason(cert(29, lifetime_days=90, **managed), floor=None) == "due by the lifetime rule"
    assert reason(cert(31, lifetime_days=90, **managed), floor=None) is None
    assert could_act_now(cert(29, **managed), now=NOW, renew_before_days=30, not_before=None)


def test_the_certificates_not_before_beats_its_upload_date() -> None:
    uploaded_late = cert(50, lifetime_days=60)  # the lifetime rule from the upload: due at 20 days left
    assert reason(uploaded_late, floor=None) is None
    issued = NOW - 100 * DAY  # a 150-day certificate: due at 50 days left
    assert reason(uploaded_late, floor=None, not_before=issued) == "due by the lifetime rule"


def test_a_kept_renewal_time_decides_for_a_managed_certificate() -> None:
    assert reason(cert(40, **{MANAGED_TAG: "true", RENEWAL_TAG: schedule_tag(-0.1)})) == (
        "its renewal time has come"
    )
    # Past the lifetime point but the CA's window is later: nothing to do yet.
    assert reason(cert(25, **{MANAGED_TAG: "true", RENEWAL_TAG: schedule_tag(3)}), floor=None) is None
    # The floor still wins.
    assert reason(cert(25, **{MANAGED_TAG: "true", RENEWAL_TAG: schedule_tag(3)}), floor=30) is not None


def test_what_certrotate_writes_makes_it_read() -> None:
    assert reason(cert(80, **{REPLACED_BY_TAG: "site-cr1"})) == "replaced: pending retirement"
    passed = (NOW - DAY).isoformat()
    assert reason(cert(80, **{HELD_UNTIL_TAG: passed})) == "its hold has passed"
    assert reason(cert(80, **{RETRY_AFTER_TAG: passed})) == "its retry-after has passed"
    assert reason(cert(80, **{HELD_UNTIL_TAG: (NOW + DAY).isoformat()})) is None
    assert reason(cert(-1)) == "expired"


def test_a_new_window_is_picked_afresh_and_the_same_window_keeps_its_pick() -> None:
    start, end = NOW + 10 * DAY, NOW + 12 * DAY
    first = schedule_from_window(start, end, retry_after=NOW, now=NOW, random_fraction=0.2)
    later = NOW + timedelta(hours=7)
    again = schedule_from_window(start, end, retry_after=later + DAY, now=later, random_fraction=0.9)
    kept = same_pick(first, again, later)
    assert kept.renew_at == first.renew_at and kept.next_ask == again.next_ask
    assert same_renewal_time(first, kept), "nothing new to write on the certificate"
    moved = schedule_from_window(start - DAY, end, retry_after=later, now=later, random_fraction=0.9)
    assert same_pick(first, moved, later) == moved
    assert not same_renewal_time(first, moved)
    assert not same_renewal_time(None, moved)


def test_entries_survive_a_round_trip_and_a_bad_blob_is_refused() -> None:
    entries = {
        "ASCA1": scan_index.IndexEntry(
            {MANAGED_TAG: "true"}, NOW, scan_index.IndexedFacts(NOW - 10 * DAY, "aki.serial")
        ),
        "ASCA2": scan_index.IndexEntry({}, NOW - DAY, scan_index.IndexedFacts(NOW - DAY, None)),
        "ASCA3": scan_index.IndexEntry({}, NOW),
    }
    assert scan_index.decode(scan_index.encode(entries, NOW)) == entries
    for blob in (b"", b"not zlib", zlib.compress(b"[]"), zlib.compress(b'{"format": 99}')):
        with pytest.raises(ValueError):
            scan_index.decode(blob)


def test_one_bad_entry_is_dropped_alone() -> None:
    blob = zlib.compress(
        b'{"format":1,"written_at":0,"certificates":{"A":{"tags":{},"read_at":1},'
        b'"B":{"tags":{"x":1},"read_at":1},"C":{"tags":{}},"D":{"tags":{},"read_at":1,"not_before":"x"}}}'
    )
    assert set(scan_index.decode(blob)) == {"A"}


def test_only_certrotates_tags_are_kept() -> None:
    assert kept_tags({MANAGED_TAG: "true", "team": "web"}) == {MANAGED_TAG: "true"}


def test_a_thousand_certificates_fit_one_item() -> None:
    full = {
        MANAGED_TAG: "true",
        RENEWAL_TAG: schedule_tag(30),
        "certrotate:held-reason": "x" * 256,
        "certrotate:key-type": "ec256",
    }
    entries = {
        f"ASCA{i:017d}": scan_index.IndexEntry(
            full, NOW, scan_index.IndexedFacts(NOW, f"{'ab' * 20}.{i:032x}")
        )
        for i in range(1000)
    }
    assert len(scan_index.encode(entries, NOW)) < scan_index.MAX_BYTES


# --- where the last complete search saw each certificate served ------------------------------------------


def listener(n: int, region: str = "us-east-1") -> Endpoint:
    return endpoint_from_message(
        EndpointKind.ELBV2_LISTENER.value,
        region,
        f"arn:aws:elasticloadbalancing:{region}:123456789012:listener/app/lb-{n}/{n:016x}/{n * 7:016x}",
        f"arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/app/lb-{n}/{n:016x}",
    )


def test_endpoint_records_survive_a_round_trip_and_can_be_left_out() -> None:
    served = KnownEndpoints((listener(1), listener(2, "eu-west-1")), NOW - DAY)
    entries = {
        "ASCA1": scan_index.IndexEntry({MANAGED_TAG: "true"}, NOW, served=served),
        "ASCA2": scan_index.IndexEntry({MANAGED_TAG: "true"}, NOW, served=KnownEndpoints((), NOW)),
        "ASCA3": scan_index.IndexEntry({}, NOW),
    }
    blob = scan_index.encode(entries, NOW)
    assert scan_index.decode(blob) == entries
    assert scan_index.served_record(blob, "ASCA1") == served
    assert scan_index.served_record(blob, "ASCA2") == KnownEndpoints((), NOW)
    assert scan_index.served_record(blob, "ASCA3") is None
    assert scan_index.served_record(blob, "ASCA4") is None
    without = scan_index.decode(scan_index.encode(entries, NOW, with_served=False))
    assert all(entry.served is None for entry in without.values())


def test_an_unreadable_endpoint_record_is_dropped_and_its_entry_kept() -> None:
    for served in (
        b'"x"',
        b'{"at":1}',
        b'{"at":1,"on":[["no-such-kind","r","id","lb"]]}',
        b'{"at":1,"on":[["elbv2-listener","r","id"]]}',
        b'{"at":1,"on":[["elbv2-listener","r","id",7]]}',
        b'{"at":"x","on":[]}',
    ):
        blob = zlib.compress(
            b'{"format":1,"written_at":0,"certificates":{"A":{"tags":{},"read_at":1,"served":'
            + served
            + b"}}}"
        )
        entry = scan_index.decode(blob)["A"]
        assert entry.served is None and entry.read_at == datetime.fromtimestamp(1, UTC)


def test_a_record_is_checked_only_while_fresh_and_naming_an_endpoint() -> None:
    one = KnownEndpoints((listener(1),), NOW - ENDPOINT_RECORD_MAX_AGE)
    assert record_to_check(one, NOW) == one
    assert record_to_check(one, NOW + timedelta(seconds=1)) is None, "older: search"
    assert record_to_check(KnownEndpoints((), NOW), NOW) is None, "names none: search"
    assert record_to_check(None, NOW) is None
    future = KnownEndpoints((listener(1),), NOW + DAY)
    assert record_to_check(future, NOW) is None, "a clock that disagrees: search"


def test_a_record_is_confirmed_only_when_every_endpoint_still_serves_the_certificate() -> None:
    arn, other = "arn:aws:iam::123456789012:server-certificate/site", "arn:aws:iam::1:server-certificate/x"
    serving = replace(listener(1), default_certificate=arn)
    as_sni = replace(listener(2), default_certificate=other, sni_certificates=(arn,))
    assert confirmed_endpoints([serving, as_sni], arn, "ASCA1") == [serving, as_sni]
    assert confirmed_endpoints([serving, None], arn, "ASCA1") is None, "one is gone"
    moved = replace(listener(2), default_certificate=other)
    assert confirmed_endpoints([serving, moved], arn, "ASCA1") is None, "one serves it no more"


def test_a_thousand_certificates_with_their_endpoints_fit_one_item() -> None:
    entries = {
        f"ASCA{i:017d}": scan_index.IndexEntry(
            {MANAGED_TAG: "true", RENEWAL_TAG: schedule_tag(30)},
            NOW,
            scan_index.IndexedFacts(NOW, f"{'ab' * 20}.{i:032x}"),
            KnownEndpoints((listener(i), listener(i + 5000, "eu-west-1")), NOW),
        )
        for i in range(1000)
    }
    assert len(scan_index.encode(entries, NOW)) < scan_index.MAX_BYTES / 2


def test_how_iam_listed_a_certificate_survives_a_round_trip() -> None:
    listed = scan_index.Listed(
        "site", "arn:aws:iam::123456789012:server-certificate/site", "/", NOW + DAY, NOW
    )
    unknown_upload = scan_index.Listed("x", "arn:aws:iam::123456789012:server-certificate/x", "/", NOW, None)
    entries = {
        "ASCA1": scan_index.IndexEntry({MANAGED_TAG: "true"}, NOW, listed=listed),
        "ASCA2": scan_index.IndexEntry({}, NOW, listed=unknown_upload),
    }
    assert scan_index.decode(scan_index.encode(entries, NOW)) == entries
    without = scan_index.decode(scan_index.encode(entries, NOW, with_served=False, with_listed=False))
    assert all(entry.listed is None for entry in without.values()), "what a too large index drops next"
    for bad in (b'"x"', b'["a","b","/"]', b'["a","b","/","x"]', b'["a",2,"/",1]'):
        blob = zlib.compress(
            b'{"format":1,"written_at":0,"certificates":{"A":{"tags":{},"read_at":1,"listed":' + bad + b"}}}"
        )
        assert scan_index.decode(blob)["A"].listed is None, "left for the scan, which lists"
