"""The scan's plan (scan/plan.py), its messages' deduplication (scan/messages.py), the endpoint records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from certrotate.model import (
    Endpoint,
    EndpointKind,
    ServerCertificate,
    Unsearched,
)
from certrotate.model.endpoints import known_endpoints
from certrotate.names import (
    MANAGED_TAG,
    REPLACED_BY_TAG,
    REPLACES_TAG,
    RETRY_AFTER_TAG,
    SERVED_SINCE_TAG,
)
from certrotate.scan.messages import deduplication_id
from certrotate.scan.plan import plan_scan

from tests.factories import NOW, cert, tagged


def test_deduplication_id_is_per_certificate_per_day() -> None:
    same_day = deduplication_id("www", NOW + timedelta(hours=3))
    assert deduplication_id("www", NOW) == same_day
    assert deduplication_id("www", NOW + timedelta(days=1)) != same_day
    assert deduplication_id("api", NOW) != same_day
    assert len(same_day) <= 128


# --- scan --------------------------------------------------------------------------------------------------


def test_scan_sorts_certificates_into_their_states() -> None:
    replacement_name = "old-cr1"
    certificates = [
        cert("fresh", days=80),
        cert("due", days=3),
        cert("expired", days=-1),
        cert("unmanaged-due", days=3, managed=False),
        tagged(cert("held", days=3), **{RETRY_AFTER_TAG: (NOW + timedelta(hours=1)).isoformat()}),
        tagged(cert("old", days=3), **{REPLACED_BY_TAG: replacement_name}),
        ServerCertificate(
            replacement_name,
            "arn:r",
            "IDR",
            "/",
            NOW + timedelta(days=90),
            NOW - timedelta(hours=2),
            {MANAGED_TAG: "true", REPLACES_TAG: "old"},
        ),
        tagged(cert("retiring", days=3), **{REPLACED_BY_TAG: "x", SERVED_SINCE_TAG: NOW.isoformat()}),
    ]
    result = plan_scan(certificates, now=NOW, renew_before_days=30, lease_seconds=300)
    names = lambda items: [c.name for c in items]  # noqa: E731
    assert names(result.expiring) == ["due", "expired", "held"]
    assert names(result.to_enqueue) == ["due", "expired"]
    assert names(result.held_back) == ["held"]
    assert names(result.pending_retirement) == ["old", "retiring"]
    assert names(result.stalled) == ["old"]  # its replacement was uploaded 2 h ago and never served
    assert names(result.unmanaged) == ["unmanaged-due"]


def test_a_rotation_still_within_its_lease_is_not_stalled() -> None:
    certificates = [
        tagged(cert("old", days=3), **{REPLACED_BY_TAG: "new"}),
        ServerCertificate(
            "new",
            "arn:n",
            "IDN",
            "/",
            NOW + timedelta(days=90),
            NOW - timedelta(seconds=60),
            {MANAGED_TAG: "true"},
        ),
    ]
    assert plan_scan(certificates, now=NOW, renew_before_days=30, lease_seconds=300).stalled == ()


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_managed_tag_is_case_insensitive(value: str) -> None:
    c = ServerCertificate("a", "arn", "id", "/", NOW, None, {MANAGED_TAG: value})
    assert c.managed


# " True ": the policies' StringEqualsIgnoreCase would refuse every write on it (test_managed_tag.py).
@pytest.mark.parametrize("value", ["false", "yes", "1", "", " True "])
def test_anything_but_true_is_unmanaged(value: str) -> None:
    assert not ServerCertificate("a", "arn", "id", "/", NOW, None, {MANAGED_TAG: value}).managed


def test_the_scan_index_names_only_the_endpoints_serving_and_only_from_a_complete_search() -> None:

    from certrotate.model import EndpointSurvey

    old_arn = "arn:aws:iam::123456789012:server-certificate/old"
    serving = Endpoint(EndpointKind.ELBV2_LISTENER, "us-east-1", "l1", "lb1", old_arn)
    other = Endpoint(EndpointKind.ELBV2_LISTENER, "us-east-1", "l2", "lb2", "arn:other")
    cloudfront = Endpoint(EndpointKind.CLOUDFRONT, "", "E1", "", None, ("ASCAOLD",))
    seen = datetime(2026, 11, 26, tzinfo=UTC)

    known = known_endpoints(EndpointSurvey((serving, other, cloudfront)), old_arn, "ASCAOLD", seen)

    assert known is not None and known.endpoints == (serving, cloudfront)
    assert known.as_message()["serving"] == [
        {"kind": "elbv2-listener", "region": "us-east-1", "resource_id": "l1", "load_balancer": "lb1"},
        {"kind": "cloudfront-distribution", "region": "", "resource_id": "E1", "load_balancer": ""},
    ]
    incomplete = EndpointSurvey((serving,), (Unsearched("eu-west-1", "AccessDenied"),))
    assert known_endpoints(incomplete, old_arn, "ASCAOLD", seen) is None
