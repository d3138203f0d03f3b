"""When a replaced certificate may be deleted: served nowhere, past its grace, searched everywhere."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from certrotate.model import (
    Endpoint,
    EndpointKind,
    ServerCertificate,
    Unsearched,
)
from certrotate.names import (
    REPLACED_BY_TAG,
    SERVED_SINCE_TAG,
)
from certrotate.retire.decision import RetirementVerdict, decide_retirement, replacement_deploying

from tests.factories import NOW, cert, tagged

OLD_ARN, OLD_ID = "arn:old", "ID-OLD"
NEW_ARN, NEW_ID = "arn:new", "ID-NEW"


def listener(default: str) -> Endpoint:
    """An ALB listener in us-east-1 whose default certificate is `default`."""
    return Endpoint(EndpointKind.ELBV2_LISTENER, "us-east-1", "listener-1", "lb-1", default)


# --- retirement --------------------------------------------------------------------------------------------


def replaced(served_minutes_ago: float | None) -> ServerCertificate:
    tags = {REPLACED_BY_TAG: "www-cr1"}
    if served_minutes_ago is not None:
        tags[SERVED_SINCE_TAG] = (NOW - timedelta(minutes=served_minutes_ago)).isoformat()
    return tagged(cert(days=5), **tags)


@pytest.mark.parametrize(
    ("certificate", "users", "verdict"),
    [
        (cert(), [], RetirementVerdict.NOT_REPLACED),
        (replaced(None), [], RetirementVerdict.NOT_YET_SERVED),
        (replaced(30), [], RetirementVerdict.IN_GRACE),
        (replaced(61), None, RetirementVerdict.IN_USE),  # not looked up: never delete blind
        (replaced(61), [listener(OLD_ARN)], RetirementVerdict.IN_USE),
        (replaced(61), [], RetirementVerdict.DELETE),
        (replaced(60), [], RetirementVerdict.DELETE),
    ],
)
def test_retirement(
    certificate: ServerCertificate, users: list[Endpoint] | None, verdict: RetirementVerdict
) -> None:
    assert decide_retirement(certificate, users, now=NOW, grace_seconds=3600).verdict is verdict


def test_zero_grace_retires_as_soon_as_served_and_unused() -> None:
    assert decide_retirement(replaced(0), [], now=NOW, grace_seconds=0).verdict is (RetirementVerdict.DELETE)


FAR_LISTENER = Endpoint(EndpointKind.ELBV2_LISTENER, "eu-west-1", "arn:listener/far", "lb", OLD_ARN)
REFUSED = Unsearched("ap-east-1", "UnrecognizedClientException: The security token is invalid")


def cloudfront(certificate_id: str, *, deploying: bool) -> Endpoint:
    return Endpoint(EndpointKind.CLOUDFRONT, "global", "E123", "", certificate_id, deploying=deploying)


def test_a_listener_in_any_region_keeps_it_and_is_named_with_its_region() -> None:
    decision = decide_retirement(replaced(61), [FAR_LISTENER], now=NOW, grace_seconds=3600)
    assert decision.verdict is RetirementVerdict.IN_USE
    assert decision.reason == "still served by elbv2-listener arn:listener/far (eu-west-1)"
    assert decision.users == ("elbv2-listener arn:listener/far (eu-west-1)",)


def test_a_region_that_could_not_be_searched_keeps_it_and_is_named() -> None:
    decision = decide_retirement(replaced(61), [], now=NOW, grace_seconds=3600, unsearched=[REFUSED])
    assert decision.verdict is RetirementVerdict.IN_USE, "unknown = maybe in use"
    assert "ap-east-1 (UnrecognizedClientException" in decision.reason
    assert "could not be searched" in decision.reason
    assert decision.users == ("ap-east-1",)


def test_users_and_unsearched_regions_are_both_reported() -> None:
    decision = decide_retirement(replaced(61), [FAR_LISTENER], now=NOW, grace_seconds=0, unsearched=[REFUSED])
    assert decision.verdict is RetirementVerdict.IN_USE
    assert "eu-west-1" in decision.reason and "ap-east-1" in decision.reason


def test_not_yet_served_names_the_regions_not_searched() -> None:
    decision = decide_retirement(replaced(None), [], now=NOW, grace_seconds=0, unsearched=[REFUSED])
    assert decision.verdict is RetirementVerdict.NOT_YET_SERVED
    assert "ap-east-1" in decision.reason


@pytest.mark.parametrize("grace", [0, 3600])
def test_a_distribution_still_deploying_the_replacement_waits_whatever_the_grace(grace: int) -> None:
    deploying = [cloudfront(NEW_ID, deploying=True)]
    decision = decide_retirement(replaced(61), [], now=NOW, grace_seconds=grace, deploying=deploying)
    assert decision.verdict is RetirementVerdict.NOT_YET_DEPLOYED
    assert "cloudfront-distribution E123" in decision.reason and "InProgress" in decision.reason


def test_replacement_deploying_picks_distributions_serving_the_replacement_in_progress() -> None:
    endpoints = [
        cloudfront(NEW_ID, deploying=True),
        replace(cloudfront(NEW_ID, deploying=False), resource_id="E456"),
        replace(cloudfront("ID-OTHER", deploying=True), resource_id="E789"),
        listener(NEW_ARN),
    ]
    found = replacement_deploying(endpoints, NEW_ARN, NEW_ID)
    assert [e.resource_id for e in found] == ["E123"]
