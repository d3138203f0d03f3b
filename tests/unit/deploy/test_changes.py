"""The endpoint changes of a repoint, and reading them back."""

from __future__ import annotations

from certrotate.deploy.changes import change_applied, others_unchanged, plan_endpoint_changes
from certrotate.model import (
    ChangeKind,
    Endpoint,
    EndpointKind,
)
from certrotate.model.endpoints import endpoints_serving

# --- endpoint changes --------------------------------------------------------------------------------------

OLD_ARN, OLD_ID = "arn:old", "ID-OLD"
NEW_ARN, NEW_ID = "arn:new", "ID-NEW"


def v2(default: str | None, *sni: str, rid: str = "listener-1") -> Endpoint:
    return Endpoint(EndpointKind.ELBV2_LISTENER, "us-east-1", rid, "lb-1", default, tuple(sni))


def plan(*endpoints: Endpoint) -> list[tuple[str, ChangeKind, str]]:
    changes = plan_endpoint_changes(endpoints, old_arn=OLD_ARN, old_id=OLD_ID, new_arn=NEW_ARN, new_id=NEW_ID)
    return [(c.endpoint.resource_id, c.kind, c.certificate) for c in changes]


def test_default_certificate_is_swapped_in_one_change() -> None:
    assert plan(v2(OLD_ARN, "arn:other")) == [("listener-1", ChangeKind.SET_DEFAULT, NEW_ARN)]


def test_sni_adds_the_new_one_before_removing_the_old_one() -> None:
    assert plan(v2("arn:default", "arn:a", OLD_ARN, "arn:b")) == [
        ("listener-1", ChangeKind.ADD_SNI, NEW_ARN),
        ("listener-1", ChangeKind.REMOVE_SNI, OLD_ARN),
    ]


def test_default_and_sni_on_one_listener_keep_their_shape() -> None:
    assert plan(v2(OLD_ARN, OLD_ARN)) == [
        ("listener-1", ChangeKind.SET_DEFAULT, NEW_ARN),
        ("listener-1", ChangeKind.ADD_SNI, NEW_ARN),
        ("listener-1", ChangeKind.REMOVE_SNI, OLD_ARN),
    ]


def test_half_done_sni_only_removes() -> None:
    assert plan(v2("arn:default", OLD_ARN, NEW_ARN)) == [("listener-1", ChangeKind.REMOVE_SNI, OLD_ARN)]


def test_converted_or_unrelated_endpoints_need_nothing() -> None:
    assert plan(v2(NEW_ARN, "arn:a"), v2("arn:x", "arn:y", rid="listener-2"), v2(None)) == []


def test_classic_and_cloudfront_use_their_own_references() -> None:
    classic = Endpoint(EndpointKind.CLASSIC_LISTENER, "eu-west-1", "lb:443", "lb", OLD_ARN)
    cloudfront = Endpoint(EndpointKind.CLOUDFRONT, "global", "E123", "", OLD_ID)
    cloudfront_by_arn = Endpoint(EndpointKind.CLOUDFRONT, "global", "E456", "", OLD_ARN)  # never matches
    assert plan(classic, cloudfront, cloudfront_by_arn) == [
        ("lb:443", ChangeKind.SET_DEFAULT, NEW_ARN),
        ("E123", ChangeKind.SET_DEFAULT, NEW_ID),
    ]


def test_endpoints_serving_finds_default_sni_and_cloudfront_uses() -> None:
    endpoints = [
        v2(OLD_ARN),
        v2("arn:x", OLD_ARN, rid="l2"),
        v2("arn:x", rid="l3"),
        Endpoint(EndpointKind.CLOUDFRONT, "global", "E1", "", OLD_ID),
    ]
    assert [e.resource_id for e in endpoints_serving(endpoints, OLD_ARN, OLD_ID)] == [
        "listener-1",
        "l2",
        "E1",
    ]


def test_change_applied_reads_back_each_kind() -> None:
    [set_default] = plan_endpoint_changes(
        [v2(OLD_ARN)], old_arn=OLD_ARN, old_id=OLD_ID, new_arn=NEW_ARN, new_id=NEW_ID
    )
    assert change_applied(set_default, v2(NEW_ARN))
    assert not change_applied(set_default, v2(OLD_ARN))
    add, remove = plan_endpoint_changes(
        [v2("d", OLD_ARN)], old_arn=OLD_ARN, old_id=OLD_ID, new_arn=NEW_ARN, new_id=NEW_ID
    )
    assert change_applied(add, v2("d", OLD_ARN, NEW_ARN))
    assert not change_applied(remove, v2("d", OLD_ARN, NEW_ARN))
    assert change_applied(remove, v2("d", NEW_ARN))


def test_others_unchanged_detects_a_dropped_certificate() -> None:
    before = v2(OLD_ARN, "arn:a", "arn:b")
    assert others_unchanged(before, v2(NEW_ARN, "arn:a", "arn:b"), [OLD_ARN, NEW_ARN])
    assert not others_unchanged(before, v2(NEW_ARN, "arn:a"), [OLD_ARN, NEW_ARN])
