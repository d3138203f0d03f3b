"""Trust only what can be proven (CONTRACT.md, "Trust"): a tag is a claim, a name needs an owner, the ACME
account key is never lost or printed, and one odd certificate never stops the others."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devstack import fixtures
from devstack.ca_limits import DuplicateCertificateLimit
from tests.e2e.conftest import World
from tests.e2e.test_many_accounts import MEMBER_A, MEMBER_B, ZONE, fleet

__all__ = ["fleet"]  # the many-accounts fixture, used here too

ODD_TAGS = {
    "certrotate:failures": "²",  # passes str.isdigit(), fails int()
    "certrotate:held-until": "9999-12-31T23:59:59+00:00",  # adding anything to it overflows
    "certrotate:retry-after": "\uff12\uff10\uff12\uff16-01-01T00:00:00+00:00",  # full-width digits
    "certrotate:renewal": "source=ari start=² end=² at=² ask=²",
}


def test_one_odd_tag_value_leaves_the_rest_of_the_scan_intact(world: World) -> None:
    world.seed("odd", ["odd.example.com"], days_left=5, tags=ODD_TAGS)
    world.seed("good", ["good.example.com"], days_left=5)
    world.seed("fresh", ["fresh.example.com"], days_left=80)

    result = world.scan()

    assert result["scanned"] == 3 and set(result["days_to_expiry"]) == {"odd", "good", "fresh"}
    assert "good" in result["enqueued"], result
    # Its odd values read as absent: it is due like any other, with no hold nor CA wait in its way.
    assert sorted(result["enqueued"]) == ["good", "odd"]
    assert result["held"] == []
    queued = sorted(json.loads(r["body"])["certificate_name"] for r in world.receive())
    assert queued == ["good", "odd"]

    # Its rotation decides on the same readings, and a failure count of "²" starts again at 1.
    rotated = world.rotate("odd")
    assert rotated["status"] == "rotated", rotated


# --- inputs checked before any order ------------------------------------------------------------------------


def _ca(world: World) -> DuplicateCertificateLimit:
    assert world.stack.ca_limits is not None
    return world.stack.ca_limits


def test_the_cas_malformed_is_held_and_orders_nothing_more(world: World) -> None:
    names = ["site.example.com", "odd.example.com"]
    world.seed("site", names, days_left=5)
    _ca(world).forbid("odd.example.com", problem="malformed")  # the CA cannot parse it as a name
    world.scan()
    [record] = world.receive()

    for _ in range(2):
        assert world.rotate_from_queue([record]) == {"batchItemFailures": []}
    assert world.scan()["enqueued"] == []

    assert _ca(world).rejected(names) == 1, "one attempt, whatever the deliveries and scans"
    reason = world.tags("site")["certrotate:held-reason"]
    assert reason.startswith("CaRefused") and "malformed" in reason


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["site.example.com", "192.0.2.7"], "names IP address(es) 192.0.2.7 besides its DNS names"),
        (["site.example.com", "bad_name.example.com"], "'bad_name.example.com' holds an underscore"),
        (["site.example.com", "www.example.com."], "'www.example.com.' ends with a dot"),
    ],
)
def test_names_a_ca_would_refuse_are_refused_before_any_order(
    world: World, names: list[str], message: str
) -> None:
    world.seed("site", names, days_left=5)
    planned = world.rotate("site", dry_run=True)
    assert planned["status"] == "planned" and message in planned["reason"]

    with pytest.raises(Exception, match=re.escape(message)) as refused:
        world.rotate("site")
    assert "\n" not in str(refused.value) and "nothing was ordered" in str(refused.value)
    assert world.tags("site")["certrotate:held-until"], "held like any failure no retry can fix"
    assert _ca(world).order_accounts() == set(), "nothing was ordered"
    assert [n for n in world.certificates() if n != "site"] == []


# --- names authorised per account (ACCOUNT_DOMAINS) ---------------------------------------------------------


def _names_of(iam: Any) -> list[str]:
    return sorted(
        c["ServerCertificateName"] for c in iam.list_server_certificates()["ServerCertificateMetadataList"]
    )


def test_a_member_account_obtains_no_name_outside_its_account_domains_through_shared_dns(
    fleet: tuple[World, Any, Any, Any],
) -> None:
    world, a, _, dns = fleet
    world.env["ACCOUNT_DOMAINS"] = f"{MEMBER_A}=a.{ZONE}"
    fixtures.seed_certificate(a("iam"), "own", [f"www.a.{ZONE}"], days_left=10)
    # Whoever may upload and tag in account A puts another tenant's name (shared zone) beside its own.
    grab = [f"www.a.{ZONE}", f"shop.tenant-b.{ZONE}"]
    fixtures.seed_certificate(a("iam"), "grab", grab, days_left=10)
    acm_arn, _ = fixtures.import_acm_certificate(a("acm"), [f"pay.tenant-b.{ZONE}"], 5)

    planned = world.rotate("grab", account_id=MEMBER_A, dry_run=True)
    assert f"shop.tenant-b.{ZONE} is not authorised for account {MEMBER_A}" in planned["reason"]
    world.scan()
    assert world.rotate_from_queue(world.receive()) == {"batchItemFailures": []}

    names = _names_of(a("iam"))
    assert "grab" in names and "own" not in names, names
    assert any(n.startswith("own-cr") for n in names), "its own name is renewed (and the old one retired)"
    assert not any(n.startswith("grab-cr") for n in names)
    grab_tags = {
        t["Key"]: t["Value"]
        for t in a("iam").list_server_certificate_tags(ServerCertificateName="grab")["Tags"]
    }
    assert grab_tags["certrotate:held-reason"].startswith("NameNotAuthorised")
    assert "certrotate:replaced-by" not in grab_tags
    assert _ca(world).orders(grab) == 0 and _ca(world).orders([f"pay.tenant-b.{ZONE}"]) == 0
    acm_tags = {
        t["Key"]: t["Value"] for t in a("acm").list_tags_for_certificate(CertificateArn=acm_arn)["Tags"]
    }
    assert acm_tags["certrotate:held-reason"].startswith("NameNotAuthorised"), "ACM imported ones too"
    [zone] = dns("route53").list_hosted_zones()["HostedZones"]
    records = dns("route53").list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    assert [r for r in records if r["Type"] == "TXT"] == []


def test_an_account_without_an_entry_gets_no_name_through_another_accounts_zones(
    fleet: tuple[World, Any, Any, Any],
) -> None:
    world, a, _, _ = fleet
    world.env["ACCOUNT_DOMAINS"] = f"{MEMBER_B}=b.{ZONE}"  # none for A, whose DNS-01 goes to the DNS account
    fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=10)

    with pytest.raises(Exception, match=f"account {MEMBER_A} has no ACCOUNT_DOMAINS entry") as refused:
        world.rotate("web", account_id=MEMBER_A)
    assert "(fail closed)" in str(refused.value) and "nothing was ordered" in str(refused.value)
    assert _names_of(a("iam")) == ["web"]
    assert _ca(world).orders([f"a.{ZONE}"]) == 0
