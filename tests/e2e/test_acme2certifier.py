"""End to end on acme2certifier: the local CA that serves ARI (renewalInfo), profiles and EAB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from certrotate.check.certificates import ari_certificate_id
from certrotate.model import scan_index
from cryptography import x509

from devstack import fixtures
from devstack.acme2certifier import EAB_KID, Acme2Certifier
from devstack.stack import LocalStack, start_dns_on_port_53
from tests.e2e.conftest import World


@pytest.fixture(scope="session")
def a2c(stack: LocalStack) -> Iterator[Acme2Certifier]:
    """acme2certifier beside the session's pebble, validating DNS-01 against the same fake Route 53."""
    dns = start_dns_on_port_53()
    try:
        with Acme2Certifier(dns_address=dns.address) as ca:
            yield ca
    finally:
        dns.stop()


@pytest.fixture
def a2c_world(world: World, a2c: Acme2Certifier) -> Iterator[World]:
    a2c.reconfigure(renewal_force=False, eab_required=False)
    world.env.update(
        ACME_DIRECTORY_URL=a2c.directory_url,
        REQUESTS_CA_BUNDLE=a2c.tls_ca_path,
        ISSUER_TRUST_BUNDLE=a2c.issuer_roots_path,
        ACME_ACCOUNT_SECRET_ID="certrotate/acme-account-a2c",
    )
    yield world


def leaf_of(world: World, name: str) -> x509.Certificate:
    body = world.iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
    return x509.load_pem_x509_certificate(body["CertificateBody"].encode())


def test_a_rotation_is_issued_by_acme2certifier(a2c_world: World, a2c: Acme2Certifier) -> None:
    a2c_world.seed("site", ["site.example.com", "www.site.example.com"], days_left=5)
    result: dict[str, Any] = a2c_world.rotate("site")
    assert result["status"] == "rotated"
    leaf = leaf_of(a2c_world, result["new_certificate_name"])
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 89 <= lifetime.days <= 90  # the `classic` profile


RENEWAL_TAG = "certrotate:renewal"  # spelled out, as the contract's names are in devstack.fixtures


def issued_by_a2c(world: World) -> str:
    """A managed certificate that acme2certifier issued (ARI answers only for its own certificates)."""
    world.seed("site", ["site.example.com"], days_left=5)
    return str(world.rotate("site")["new_certificate_name"])


def expire_the_ask(world: World, name: str) -> None:
    """What Retry-After's passing looks like to the next scan: the kept answer's `ask` time is behind us, on
    the certificate's tag and in the scan index (which keeps the latest answer of a certificate not due)."""

    def expired(value: str) -> str:
        fields = dict(part.split("=", 1) for part in value.split())
        fields["ask"] = "2000-01-01T00:00:00Z"
        return " ".join(f"{k}={v}" for k, v in fields.items())

    world.iam.tag_server_certificate(
        ServerCertificateName=name,
        Tags=[{"Key": RENEWAL_TAG, "Value": expired(world.tags(name)[RENEWAL_TAG])}],
    )
    certificate_id = world.certificates()[name]["ServerCertificateId"]
    [item] = world.scan_index_items()
    entries = scan_index.decode(item["index"]["B"])
    entry = entries[certificate_id]
    entries[certificate_id] = replace(
        entry, tags={**entry.tags, RENEWAL_TAG: expired(entry.tags[RENEWAL_TAG])}
    )
    world.dynamodb.put_item(
        TableName=world.lease_table,
        Item={**item, "index": {"B": scan_index.encode(entries, datetime.now(UTC))}},
    )


def test_a_window_still_ahead_rotates_nothing_and_the_ca_is_asked_once_per_retry_after(
    a2c_world: World, a2c: Acme2Certifier
) -> None:
    name = issued_by_a2c(a2c_world)
    a2c_world.env["RENEW_BEFORE_DAYS"] = "1"  # the floor alone would say "not yet" for 89 days
    before = a2c.renewal_info_gets()
    first = a2c_world.scan()
    assert name not in first["expiring"] and first["enqueued"] == []
    assert a2c.renewal_info_gets() == before + 1
    kept = a2c_world.tags(name)[RENEWAL_TAG]
    assert kept.startswith("source=ari ") and "," not in kept and len(kept) <= 256
    for _ in range(2):  # within Retry-After: the tag answers, the CA is not asked
        assert a2c_world.scan()["enqueued"] == []
    assert a2c.renewal_info_gets() == before + 1


def test_a_window_moved_into_the_past_rotates_at_the_next_scan_after_retry_after(
    a2c_world: World, a2c: Acme2Certifier
) -> None:
    name = issued_by_a2c(a2c_world)
    a2c_world.env["RENEW_BEFORE_DAYS"] = "1"
    assert a2c_world.scan()["enqueued"] == []
    a2c.reconfigure(renewal_force=True)  # the CA must revoke: "renew now"
    a2c.explain("https://ca.example/incidents/42")
    assert a2c_world.scan()["enqueued"] == [], "not asked again before Retry-After"
    expire_the_ask(a2c_world, name)
    orders = a2c.orders_placed()
    a2c_world.stack.calls.reset()
    scan = a2c_world.scan()
    assert scan["enqueued"] == [name], "the floor says 'not yet' (89 days left); the CA's window decides"
    # Not due by its kept tags: read afresh once the CA's answer made it due, before it was sent.
    assert a2c_world.stack.calls.count("iam", "ListServerCertificateTags") == 1
    assert any(
        "the CA asks for renewal now" in note and "https://ca.example/incidents/42" in note
        for note in scan["notes"]
    )
    result = a2c_world.rotate_from_queue(a2c_world.receive())
    assert result == {"batchItemFailures": []}
    assert a2c.orders_placed() == orders + 1
    assert name not in a2c_world.certificates(), "replaced and retired (no grace in these tests)"
    assert any(n.startswith("site-cr") and n != name for n in a2c_world.certificates())


def test_an_unknown_profile_is_refused_before_any_order(a2c_world: World, a2c: Acme2Certifier) -> None:
    a2c_world.seed("site", ["site.example.com"], days_left=5, tags={"certrotate:profile": "premium"})
    orders = a2c.orders_placed()
    with pytest.raises(
        Exception, match=r"offers no profile 'premium' \(profiles offered: classic, shortlived\)"
    ):
        a2c_world.rotate("site")
    assert a2c.orders_placed() == orders
    assert set(a2c_world.certificates()) == {"site"}


def test_a_shortlived_certificate_gets_a_renewal_time_inside_its_window(
    a2c_world: World, a2c: Acme2Certifier
) -> None:
    a2c_world.env.pop("RENEW_BEFORE_DAYS")  # the default: the CA's window alone
    a2c_world.seed("site", ["site.example.com"], days_left=5, tags={"certrotate:profile": "shortlived"})
    name = a2c_world.rotate("site", force=True)["new_certificate_name"]
    assert a2c_world.tags(name)["certrotate:profile"] == "shortlived", "the choice stays with the certificate"
    leaf = leaf_of(a2c_world, name)
    assert round((leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() / 86400) == 6

    scan = a2c_world.scan()
    assert scan["enqueued"] == [] and scan["expiring"] == []
    fields = dict(part.split("=", 1) for part in a2c_world.tags(name)[RENEWAL_TAG].split())
    renew_at = datetime.fromisoformat(fields["at"])
    ask = datetime.fromisoformat(fields["ask"])
    assert fields["source"] == "ari"
    # acme2certifier opens the window two thirds into the life: day 4 of 6, until expiry.
    assert leaf.not_valid_before_utc + timedelta(days=3.9) <= renew_at <= leaf.not_valid_after_utc
    assert ask <= datetime.now(UTC) + timedelta(days=1), "asked again within a day (Retry-After, clamped)"


def test_an_account_is_registered_with_external_account_binding(
    a2c_world: World, a2c: Acme2Certifier
) -> None:
    a2c.reconfigure(eab_required=True)
    a2c_world.seed("site", ["site.example.com"], days_left=5)

    # Without the keys: a clear error before any order, and no account secret written.
    orders = a2c.orders_placed()
    with pytest.raises(Exception, match="requires External Account Binding: set ACME_EAB_SECRET_ID"):
        a2c_world.rotate("site")
    assert a2c.orders_placed() == orders
    secrets = [s["Name"] for s in a2c_world.secrets.list_secrets()["SecretList"]]
    assert not [name for name in secrets if "acme-account" in name], "no account registered"

    a2c_world.secrets.create_secret(
        Name="certrotate/eab", SecretString=json.dumps({"kid": EAB_KID, "hmac_key": a2c.eab_hmac_key})
    )
    a2c_world.env["ACME_EAB_SECRET_ID"] = "certrotate/eab"
    assert a2c_world.rotate("site")["status"] == "rotated"


def test_doctor_finds_the_eab_secret_a_ca_requires(
    a2c_world: World, a2c: Acme2Certifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """doctor as the operator (operator-policy.yaml: DescribeSecret on the stack's EAB secret only), and the
    rotate role simulated for reading it (checks() with the EAB secret)."""
    from tests.e2e.test_cli import Cli, deploy

    a2c.reconfigure(eab_required=True)
    a2c_world.secrets.create_secret(
        Name="certrotate/eab", SecretString=json.dumps({"kid": EAB_KID, "hmac_key": a2c.eab_hmac_key})
    )
    a2c_world.env["ACME_EAB_SECRET_ID"] = "certrotate/eab"
    cli = Cli(a2c_world, None, monkeypatch)  # type: ignore[arg-type]
    deploy(a2c_world)

    code, text = cli("doctor", "--no-caa", "--no-color")

    assert code == 0, text
    assert "✓ ca           External Account Binding: required, and its secret exists" in text
    assert "✓ permissions  the RotateFunction role may make all" in text


def test_a_renewal_names_the_certificate_it_replaces(a2c_world: World, a2c: Acme2Certifier) -> None:
    name = issued_by_a2c(a2c_world)
    old = leaf_of(a2c_world, name)
    sent = len(a2c.replaces_sent())
    assert a2c_world.rotate(name, force=True)["status"] == "rotated"
    assert a2c.replaces_sent()[sent:] == [ari_certificate_id(old)]


@pytest.mark.parametrize(("problem", "status"), [("alreadyReplaced", 409), ("unauthorized", 403)])
def test_a_refused_replaces_is_ordered_again_without_it(
    a2c_world: World, a2c: Acme2Certifier, problem: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    name = issued_by_a2c(a2c_world)
    old = leaf_of(a2c_world, name)
    a2c.refuse_replaces(problem, status)
    sent = len(a2c.replaces_sent())
    assert a2c_world.rotate(name, force=True)["status"] == "rotated"
    assert a2c.replaces_sent()[sent:] == [ari_certificate_id(old), None]
    assert "the CA refused `replaces`: ordering without it" in caplog.text


def test_when_the_ca_has_no_window_for_a_certificate_the_lifetime_rule_decides(
    a2c_world: World, a2c: Acme2Certifier
) -> None:
    a2c_world.env.pop("RENEW_BEFORE_DAYS")
    a2c_world.seed("elsewhere", ["elsewhere.example.com"], days_left=60)  # issued by another CA
    before = a2c.renewal_info_gets()
    assert a2c_world.scan()["enqueued"] == []
    assert a2c.renewal_info_gets() == before + 1
    fields = dict(part.split("=", 1) for part in a2c_world.tags("elsewhere")[RENEWAL_TAG].split())
    assert fields["source"] == "lifetime"
    ask = datetime.fromisoformat(fields["ask"])
    # Asked again later (RFC 9773's default of 6 hours when the CA names no Retry-After), not at every scan.
    assert datetime.now(UTC) + timedelta(hours=5) < ask <= datetime.now(UTC) + timedelta(days=1)
    assert a2c_world.scan()["enqueued"] == []
    assert a2c.renewal_info_gets() == before + 1


def test_the_acm_scan_keeps_the_time_it_picked_in_the_same_window(
    a2c_world: World, a2c: Acme2Certifier
) -> None:
    """The ACM scan learns renewal times with the IAM scan's code: a window asked again is the same window,
    so the random point picked in it stays (RFC 9773 section 4.2). A copy that re-draws the point at every
    ask skews renewals towards the window's start."""
    acm = a2c_world.stack.client("acm")
    arn, _ = fixtures.import_acm_certificate(acm, ["site.example.com"], 5)
    assert a2c_world.rotate_raw({"certificate_arn": arn})["status"] == "rotated"  # now a2c's certificate
    a2c_world.env["RENEW_BEFORE_DAYS"] = "1"  # the CA's window decides, 89 days ahead

    def renewal() -> dict[str, str]:
        tags = acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
        value = next(t["Value"] for t in tags if t["Key"] == RENEWAL_TAG)
        return dict(part.split("=", 1) for part in value.split())

    before = a2c.renewal_info_gets()
    assert a2c_world.scan()["enqueued"] == []
    first = renewal()
    assert first["source"] == "ari" and datetime.fromisoformat(first["start"]) > datetime.now(UTC)
    for _ in range(3):  # Retry-After passes and the CA is asked again: the same window each time
        expired = {**renewal(), "ask": "2000-01-01T00:00:00Z"}
        acm.add_tags_to_certificate(
            CertificateArn=arn,
            Tags=[{"Key": RENEWAL_TAG, "Value": " ".join(f"{k}={v}" for k, v in expired.items())}],
        )
        assert a2c_world.scan()["enqueued"] == []
        again = renewal()
        assert (again["start"], again["end"]) == (first["start"], first["end"])
        assert again["at"] == first["at"], "the point picked in the window stays"
        assert again["ask"] != "2000-01-01T00:00:00Z", "when to ask again is kept on the tag"
    assert a2c.renewal_info_gets() == before + 4


def test_the_renewal_info_recheck_acts_on_a_moved_window_from_the_index_alone(
    a2c_world: World, a2c: Acme2Certifier
) -> None:
    """`{"renewal_info_only": true}` (the hourly schedule): from the scan index alone, the CA is asked about
    the certificates whose Retry-After has passed, and a window moved into the past is sent at once, O(due)
    AWS calls and none to IAM: no listing, no tag read or write, no search (the index keeps where the last
    search saw it served). Each rotation asks the CA itself; one for a certificate deleted since the index was
    written costs a message, never an order."""
    world = a2c_world
    world.seed("site", ["site.example.com"], days_left=5)
    listener = fixtures.create_alb_https_listener(
        world.elbv2, world.ec2, world.certificates()["site"]["Arn"], name="recheck"
    )
    name = str(world.rotate("site")["new_certificate_name"])  # issued by acme2certifier, on the listener
    world.seed("spare", ["spare.example.com"], days_left=5)
    spare = str(world.rotate("spare")["new_certificate_name"])  # issued by it too
    spare_arn = world.certificates()[spare]["Arn"]
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, spare_arn, name="spare")
    world.env["RENEW_BEFORE_DAYS"] = "1"
    world.seed(
        "other", ["other.example.com"], days_left=0.5
    )  # due: the scan searches and keeps the endpoints
    assert world.scan()["enqueued"] == ["other"]
    world.receive()
    a2c.reconfigure(renewal_force=True)  # the CA must revoke: every window in the past
    expire_the_ask(world, name)
    expire_the_ask(world, spare)
    world.iam.delete_server_certificate(ServerCertificateName=spare)  # gone since the index was written
    asked = a2c.renewal_info_gets()
    world.stack.calls.reset()

    result = world.scan(renewal_info_only=True)

    assert result["renewal_info_only"] is True
    assert sorted(result["enqueued"]) == sorted([name, spare])
    assert a2c.renewal_info_gets() == asked + 2, "only the two whose Retry-After has passed"
    assert world.stack.calls.snapshot() == {
        ("dynamodb", "GetItem"): 1,  # the index
        ("sqs", "SendMessageBatch"): 1,
        ("dynamodb", "PutItem"): 1,  # the answers and when to ask again
    }
    records = {json.loads(r["body"])["certificate_name"]: r for r in world.receive()}
    body = json.loads(records[name]["body"])
    assert body["ask_ca"] is True and "endpoints" not in body, "sent before (without) a search"

    orders, asked = a2c.orders_placed(), a2c.renewal_info_gets()
    assert world.rotate_from_queue([records[name], records[spare]]) == {"batchItemFailures": []}
    assert a2c.orders_placed() == orders + 1, "the deleted one: nothing to rotate, nothing ordered"
    assert a2c.renewal_info_gets() == asked + 1, "the rotation asked the CA itself"
    [renewed] = [n for n in world.certificates() if n.startswith("site-cr") and n != name]
    assert world.listener_certificates(listener.listener_arn)[0] == world.certificates()[renewed]["Arn"]


def test_a_rotation_that_asks_the_ca_orders_only_when_the_ca_says_so(
    a2c_world: World, a2c: Acme2Certifier
) -> None:
    """`ask_ca` in a message is a claim: the CA's window, asked by the rotation, decides."""
    world = a2c_world
    name = issued_by_a2c(world)
    world.env["RENEW_BEFORE_DAYS"] = "1"
    message = {"certificate_name": name, "reason": "renewal-info", "ask_ca": True}
    world.sqs.send_message(
        QueueUrl=world.queue_url,
        MessageBody=json.dumps(message),
        MessageGroupId=name,
        MessageDeduplicationId="1",
    )
    orders, asked = a2c.orders_placed(), a2c.renewal_info_gets()
    assert world.rotate_from_queue(world.receive()) == {"batchItemFailures": []}
    assert a2c.renewal_info_gets() == asked + 1 and a2c.orders_placed() == orders, (
        "not due: the window is ahead"
    )
    assert name in world.certificates()

    a2c.reconfigure(renewal_force=True)
    world.sqs.send_message(
        QueueUrl=world.queue_url,
        MessageBody=json.dumps(message),
        MessageGroupId=name,
        MessageDeduplicationId="2",
    )
    assert world.rotate_from_queue(world.receive()) == {"batchItemFailures": []}
    assert a2c.orders_placed() == orders + 1
    assert name not in world.certificates(), "replaced and retired (no grace in these tests)"


def test_the_renewal_info_recheck_without_an_index_leaves_it_to_the_scan(
    a2c_world: World, a2c: Acme2Certifier
) -> None:
    world = a2c_world
    world.seed("site", ["site.example.com"], days_left=5)
    world.stack.calls.reset()
    result = world.scan(renewal_info_only=True)
    assert result["enqueued"] == [] and result["notes"] == ["no scan index: the scheduled scan decides"]
    assert world.stack.calls.snapshot() == {("dynamodb", "GetItem"): 1}
