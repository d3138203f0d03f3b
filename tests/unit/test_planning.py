"""The pure decisions, without AWS: which certificates, which names, which endpoints, when to retire."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from certrotate import planning
from certrotate.model import (
    ChangeKind,
    Endpoint,
    EndpointKind,
    HostedZone,
    KeyKind,
    KeySpec,
    ServerCertificate,
    Unsearched,
)
from certrotate.names import (
    KEY_TYPE_TAG,
    MANAGED_TAG,
    REPLACED_BY_TAG,
    REPLACES_TAG,
    RETRY_AFTER_TAG,
    SERVED_SINCE_TAG,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def cert(name: str = "www", days: float = 10, managed: bool = True, **tags: str) -> ServerCertificate:
    all_tags = {MANAGED_TAG: "true"} if managed else {}
    all_tags.update({k.replace("_", "-"): v for k, v in tags.items()})
    return ServerCertificate(
        name=name,
        arn=f"arn:aws:iam::123456789012:server-certificate/{name}",
        certificate_id=f"ASCA{name.upper()}",
        path="/",
        expiration=NOW + timedelta(days=days),
        upload_date=NOW - timedelta(days=80),
        tags=all_tags,
    )


def tagged(base: ServerCertificate, **tags: str) -> ServerCertificate:
    return replace(base, tags={**base.tags, **tags})


def test_deduplication_id_is_per_certificate_per_day() -> None:
    same_day = planning.deduplication_id("www", NOW + timedelta(hours=3))
    assert planning.deduplication_id("www", NOW) == same_day
    assert planning.deduplication_id("www", NOW + timedelta(days=1)) != same_day
    assert planning.deduplication_id("api", NOW) != same_day
    assert len(same_day) <= 128


# --- keys --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (KeySpec(KeyKind.RSA, 1024), KeySpec(KeyKind.RSA, 2048)),
        (KeySpec(KeyKind.RSA, 2048), KeySpec(KeyKind.RSA, 2048)),
        (KeySpec(KeyKind.RSA, 3072), KeySpec(KeyKind.RSA, 4096)),
        (KeySpec(KeyKind.RSA, 4096), KeySpec(KeyKind.RSA, 4096)),
        (KeySpec(KeyKind.EC, 256), KeySpec(KeyKind.EC, 256)),
        (KeySpec(KeyKind.EC, 384), KeySpec(KeyKind.EC, 256)),
    ],
)
def test_replacement_key_is_same_kind_and_accepted_by_elb(old: KeySpec, new: KeySpec) -> None:
    assert planning.replacement_key(old) == new


# --- DNS-01 ------------------------------------------------------------------------------------------------


def test_apex_and_wildcard_share_one_challenge_name() -> None:
    assert planning.challenge_record_name("*.Example.com") == "_acme-challenge.example.com"
    assert planning.challenge_record_name("example.com.") == "_acme-challenge.example.com"


ZONES = [
    HostedZone("Z1", "example.com"),
    HostedZone("Z2", "dev.example.com"),
    HostedZone("Z3", "internal.example.com", private=True),
    HostedZone("Z4", "ample.com"),
]


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        ("_acme-challenge.www.example.com", "Z1"),
        ("_acme-challenge.api.dev.example.com", "Z2"),
        ("_acme-challenge.dev.example.com", "Z2"),
        ("_acme-challenge.x.internal.example.com", "Z1"),  # the private zone is skipped
        ("_acme-challenge.example.com", "Z1"),
        ("_acme-challenge.www.sample.com", None),  # "ample.com" is not a suffix of a label boundary
        ("_acme-challenge.example.org", None),
    ],
)
def test_zone_is_the_longest_public_suffix_match(name: str, zone: str | None) -> None:
    found = planning.zone_for(name, ZONES)
    assert (found.zone_id if found else None) == zone


def test_private_zones_are_used_when_asked() -> None:
    found = planning.zone_for("_acme-challenge.x.internal.example.com", ZONES, allow_private=True)
    assert found is not None and found.zone_id == "Z3"


# --- endpoint changes --------------------------------------------------------------------------------------

OLD_ARN, OLD_ID = "arn:old", "ID-OLD"
NEW_ARN, NEW_ID = "arn:new", "ID-NEW"


def v2(default: str | None, *sni: str, rid: str = "listener-1") -> Endpoint:
    return Endpoint(EndpointKind.ELBV2_LISTENER, "us-east-1", rid, "lb-1", default, tuple(sni))


def plan(*endpoints: Endpoint) -> list[tuple[str, ChangeKind, str]]:
    changes = planning.plan_endpoint_changes(
        endpoints, old_arn=OLD_ARN, old_id=OLD_ID, new_arn=NEW_ARN, new_id=NEW_ID
    )
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
    assert [e.resource_id for e in planning.endpoints_serving(endpoints, OLD_ARN, OLD_ID)] == [
        "listener-1",
        "l2",
        "E1",
    ]


def test_change_applied_reads_back_each_kind() -> None:
    [set_default] = planning.plan_endpoint_changes(
        [v2(OLD_ARN)], old_arn=OLD_ARN, old_id=OLD_ID, new_arn=NEW_ARN, new_id=NEW_ID
    )
    assert planning.change_applied(set_default, v2(NEW_ARN))
    assert not planning.change_applied(set_default, v2(OLD_ARN))
    add, remove = planning.plan_endpoint_changes(
        [v2("d", OLD_ARN)], old_arn=OLD_ARN, old_id=OLD_ID, new_arn=NEW_ARN, new_id=NEW_ID
    )
    assert planning.change_applied(add, v2("d", OLD_ARN, NEW_ARN))
    assert not planning.change_applied(remove, v2("d", OLD_ARN, NEW_ARN))
    assert planning.change_applied(remove, v2("d", NEW_ARN))


def test_others_unchanged_detects_a_dropped_certificate() -> None:
    before = v2(OLD_ARN, "arn:a", "arn:b")
    assert planning.others_unchanged(before, v2(NEW_ARN, "arn:a", "arn:b"), [OLD_ARN, NEW_ARN])
    assert not planning.others_unchanged(before, v2(NEW_ARN, "arn:a"), [OLD_ARN, NEW_ARN])


# --- retirement --------------------------------------------------------------------------------------------


def replaced(served_minutes_ago: float | None) -> ServerCertificate:
    tags = {REPLACED_BY_TAG: "www-cr1"}
    if served_minutes_ago is not None:
        tags[SERVED_SINCE_TAG] = (NOW - timedelta(minutes=served_minutes_ago)).isoformat()
    return tagged(cert(days=5), **tags)


@pytest.mark.parametrize(
    ("certificate", "users", "verdict"),
    [
        (cert(), [], planning.RetirementVerdict.NOT_REPLACED),
        (replaced(None), [], planning.RetirementVerdict.NOT_YET_SERVED),
        (replaced(30), [], planning.RetirementVerdict.IN_GRACE),
        (replaced(61), None, planning.RetirementVerdict.IN_USE),  # not looked up: never delete blind
        (replaced(61), [v2(OLD_ARN)], planning.RetirementVerdict.IN_USE),
        (replaced(61), [], planning.RetirementVerdict.DELETE),
        (replaced(60), [], planning.RetirementVerdict.DELETE),
    ],
)
def test_retirement(
    certificate: ServerCertificate, users: list[Endpoint] | None, verdict: planning.RetirementVerdict
) -> None:
    assert planning.decide_retirement(certificate, users, now=NOW, grace_seconds=3600).verdict is verdict


def test_zero_grace_retires_as_soon_as_served_and_unused() -> None:
    assert planning.decide_retirement(replaced(0), [], now=NOW, grace_seconds=0).verdict is (
        planning.RetirementVerdict.DELETE
    )


FAR_LISTENER = Endpoint(EndpointKind.ELBV2_LISTENER, "eu-west-1", "arn:listener/far", "lb", OLD_ARN)
REFUSED = Unsearched("ap-east-1", "UnrecognizedClientException: The security token is invalid")


def cloudfront(certificate_id: str, *, deploying: bool) -> Endpoint:
    return Endpoint(EndpointKind.CLOUDFRONT, "global", "E123", "", certificate_id, deploying=deploying)


def test_a_listener_in_any_region_keeps_it_and_is_named_with_its_region() -> None:
    decision = planning.decide_retirement(replaced(61), [FAR_LISTENER], now=NOW, grace_seconds=3600)
    assert decision.verdict is planning.RetirementVerdict.IN_USE
    assert decision.reason == "still served by elbv2-listener arn:listener/far (eu-west-1)"
    assert decision.users == ("elbv2-listener arn:listener/far (eu-west-1)",)


def test_a_region_that_could_not_be_searched_keeps_it_and_is_named() -> None:
    decision = planning.decide_retirement(replaced(61), [], now=NOW, grace_seconds=3600, unsearched=[REFUSED])
    assert decision.verdict is planning.RetirementVerdict.IN_USE, "unknown = maybe in use"
    assert "ap-east-1 (UnrecognizedClientException" in decision.reason
    assert "could not be searched" in decision.reason
    assert decision.users == ("ap-east-1",)


def test_users_and_unsearched_regions_are_both_reported() -> None:
    decision = planning.decide_retirement(
        replaced(61), [FAR_LISTENER], now=NOW, grace_seconds=0, unsearched=[REFUSED]
    )
    assert decision.verdict is planning.RetirementVerdict.IN_USE
    assert "eu-west-1" in decision.reason and "ap-east-1" in decision.reason


def test_not_yet_served_names_the_regions_not_searched() -> None:
    decision = planning.decide_retirement(replaced(None), [], now=NOW, grace_seconds=0, unsearched=[REFUSED])
    assert decision.verdict is planning.RetirementVerdict.NOT_YET_SERVED
    assert "ap-east-1" in decision.reason


@pytest.mark.parametrize("grace", [0, 3600])
def test_a_distribution_still_deploying_the_replacement_waits_whatever_the_grace(grace: int) -> None:
    deploying = [cloudfront(NEW_ID, deploying=True)]
    decision = planning.decide_retirement(replaced(61), [], now=NOW, grace_seconds=grace, deploying=deploying)
    assert decision.verdict is planning.RetirementVerdict.NOT_YET_DEPLOYED
    assert "cloudfront-distribution E123" in decision.reason and "InProgress" in decision.reason


def test_replacement_deploying_picks_distributions_serving_the_replacement_in_progress() -> None:
    endpoints = [
        cloudfront(NEW_ID, deploying=True),
        replace(cloudfront(NEW_ID, deploying=False), resource_id="E456"),
        replace(cloudfront("ID-OTHER", deploying=True), resource_id="E789"),
        v2(NEW_ARN),
    ]
    found = planning.replacement_deploying(endpoints, NEW_ARN, NEW_ID)
    assert [e.resource_id for e in found] == ["E123"]


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
    result = planning.plan_scan(certificates, now=NOW, renew_before_days=30, lease_seconds=300)
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
    assert planning.plan_scan(certificates, now=NOW, renew_before_days=30, lease_seconds=300).stalled == ()


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_managed_tag_is_case_insensitive(value: str) -> None:
    c = ServerCertificate("a", "arn", "id", "/", NOW, None, {MANAGED_TAG: value})
    assert c.managed


# " True ": the policies' StringEqualsIgnoreCase would refuse every write on it (test_managed_tag.py).
@pytest.mark.parametrize("value", ["false", "yes", "1", "", " True "])
def test_anything_but_true_is_unmanaged(value: str) -> None:
    assert not ServerCertificate("a", "arn", "id", "/", NOW, None, {MANAGED_TAG: value}).managed


# --- key types (tag certrotate:key-type) -------------------------------------------------------------------

RSA2048, RSA3072, RSA4096 = (KeySpec(KeyKind.RSA, size) for size in (2048, 3072, 4096))
P256, P384 = KeySpec(KeyKind.EC, 256), KeySpec(KeyKind.EC, 384)


@pytest.mark.parametrize(
    ("value", "key"),
    [("rsa2048", RSA2048), ("rsa3072", RSA3072), ("rsa4096", RSA4096), ("ec256", P256), (" EC384 ", P384)],
)
def test_the_key_type_tag_names_the_replacements_key(value: str, key: KeySpec) -> None:
    assert planning.requested_key({KEY_TYPE_TAG: value}, RSA2048) == key


@pytest.mark.parametrize("tags", [{}, {KEY_TYPE_TAG: ""}, {KEY_TYPE_TAG: "  "}])
def test_without_the_key_type_tag_the_old_keys_kind_is_kept(tags: dict[str, str]) -> None:
    assert planning.requested_key(tags, P384) == planning.replacement_key(P384) == P256
    assert planning.requested_key(tags, RSA3072) == RSA4096


@pytest.mark.parametrize("value", ["rsa1024", "ec521", "ed25519", "rsa-2048", "RSA 2048"])
def test_an_unknown_key_type_is_none(value: str) -> None:
    assert planning.requested_key({KEY_TYPE_TAG: value}, RSA2048) is None


ALB = Endpoint(EndpointKind.ELBV2_LISTENER, "eu-west-1", "arn:listener/1", "arn:lb/1", OLD_ARN)
CLASSIC = Endpoint(EndpointKind.CLASSIC_LISTENER, "eu-west-1", "lb:443", "lb", OLD_ARN)
DISTRIBUTION = Endpoint(EndpointKind.CLOUDFRONT, "global", "E123", "", OLD_ID)


@pytest.mark.parametrize(
    ("key", "refused_by"),
    [
        (RSA2048, []),
        (RSA4096, []),
        (P256, []),
        (RSA3072, [CLASSIC]),  # the Classic Load Balancer documentation names 1024, 2048 and 4096 bits only
        (P384, [CLASSIC, DISTRIBUTION]),  # CloudFront: ECDSA P-256 only
    ],
)
def test_endpoints_refusing_a_key_are_named(key: KeySpec, refused_by: list[Endpoint]) -> None:
    assert planning.endpoints_refusing(key, [ALB, CLASSIC, DISTRIBUTION]) == refused_by


def test_every_key_type_is_served_by_alb_and_nlb_and_passes_validation() -> None:
    for key in planning.KEY_TYPES.values():
        assert key in planning.KEYS_ACCEPTED[EndpointKind.ELBV2_LISTENER]
        assert key in planning.KEYS_ANY_ENDPOINT_ACCEPTS
    assert set(planning.KEYS_ACCEPTED) == set(EndpointKind), "every endpoint kind has a row"


def test_the_scan_index_names_only_the_endpoints_serving_and_only_from_a_complete_search() -> None:
    from datetime import UTC, datetime

    from certrotate.model import Endpoint, EndpointKind, EndpointSurvey, Unsearched

    old_arn = "arn:aws:iam::123456789012:server-certificate/old"
    serving = Endpoint(EndpointKind.ELBV2_LISTENER, "us-east-1", "l1", "lb1", old_arn)
    other = Endpoint(EndpointKind.ELBV2_LISTENER, "us-east-1", "l2", "lb2", "arn:other")
    cloudfront = Endpoint(EndpointKind.CLOUDFRONT, "", "E1", "", None, ("ASCAOLD",))
    seen = datetime(2026, 11, 26, tzinfo=UTC)

    known = planning.known_endpoints(EndpointSurvey((serving, other, cloudfront)), old_arn, "ASCAOLD", seen)

    assert known is not None and known.endpoints == (serving, cloudfront)
    assert known.as_message()["serving"] == [
        {"kind": "elbv2-listener", "region": "us-east-1", "resource_id": "l1", "load_balancer": "lb1"},
        {"kind": "cloudfront-distribution", "region": "", "resource_id": "E1", "load_balancer": ""},
    ]
    incomplete = EndpointSurvey((serving,), (Unsearched("eu-west-1", "AccessDenied"),))
    assert planning.known_endpoints(incomplete, old_arn, "ASCAOLD", seen) is None
