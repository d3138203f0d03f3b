"""The main story: a scan finds an expiring managed certificate, the rotation replaces it through ACME
(pebble, DNS-01 in Route 53) and the ALB listener serves the replacement."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from certrotate.check.certificates import dns_names_of, facts_of
from cryptography import x509

from devstack import fixtures
from tests.e2e.conftest import World

NAMES = ["example.com", "*.example.com", "www.example.com"]
MANAGED = "certrotate:managed"


def test_scan_reports_and_enqueues_expiring_managed_certificates(world: World) -> None:
    world.seed("expiring", ["a.example.com"], days_left=10)
    world.seed("fresh", ["b.example.com"], days_left=80)
    world.seed("unmanaged-expiring", ["c.example.com"], days_left=5, managed=False)

    result = world.scan()

    assert result["scanned"] == 3
    assert result["expiring"] == ["expiring"]
    assert result["enqueued"] == ["expiring"]
    assert set(result["days_to_expiry"]) == {"expiring", "fresh", "unmanaged-expiring"}
    assert 9.9 < result["days_to_expiry"]["expiring"] <= 10
    records = world.receive()
    assert [r["attributes"]["MessageGroupId"] for r in records] == ["expiring"]
    assert '"certificate_name": "expiring"' in records[0]["body"]

    again = world.scan()  # a second scan the same day: SQS deduplicates the message
    assert again["enqueued"] == ["expiring"]
    assert world.receive() == []


def test_scan_dry_run_sends_nothing(world: World) -> None:
    world.seed("expiring", ["a.example.com"], days_left=10)
    before = world.snapshot()
    result = world.scan(dry_run=True)
    assert result["expiring"] == ["expiring"] and result["enqueued"] == []
    assert world.snapshot() == before


def test_expiring_certificate_is_rotated_end_to_end_on_an_alb(world: World) -> None:
    old = world.seed("www-example-com", NAMES, days_left=10, path="/web/")
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])

    scan = world.scan()
    assert scan["enqueued"] == ["www-example-com"]
    response = world.rotate_from_queue(world.receive())
    assert response == {"batchItemFailures": []}

    certificates = world.certificates()
    assert "www-example-com" not in certificates, "the old certificate is retired (grace 0, unused)"
    [new_name] = [n for n in certificates if n.startswith("www-example-com-cr")]
    new = world.iam.get_server_certificate(ServerCertificateName=new_name)["ServerCertificate"]
    meta = new["ServerCertificateMetadata"]
    assert meta["Path"] == "/web/"
    assert world.tags(new_name)[MANAGED] == "true"
    assert world.tags(new_name)["certrotate:replaces"] == "www-example-com"

    leaf = x509.load_pem_x509_certificate(new["CertificateBody"].encode())
    assert set(dns_names_of(leaf)) >= set(NAMES)
    assert facts_of(new["CertificateBody"]).key == facts_of(old["CertificateBody"]).key
    chain = x509.load_pem_x509_certificates(new["CertificateChain"].encode())
    roots = x509.load_pem_x509_certificates(Path(world.stack.issuer_trust_bundle).read_bytes())
    leaf.verify_directly_issued_by(chain[0])
    assert any(chain[-1].issuer == root.subject for root in roots)
    assert leaf.not_valid_after_utc > datetime.now(UTC)

    assert world.listener_certificates(listener.listener_arn) == (meta["Arn"], [])
    assert world.txt_records() == [], "DNS-01 records are removed"


def test_direct_rotation_result_and_a_second_delivery(world: World) -> None:
    world.seed("api", ["api.example.com"], days_left=5, key="ec256")
    first = world.rotate("api")
    assert first["status"] == "rotated"
    assert first["certificate_name"] == "api"
    assert first["new_certificate_name"].startswith("api-cr")
    assert (
        facts_of(
            world.iam.get_server_certificate(ServerCertificateName=first["new_certificate_name"])[
                "ServerCertificate"
            ]["CertificateBody"]
        ).key.kind.value
        == "EC"
    )

    # The old one was deleted: by name it is unknown now, and a queued duplicate is a quiet success.
    with pytest.raises(Exception, match="no IAM server certificate is named 'api'"):
        world.rotate("api")
    body = '{"certificate_name": "api"}'
    record = {
        "messageId": "m1",
        "receiptHandle": "r",
        "body": body,
        "attributes": {
            "MessageGroupId": "api",
            "ApproximateReceiveCount": "2",
            "SentTimestamp": "0",
            "SenderId": "x",
            "ApproximateFirstReceiveTimestamp": "0",
            "MessageDeduplicationId": "d",
            "SequenceNumber": "1",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rotation.fifo",
        "awsRegion": "us-east-1",
    }
    assert world.rotate_from_queue([record]) == {"batchItemFailures": []}
    assert len([n for n in world.certificates() if n.startswith("api")]) == 1


def test_not_due_is_skipped_and_force_rotates(world: World) -> None:
    world.seed("calm", ["calm.example.com"], days_left=80)
    before = world.snapshot()
    skipped = world.rotate("calm")
    assert skipped["status"] == "skipped" and skipped["new_certificate_name"] is None
    assert world.snapshot() == before
    forced = world.rotate("calm", force=True)
    assert forced["status"] == "rotated"


def test_dry_run_plans_and_changes_nothing(world: World) -> None:
    old = world.seed("plan-me", ["plan.example.com"], days_left=3)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    before = world.snapshot()
    planned = world.rotate("plan-me", dry_run=True)
    assert planned["status"] == "planned"
    assert planned["new_certificate_name"] is None
    assert any("set-default" in step for step in planned["steps"])
    assert world.snapshot() == before, "not even the ACME account secret is created"


def test_a_dry_run_with_the_templates_defaults_names_the_staging_roots(world: World) -> None:
    # template.yaml's defaults: Let's Encrypt staging, IssuerTrustBundle empty. A dry run places no order.
    world.seed("plan-me", ["plan.example.com"], days_left=3)
    staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
    planned = world.invoke(
        "RotateFunction",
        {"certificate_name": "plan-me", "dry_run": True},
        ACME_DIRECTORY_URL=staging,
        ISSUER_TRUST_BUNDLE="",
    )
    assert "validate its chain to the built-in Let's Encrypt staging roots" in planned["steps"]
    production = world.invoke(
        "RotateFunction",
        {"certificate_name": "plan-me", "dry_run": True},
        ACME_DIRECTORY_URL="https://acme-v02.api.letsencrypt.org/directory",
        ISSUER_TRUST_BUNDLE="",
    )
    assert "validate its chain to certifi's roots" in production["steps"]


def test_replaced_is_final_even_when_forced(world: World) -> None:
    world.seed("keep", ["keep.example.com"], days_left=5)
    first = world.invoke("RotateFunction", {"certificate_name": "keep"}, RETIREMENT_GRACE_SECONDS="3600")
    assert first["status"] == "rotated"
    count = len(world.certificates())
    again = world.invoke(
        "RotateFunction", {"certificate_name": "keep", "force": True}, RETIREMENT_GRACE_SECONDS="3600"
    )
    assert again["status"] == "skipped"
    assert again["new_certificate_name"] == first["new_certificate_name"]
    assert len(world.certificates()) == count
    scan = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="3600")
    assert "keep" in scan["pending_retirement"] and "keep" not in scan["expiring"]


def test_a_certificate_named_with_commas_rotates_repoints_and_retires(world: World) -> None:
    # IAM names may hold ",", IAM tag values may not (the devstack refuses them as IAM does): the tags that
    # relate the two certificates must still be written, and read back to the right names.
    old = world.seed("www,example,com", ["www.example.com"], days_left=7)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])

    result = world.invoke(
        "RotateFunction", {"certificate_name": "www,example,com"}, RETIREMENT_GRACE_SECONDS="3600"
    )

    assert result["status"] == "rotated"
    new_name = result["new_certificate_name"]
    assert new_name.startswith("www,example,com-cr")
    new_arn = world.certificates()[new_name]["Arn"]
    assert world.listener_certificates(listener.listener_arn) == (new_arn, [])
    assert any("validated chain (to ISSUER_TRUST_BUNDLE" in step for step in result["steps"])

    # A rerun and a scan read the tags back as the names they stand for.
    again = world.invoke(
        "RotateFunction",
        {"certificate_name": "www,example,com", "force": True},
        RETIREMENT_GRACE_SECONDS="3600",
    )
    assert (again["status"], again["new_certificate_name"]) == ("skipped", new_name)
    during = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="3600")
    assert during["pending_retirement"] == ["www,example,com"] and during["expiring"] == []
    assert world.tags("www,example,com")["certrotate:replaced-by"] == new_name.replace(",", ":")
    assert world.tags(new_name)["certrotate:replaces"] == "www:example:com"

    after = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="0")
    assert after["retired"] == ["www,example,com"]
    assert set(world.certificates()) == {new_name}
    assert world.rotate(new_name)["status"] == "skipped", "the replacement is managed and not due"
