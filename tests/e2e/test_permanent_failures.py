"""Failures no retry can fix spend no more orders: the certificate is held off (tags), redeliveries succeed
without ordering, scans list it as held and send nothing, `force` overrides, a later success clears the hold.
Transient faults are still redelivered. Orders are counted by the devstack's model of Let's Encrypt's
duplicate-certificate limit in front of pebble (devstack/ca_limits.py)."""

from __future__ import annotations

import json
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.endpoint
import pytest
from certrotate.adapters.aws.iam import ROOM_RESERVE

from devstack import fixtures, moto_fixes
from devstack.ca_limits import DuplicateCertificateLimit
from tests.e2e.conftest import World
from tests.e2e.test_observability import emitted, metric_values, received_events, subscribe_events

SITE = ["site.example.com"]
HOLD_TAGS = ("certrotate:held-until", "certrotate:held-reason", "certrotate:failures")


def ca(world: World) -> DuplicateCertificateLimit:
    assert world.stack.ca_limits is not None
    return world.stack.ca_limits


def held_until(world: World, name: str) -> datetime:
    return datetime.fromisoformat(world.tags(name)["certrotate:held-until"])


def foreign_trust_bundle(tmp_path: Path) -> str:
    """A trust bundle without pebble's root: every certificate pebble issues fails validation."""
    path = tmp_path / "foreign-roots.pem"
    path.write_text(fixtures.local_ca().root_pem)
    return str(path)


def failure_events(world: World, url: str) -> list[dict[str, Any]]:
    return [e for e in received_events(world, url) if e["detail-type"] == "Certificate Rotation Failed"]


def test_a_certificate_that_never_validates_costs_one_order_over_three_deliveries_and_scans(
    world: World, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    world.seed("site", SITE, days_left=5)
    events = subscribe_events(world)
    bad_roots = foreign_trust_bundle(tmp_path)
    assert world.scan()["enqueued"] == ["site"]
    [record] = world.receive()
    capfd.readouterr()

    before = datetime.now(UTC)
    for _ in range(3):  # SQS redelivers; nothing asks it to, but a lost delete or a visibility timeout may
        response = world.invoke("RotateFunction", {"Records": [record]}, ISSUER_TRUST_BUNDLE=bad_roots)
        assert response == {"batchItemFailures": []}, "a held failure is not handed back to SQS"
    scan = world.invoke("ScanFunction", {}, ISSUER_TRUST_BUNDLE=bad_roots)

    assert ca(world).orders(SITE) == ca(world).issued(SITE) == 1, "one order, whatever the deliveries"
    assert scan["expiring"] == ["site"], "a held certificate is still expiring"
    assert scan["enqueued"] == []
    [held] = scan["held"]
    assert held["certificate_name"] == "site" and held["permanent"] is True and held["failures"] == 1
    assert held["reason"].startswith("ValidationFailed")
    tags = world.tags("site")
    assert tags["certrotate:failures"] == "1"
    assert "ISSUER_TRUST_BUNDLE" in tags["certrotate:held-reason"]
    assert timedelta(hours=23.9) < held_until(world, "site") - before <= timedelta(hours=24.1)
    assert [n for n in world.certificates() if n.startswith("site-cr")] == [], "nothing uploaded"

    docs, _ = emitted(capfd.readouterr().out)
    assert [v for _, v in metric_values(docs, "RotationFailed")] == [1.0], "the first delivery failed"
    assert [v for _, v in metric_values(docs, "CertificatesHeld")] == [1.0]
    [failed] = failure_events(world, events)
    detail = failed["detail"]
    assert detail["permanent"] is True and detail["error"] == "ValidationFailed"
    assert detail["held_until"] == tags["certrotate:held-until"]
    assert "ISSUER_TRUST_BUNDLE" in detail["fix"]

    # The hold passes (the tag is rewritten to the past): the scan sends it again.
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    world.iam.tag_server_certificate(
        ServerCertificateName="site", Tags=[{"Key": "certrotate:held-until", "Value": past}]
    )
    again = world.scan()
    assert again["enqueued"] == ["site"] and again["held"] == []
    # Fixed now (pebble's root trusted): the rotation succeeds and the hold is gone with the old certificate.
    result = world.rotate("site")
    assert result["status"] == "rotated"
    assert ca(world).issued(SITE) == 2


def test_a_second_failure_in_a_row_doubles_the_hold(world: World, tmp_path: Path) -> None:
    world.seed("site", SITE, days_left=5)
    bad_roots = foreign_trust_bundle(tmp_path)
    with pytest.raises(Exception, match="does not verify to ISSUER_TRUST_BUNDLE"):
        world.invoke("RotateFunction", {"certificate_name": "site"}, ISSUER_TRUST_BUNDLE=bad_roots)
    before = datetime.now(UTC)
    with pytest.raises(Exception, match="does not verify"):  # an operator forces it, unchanged
        world.invoke(
            "RotateFunction", {"certificate_name": "site", "force": True}, ISSUER_TRUST_BUNDLE=bad_roots
        )
    assert world.tags("site")["certrotate:failures"] == "2"
    assert timedelta(hours=47.9) < held_until(world, "site") - before <= timedelta(hours=48.1)
    assert ca(world).issued(SITE) == 2, "force orders: the operator asked for it"


def test_an_iam_upload_refusal_is_held_until_forced_and_a_success_clears_the_hold(world: World) -> None:
    world.seed("site", SITE, days_left=5)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, world.certificates()["site"]["Arn"])
    world.stack.faults.inject(
        service="iam",
        action="UploadServerCertificate",
        code="MalformedCertificate",
        message="Unable to validate certificate chain",
    )

    with pytest.raises(Exception, match=r"IAM refused the upload.*MalformedCertificate"):
        world.rotate("site")  # a direct invocation still raises, after recording the hold
    assert world.tags("site")["certrotate:held-reason"].startswith("UploadRefused")

    skipped = world.rotate("site")
    assert (
        skipped["status"] == "skipped"
        and skipped["held_until"] == world.tags("site")["certrotate:held-until"]
    )
    assert "force=true overrides" in skipped["reason"]
    scan = world.scan()
    assert scan["enqueued"] == [] and [h["certificate_name"] for h in scan["held"]] == ["site"]
    assert ca(world).issued(SITE) == 1

    forced = world.invoke(
        "RotateFunction", {"certificate_name": "site", "force": True}, RETIREMENT_GRACE_SECONDS="3600"
    )
    assert forced["status"] == "rotated"
    assert not set(HOLD_TAGS) & set(world.tags("site")), "a success clears the hold"
    new_arn = world.certificates()[forced["new_certificate_name"]]["Arn"]
    assert world.listener_certificates(listener.listener_arn) == (new_arn, [])
    assert ca(world).issued(SITE) == 2


def test_a_transient_upload_failure_is_not_held_and_the_redelivery_uploads_the_kept_certificate(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore's backoff is real but not waited out here (only where botocore.endpoint sleeps).
    fake_time = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
    fake_time.sleep = lambda seconds: None
    monkeypatch.setattr(botocore.endpoint, "time", fake_time)
    world.seed("site", SITE, days_left=5)
    world.scan()
    [record] = world.receive()
    # Throttling beyond botocore's retries (8 after the first attempt): this delivery fails; a later one may
    # well succeed.
    world.stack.faults.inject(service="iam", action="UploadServerCertificate", code="Throttling", times=9)

    with pytest.raises(Exception, match="All records failed processing"):  # the batch goes back to SQS
        world.rotate_from_queue([record])
    assert world.stack.faults.pending() == []
    assert not set(HOLD_TAGS) & set(world.tags("site"))
    assert world.scan(dry_run=True)["held"] == []
    [kept] = world.table_items("#issued:")
    assert kept["certificate"]["S"] == "#issued:site", "the issued certificate is kept for the next try"
    assert b"PRIVATE KEY" not in kept["sealed"]["B"] and b"BEGIN CERTIFICATE" not in kept["sealed"]["B"]

    second = world.rotate_from_queue([record])
    assert second == {"batchItemFailures": []}
    assert [n for n in world.certificates() if n.startswith("site-cr")]
    assert ca(world).orders(SITE) == ca(world).issued(SITE) == 1, "the redelivery stores the kept one"
    assert world.table_items("#issued:") == [], "stored: nothing kept any more"


def test_the_quota_filled_after_the_kept_look_costs_no_second_order(world: World) -> None:
    """A rotation looks at the quota's room before it orders, from a reading up to a minute old while the room
    was plenty (adapters/aws/iam.py): if other writers fill the quota meanwhile, IAM refuses the upload
    (LimitExceeded, as the local stack enforces it). The issued certificate is kept, nothing is held, and the
    try after the quota has room stores the kept one: one order in all."""
    moto_fixes.set_server_certificate_quota(ROOM_RESERVE + 100)
    world.seed("first", ["first.example.com"], days_left=5)
    world.seed("site", SITE, days_left=5)
    world.scan()
    records = {json.loads(r["body"])["certificate_name"]: r for r in world.receive()}
    assert world.rotate_from_queue([records["first"]]) == {"batchItemFailures": []}  # reads the room
    moto_fixes.set_server_certificate_quota(len(world.certificates()))  # filled since, by others

    with pytest.raises(Exception, match="All records failed processing"):  # transient: back to SQS
        world.rotate_from_queue([records["site"]])
    assert ca(world).orders(SITE) == 1
    assert not set(HOLD_TAGS) & set(world.tags("site"))
    [kept] = world.table_items("#issued:")
    assert kept["certificate"]["S"] == "#issued:site", "the issued certificate is kept for the next try"
    with pytest.raises(Exception, match="All records failed processing"):  # still full: read, not ordered
        world.rotate_from_queue([records["site"]])
    assert ca(world).orders(SITE) == 1

    moto_fixes.set_server_certificate_quota(ROOM_RESERVE + 100)  # room again
    assert world.rotate_from_queue([records["site"]]) == {"batchItemFailures": []}
    assert [n for n in world.certificates() if n.startswith("site-cr")]
    assert ca(world).orders(SITE) == ca(world).issued(SITE) == 1, "the kept one stored: one order in all"
    assert world.table_items("#issued:") == []


def test_a_full_load_balancer_is_held_with_what_to_do_and_force_finishes_once_there_is_room(
    world: World,
) -> None:
    moto_fixes.set_server_certificate_quota(100)
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    fillers = [
        world.seed(f"f{i}", [f"f{i}.example.org"], 200, managed=False, key="ec256")["Arn"] for i in range(25)
    ]
    plain = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="plain")
    full = fixtures.create_alb_https_listener(
        world.elbv2, world.ec2, fillers[0], sni_certificate_arns=[*fillers[1:], old["Arn"]], name="full"
    )  # 24 fillers and the old one: the load balancer's 25

    with pytest.raises(Exception, match=r"load balancer full .*holds its quota of certificates") as caught:
        world.rotate("shop")
    assert "SniSwapWhenFull=true" in getattr(caught.value, "fix", ""), (
        "the error says what the operator can do"
    )

    new = next(m for n, m in world.certificates().items() if n.startswith("shop-cr"))["Arn"]
    assert world.listener_certificates(plain.listener_arn) == (new, []), "the others still move"
    assert world.listener_certificates(full.listener_arn)[1] == sorted([*fillers[1:], old["Arn"]])
    assert world.tags("shop")["certrotate:held-reason"].startswith("LoadBalancerFull: load balancer full")
    assert world.rotate("shop")["status"] == "skipped", "held: a redelivery does not hammer the full list"
    assert world.scan()["resumed"] == [], "nor does the scan send it again"

    # The operator makes room and forces the rotation: it resumes with the replacement already uploaded.
    world.elbv2.remove_listener_certificates(
        ListenerArn=full.listener_arn, Certificates=[{"CertificateArn": fillers[1]}]
    )
    done = world.rotate("shop", force=True)
    assert done["status"] == "skipped" and done["new_certificate_name"]
    assert world.listener_certificates(full.listener_arn)[1] == sorted([*fillers[2:], new])
    assert len([n for n in world.certificates() if n.startswith("shop-cr")]) == 1
    assert ca(world).issued(["shop.example.com"]) == 1


def test_sni_swap_when_full_removes_then_adds(world: World) -> None:
    moto_fixes.set_server_certificate_quota(100)
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    fillers = [
        world.seed(f"f{i}", [f"f{i}.example.org"], 200, managed=False, key="ec256")["Arn"] for i in range(25)
    ]
    full = fixtures.create_alb_https_listener(
        world.elbv2, world.ec2, fillers[0], sni_certificate_arns=[*fillers[1:], old["Arn"]], name="full"
    )

    result = world.invoke("RotateFunction", {"certificate_name": "shop"}, SNI_SWAP_WHEN_FULL="true")

    assert result["status"] == "rotated"
    new = world.certificates()[result["new_certificate_name"]]["Arn"]
    default, sni = world.listener_certificates(full.listener_arn)
    assert default == fillers[0] and sni == sorted([*fillers[1:], new])
    assert any("remove-sni" in step and "add-sni" in step for step in result["steps"])


def add_legacy_alias(distribution_id: str, alias: str) -> None:
    """An alias CloudFront would refuse today (devstack's moto fix enforces it), set the way distributions
    configured before the check, or by a certificate since replaced by hand, still carry them."""
    from moto.cloudfront.models import cloudfront_backends

    for backend in dict.values(cloudfront_backends["123456789012"]):
        distribution = backend.distributions.get(distribution_id)
        if distribution is not None:
            config = distribution.distribution_config
            items = config.Aliases.get("Items") or []
            if isinstance(items, dict):  # as parsed from XML
                items = items.get("CNAME") or []
            items = [items] if isinstance(items, str) else list(items)
            config.Aliases = {"Quantity": len(items) + 1, "Items": [*items, alias]}
            return
    raise AssertionError(f"no distribution {distribution_id}")


def test_a_distribution_alias_the_certificate_does_not_cover_is_held_and_named(world: World) -> None:
    old = world.seed("cdn", ["cdn.example.com"], days_left=7, path="/cloudfront/site/")
    covered = fixtures.create_cloudfront_distribution(
        world.cloudfront, old["ServerCertificateId"], aliases=["cdn.example.com"]
    )
    uncovered = fixtures.create_cloudfront_distribution(
        world.cloudfront, old["ServerCertificateId"], aliases=["cdn.example.com"]
    )
    add_legacy_alias(uncovered.id, "shop.example.net")
    aliases = world.cloudfront.get_distribution_config(Id=uncovered.id)["DistributionConfig"]["Aliases"]
    assert aliases["Items"] == ["cdn.example.com", "shop.example.net"]

    started = datetime.now(UTC)
    with pytest.raises(Exception, match=f"distribution {uncovered.id} has aliases .*: shop.example.net"):
        world.rotate("cdn")
    assert datetime.now(UTC) - started < timedelta(seconds=30), "no waiting out an IAM lag that is not there"
    reason = world.tags("cdn")["certrotate:held-reason"]
    assert (
        reason.startswith(f"AliasesNotCovered: distribution {uncovered.id}") and "shop.example.net" in reason
    )
    new_id = next(m for n, m in world.certificates().items() if n.startswith("cdn-cr"))["ServerCertificateId"]
    viewer = world.cloudfront.get_distribution_config(Id=covered.id)["DistributionConfig"][
        "ViewerCertificate"
    ]
    assert viewer["IAMCertificateId"] == new_id, "the covered distribution moved"
    viewer = world.cloudfront.get_distribution_config(Id=uncovered.id)["DistributionConfig"][
        "ViewerCertificate"
    ]
    assert viewer["IAMCertificateId"] == old["ServerCertificateId"], "the other one is left as it was"
    assert world.rotate("cdn")["status"] == "skipped", "held"


def test_a_ca_refusing_the_names_is_held_and_orders_nothing_more(world: World) -> None:
    world.seed("site", ["site.example.com", "blocked.example.com"], days_left=5)
    ca(world).forbid("blocked.example.com")  # the CA's policy (rejectedIdentifier at new-order)
    world.scan()
    [record] = world.receive()

    for _ in range(2):
        assert world.rotate_from_queue([record]) == {"batchItemFailures": []}
    assert world.scan()["enqueued"] == []

    names = ["site.example.com", "blocked.example.com"]
    assert ca(world).rejected(names) == 1, "one attempt, whatever the deliveries and scans"
    assert ca(world).orders(names) == 0 and ca(world).issued(names) == 0
    reason = world.tags("site")["certrotate:held-reason"]
    assert reason.startswith("CaRefused") and "rejectedIdentifier" in reason
    # The same names give the same refusal: held until an input changes (or force), not for a time.
    assert world.tags("site")["certrotate:held-until"].startswith("8999-")
    assert world.tags("site")["certrotate:held-inputs"]


def test_names_whose_weekly_limit_others_spent_are_held_until_the_cas_retry_after(world: World) -> None:
    world.seed("site", SITE, days_left=5)
    ca(world).issued_elsewhere(SITE, count=5)  # another ACME client (certbot on a server) renewed 5 times
    world.scan()
    [record] = world.receive()

    with pytest.raises(Exception, match="All records failed processing"):  # redelivered, as before
        world.rotate_from_queue([record])
    retry_after = datetime.fromisoformat(world.tags("site")["certrotate:retry-after"])
    assert timedelta(days=6.9) < retry_after - datetime.now(UTC) <= timedelta(days=7)
    assert world.rotate_from_queue([record]) == {"batchItemFailures": []}, "the redelivery orders nothing"
    assert world.rotate("site", force=True)["status"] == "skipped", "force cannot beat the CA's limit"
    scan = world.scan()
    assert scan["enqueued"] == [] and scan["held"][0]["permanent"] is False
    assert ca(world).refused(SITE) == 1 and ca(world).orders(SITE) == 0
