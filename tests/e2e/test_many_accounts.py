"""Many accounts from one place (MANAGED_ACCOUNTS): a central account runs the functions; member account A
has the member role, member account B does not, and a third account's Route 53 answers DNS-01 for both."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from devstack import fixtures
from tests.e2e.conftest import World
from tests.e2e.test_observability import emitted, metric_values, received_events, subscribe_events

CENTRAL = "123456789012"  # moto's default account: the functions' own
MEMBER_A = "111111111111"  # the member role is deployed
MEMBER_B = "222222222222"  # no member role: every call there is AccessDenied
DNS = "333333333333"  # the shared DNS account
ZONE = "fleet.example.net"
ROLE = "certrotate-member"
ADMIN = "OrganizationAccountAccessRole"  # what Organizations creates: the tests' own way in


def _clients(world: World, account: str) -> Any:
    """boto3 clients in `account`, through the role an organisation's administrators use."""
    credentials = world.stack.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ADMIN}", RoleSessionName="test-setup"
    )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=world.stack.region,
    )
    return lambda service: session.client(service, endpoint_url=world.stack.endpoint_url)


@pytest.fixture
def fleet(world: World) -> tuple[World, Any, Any, Any]:
    for account in (MEMBER_A, MEMBER_B, DNS):
        fixtures.deploy_role(account, ADMIN, CENTRAL)
    # member-role.yaml as deployed: both roles in A, the Route 53-only role in the DNS account, none in B.
    world.stack.iam.deploy_member(MEMBER_A, "managed")
    world.stack.iam.deploy_member(DNS, "dns-only")
    a, b, dns = (_clients(world, account) for account in (MEMBER_A, MEMBER_B, DNS))
    fixtures.create_hosted_zone(dns("route53"), ZONE)
    # DNS-01 in the shared DNS account: each member needs its ACCOUNT_DOMAINS entry (else none is renewed).
    world.env |= {
        "MANAGED_ACCOUNTS": f"{MEMBER_A},{MEMBER_B}",
        "DNS_ACCOUNTS": f"*={DNS}",
        "ACCOUNT_DOMAINS": f"{MEMBER_A}={ZONE},{MEMBER_B}={ZONE}",
    }
    return world, a, b, dns


def test_scan_walks_every_account_and_reports_the_one_it_cannot_reach(
    fleet: tuple[World, Any, Any, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    world, a, b, _ = fleet
    fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=10)
    fixtures.seed_certificate(a("iam"), "fresh", [f"f.{ZONE}"], days_left=80)
    fixtures.seed_certificate(b("iam"), "web", [f"b.{ZONE}"], days_left=10)
    world.seed("central-only", ["c.example.com"], days_left=10)  # the central account is not in the list

    result = world.scan()

    assert result["expiring"] == [f"{MEMBER_A}:web"]
    assert result["enqueued"] == [f"{MEMBER_A}:web"]
    assert result["scanned"] == 2
    assert set(result["days_to_expiry"]) == {f"{MEMBER_A}:web", f"{MEMBER_A}:fresh"}
    metrics, _ = emitted(capfd.readouterr().out)
    per_certificate = metric_values(metrics, "DaysToExpiry")
    assert sorted((d["AccountId"], d["CertificateName"]) for d, _ in per_certificate) == [
        (MEMBER_A, "fresh"),
        (MEMBER_A, "web"),
    ]
    assert [v for _, v in metric_values(metrics, "AccountsNotScanned")] == [1.0]
    [failed] = result["failed_accounts"]
    assert failed["account_id"] == MEMBER_B
    assert failed["error"] == "AccessDenied"
    assert "member-role.yaml" in failed["fix"] and MEMBER_B in failed["fix"]
    [record] = world.receive()
    body = json.loads(record["body"])
    assert body["account_id"] == MEMBER_A and body["certificate_name"] == "web"
    assert record["attributes"]["MessageGroupId"] == f"{MEMBER_A}:web"


def test_the_own_account_listed_is_scanned_with_the_functions_own_credentials(
    fleet: tuple[World, Any, Any, Any],
) -> None:
    world, a, _, _ = fleet
    fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=10)
    world.seed("web", ["c.example.com"], days_left=10)  # one name in two accounts: two certificates

    result = world.invoke("ScanFunction", {}, MANAGED_ACCOUNTS=f"{CENTRAL},{MEMBER_A}")

    assert result["enqueued"] == [f"{CENTRAL}:web", f"{MEMBER_A}:web"], "in MANAGED_ACCOUNTS order"
    assert result["failed_accounts"] == []
    groups = sorted(r["attributes"]["MessageGroupId"] for r in world.receive())
    assert groups == [f"{MEMBER_A}:web", f"{CENTRAL}:web"]


def test_rotation_from_the_queue_works_in_the_member_account_with_dns_in_another(
    fleet: tuple[World, Any, Any, Any],
) -> None:
    world, a, _, dns = fleet
    old = fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=10)
    listener = fixtures.create_alb_https_listener(a("elbv2"), a("ec2"), old["Arn"])
    world.scan()

    response = world.rotate_from_queue(world.receive())

    assert response == {"batchItemFailures": []}
    in_a = {
        c["ServerCertificateName"]: c
        for c in a("iam").list_server_certificates()["ServerCertificateMetadataList"]
    }
    [new_name] = [n for n in in_a if n.startswith("web-cr")]
    assert "web" not in in_a, "the old certificate is retired in the member account"
    assert world.certificates() == {}, "nothing was uploaded to the central account"
    [default] = [
        c["CertificateArn"]
        for c in a("elbv2").describe_listener_certificates(ListenerArn=listener.listener_arn)["Certificates"]
        if c.get("IsDefault")
    ]
    assert default == in_a[new_name]["Arn"]
    [zone] = dns("route53").list_hosted_zones()["HostedZones"]
    records = dns("route53").list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    assert [r for r in records if r["Type"] == "TXT"] == [], "DNS-01 records are removed from the DNS account"
    assert world.leases() == [], "the central lease is released"


def test_a_queued_rotation_in_an_account_without_the_role_fails_and_says_so(
    fleet: tuple[World, Any, Any, Any],
) -> None:
    world, _, b, _ = fleet
    fixtures.seed_certificate(b("iam"), "web", [f"b.{ZONE}"], days_left=10)
    events = subscribe_events(world)
    message = {"certificate_name": "web", "account_id": MEMBER_B, "reason": "expiring"}
    world.sqs.send_message(
        QueueUrl=world.queue_url,
        MessageBody=json.dumps(message),
        MessageGroupId=f"{MEMBER_B}:web",
        MessageDeduplicationId="b-web",
    )
    [record] = world.receive()

    with pytest.raises(Exception, match="All records failed processing"):  # the batch goes back to SQS
        world.rotate_from_queue([record])
    [failed] = [
        e["detail"]
        for e in received_events(world, events)
        if e["detail-type"] == "Certificate Rotation Failed"
    ]
    assert failed["account_id"] == MEMBER_B and failed["error"] == "AccountUnreachable"
    assert "member-role.yaml" in failed["fix"]
    assert [
        c["ServerCertificateName"]
        for c in b("iam").list_server_certificates()["ServerCertificateMetadataList"]
    ] == ["web"]


def test_direct_rotation_names_the_account(fleet: tuple[World, Any, Any, Any]) -> None:
    world, a, _, _ = fleet
    fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=80)

    planned = world.rotate("web", account_id=MEMBER_A, dry_run=True, force=True)
    assert planned["account_id"] == MEMBER_A and planned["status"] == "planned"

    with pytest.raises(Exception, match=f"account {MEMBER_B}: cannot assume .*member-role.yaml"):
        world.rotate("web", account_id=MEMBER_B)
    with pytest.raises(Exception, match="444444444444 is not in MANAGED_ACCOUNTS"):
        world.rotate("web", account_id="444444444444")
    with pytest.raises(Exception, match="account_id must be a 12-digit AWS account id"):
        world.rotate("web", account_id="12345")


def test_a_later_scan_retires_the_replaced_certificate_in_the_member_account(
    fleet: tuple[World, Any, Any, Any],
) -> None:
    world, a, _, _ = fleet
    old = fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=10)
    listener = fixtures.create_alb_https_listener(a("elbv2"), a("ec2"), old["Arn"])
    world.scan()
    # A day's grace: the rotation leaves the old certificate pending retirement.
    world.invoke("RotateFunction", {"Records": world.receive()}, RETIREMENT_GRACE_SECONDS="86400")
    assert world.scan(dry_run=True)["pending_retirement"] == [f"{MEMBER_A}:web"]

    result = world.scan()  # the grace is 0 again: nothing serves the old certificate any more

    assert result["retired"] == [f"{MEMBER_A}:web"]
    names = [
        c["ServerCertificateName"]
        for c in a("iam").list_server_certificates()["ServerCertificateMetadataList"]
    ]
    [new_name] = names
    assert new_name.startswith("web-cr")
    served = a("elbv2").describe_listener_certificates(ListenerArn=listener.listener_arn)["Certificates"]
    assert [c["CertificateArn"].rsplit("/", 1)[-1] for c in served] == [new_name]


def test_an_acm_imported_certificate_in_a_member_account_is_reimported_there(
    fleet: tuple[World, Any, Any, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    world, a, _, dns = fleet
    names = [f"acm.{ZONE}"]
    arn, old = fixtures.import_acm_certificate(a("acm"), names, 5)
    capfd.readouterr()

    scanned = world.scan()

    # Scan entries name the account; the metric's dimension is the ARN, with the account beside it.
    assert scanned["enqueued"] == [f"{MEMBER_A}:{arn}"]
    metrics, _ = emitted(capfd.readouterr().out)
    assert (MEMBER_A, arn) in [
        (d["AccountId"], d["CertificateName"]) for d, _ in metric_values(metrics, "DaysToExpiry")
    ]
    [record] = world.receive()
    body = json.loads(record["body"])
    assert body["account_id"] == MEMBER_A and body["certificate_arn"] == arn

    assert world.rotate_from_queue([record]) == {"batchItemFailures": []}

    described = a("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    assert described["CertificateArn"] == arn and described["NotAfter"] > old.not_after, "in place"
    assert world.stack.client("acm").list_certificates()["CertificateSummaryList"] == [], (
        "nothing was imported into the central account"
    )
    [zone] = dns("route53").list_hosted_zones()["HostedZones"]
    records = dns("route53").list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    assert [r for r in records if r["Type"] == "TXT"] == [], "DNS-01 records removed"
    assert world.leases() == []
