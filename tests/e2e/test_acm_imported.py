"""ACM imported certificates on pebble: found by the scan in every region looked at (DaysToExpiry under the
ARN), re-imported in place (the ARN, tags and the ALB listener untouched), a key type change refused before
ordering, and a crash right after the import converging on rerun without a second order. Orders are counted
by the CA-limit proxy in front of pebble (devstack/ca_limits.py)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from certrotate.adapters.aws import acm as acm_adapter
from certrotate.adapters.aws.acm import AcmCertificateStore
from certrotate.names import (
    KEY_TYPE_TAG,
    REIMPORT_OF_TAG,
    REPLACED_BY_TAG,
    ROLLED_BACK_AT_TAG,
    ROLLED_BACK_FROM_TAG,
    SERVED_SINCE_TAG,
)
from cryptography import x509

from devstack import fixtures, moto_fixes
from devstack.ca_limits import DuplicateCertificateLimit
from tests.e2e.conftest import SECOND_REGION, World
from tests.e2e.test_faults import Crash, crash_after, expire_leases, invoke_twice_at_once
from tests.e2e.test_observability import emitted, metric_values, received_events, subscribe_events

NAMES = ["shop.example.com", "www.shop.example.com"]


def ca(world: World) -> DuplicateCertificateLimit:
    assert world.stack.ca_limits is not None
    return world.stack.ca_limits


def acm_client(world: World, region: str | None = None) -> Any:
    return world.stack.client("acm", region)


def leaf(world: World, arn: str) -> x509.Certificate:
    body = acm_client(world).get_certificate(CertificateArn=arn)["Certificate"]
    return x509.load_pem_x509_certificate(body.encode())


def acm_tags(world: World, arn: str) -> dict[str, str]:
    tags = acm_client(world).list_tags_for_certificate(CertificateArn=arn)["Tags"]
    return {t["Key"]: t.get("Value", "") for t in tags}


def rotate_acm(world: World, arn: str, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = world.rotate_raw({"certificate_arn": arn, **fields})
    return result


def test_the_scan_queues_it_and_the_rotation_reimports_in_place(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    arn, old = fixtures.import_acm_certificate(acm_client(world), NAMES, 5, tags={"team": "shop"})
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, arn)
    # Unmanaged and in another region the stack looks at: reported, never queued.
    other, _ = fixtures.import_acm_certificate(
        acm_client(world, SECOND_REGION), ["o.example.org"], 3, managed=False
    )
    capfd.readouterr()

    scanned = world.scan()
    assert scanned["scanned"] == 2 and scanned["managed"] == 1
    assert scanned["expiring"] == [arn] and scanned["enqueued"] == [arn]
    assert 4.9 < scanned["days_to_expiry"][arn] <= 5 and 2.9 < scanned["days_to_expiry"][other] <= 3
    docs, _ = emitted(capfd.readouterr().out)
    days = {dims["CertificateName"]: value for dims, value in metric_values(docs, "DaysToExpiry")}
    assert set(days) == {arn, other}

    records = world.receive()
    assert [r["body"] for r in records] and all('"certificate_arn"' in r["body"] for r in records)
    assert world.rotate_from_queue(records) == {"batchItemFailures": []}

    assert ca(world).orders(NAMES) == 1
    new = leaf(world, arn)
    assert new.serial_number != x509.load_pem_x509_certificate(old.cert_pem.encode()).serial_number
    assert new.not_valid_after_utc > old.not_after
    described = acm_client(world).describe_certificate(CertificateArn=arn)["Certificate"]
    assert described["CertificateArn"] == arn and described["KeyAlgorithm"] == "RSA_2048"
    assert described["InUseBy"] == [listener.load_balancer_arn]
    assert world.listener_certificates(listener.listener_arn) == (arn, []), "the listener is untouched"
    tags = acm_tags(world, arn)
    assert tags["team"] == "shop" and tags["certrotate:managed"] == "true"
    assert REIMPORT_OF_TAG not in tags, "the progress tag is cleared once the import is done"
    assert world.txt_records() == [], "no DNS-01 record is left behind"

    # A second delivery, and the next scan: nothing is due any more, nothing is ordered.
    assert world.rotate_from_queue(records) == {"batchItemFailures": []}
    again = world.scan()
    assert again["expiring"] == [] and again["enqueued"] == []
    assert ca(world).orders(NAMES) == 1


def test_a_direct_rotation_reports_the_arn_and_a_dry_run_changes_nothing(world: World) -> None:
    arn, _ = fixtures.import_acm_certificate(acm_client(world), NAMES, 5)
    events_url = subscribe_events(world)
    before = acm_tags(world, arn), leaf(world, arn).serial_number
    planned = rotate_acm(world, arn, dry_run=True)
    assert planned["status"] == "planned" and planned["certificate_arn"] == arn
    assert any("re-import it in place" in step for step in planned["steps"])
    assert (acm_tags(world, arn), leaf(world, arn).serial_number) == before
    assert ca(world).orders(NAMES) == 0

    rotated = rotate_acm(world, arn)
    assert rotated["status"] == "rotated" and rotated["certificate_arn"] == arn
    assert rotated["serial"] == format(leaf(world, arn).serial_number, "x")
    assert rotate_acm(world, arn)["status"] == "skipped"
    assert ca(world).orders(NAMES) == 1
    events = received_events(world, events_url)
    assert [e["detail-type"] for e in events] == [
        "Certificate Rotation Started",
        "Certificate Rotation Succeeded",
    ]
    succeeded = events[1]["detail"]
    assert succeeded["certificate_arn"] == arn and succeeded["serial"] == rotated["serial"]
    assert succeeded["new_expiration"] == rotated["expiration"]
    assert succeeded["correlation_id"] == rotated["correlation_id"]


@pytest.mark.parametrize(
    "forged",
    [
        {REPLACED_BY_TAG: "someone-elses-certificate", SERVED_SINCE_TAG: "2026-01-01T00:00:00Z"},
        {ROLLED_BACK_FROM_TAG: "someone-elses-certificate", ROLLED_BACK_AT_TAG: "2026-01-01T00:00:00Z"},
    ],
    ids=["replaced-by", "rolled-back"],
)
def test_replacement_and_rollback_tags_on_an_acm_certificate_are_ignored(
    world: World, forged: dict[str, str]
) -> None:
    """Anyone allowed to tag can write IAM's bookkeeping on an ACM certificate; certrotate never does (it
    re-imports in place). Believed, every rotation skipped the certificate the scan sent, until it expired."""
    arn, _ = fixtures.import_acm_certificate(acm_client(world), NAMES, 5, tags=forged)

    scanned = world.scan()
    assert scanned["enqueued"] == [arn] and not scanned["held"]
    assert any(arn in note and "ignored" in note for note in scanned["notes"])
    rotated = rotate_acm(world, arn)

    assert rotated["status"] == "rotated" and rotated["serial"] == format(leaf(world, arn).serial_number, "x")
    assert ca(world).orders(NAMES) == 1


def test_a_key_type_change_is_refused_before_any_order_and_held(world: World) -> None:
    arn, old = fixtures.import_acm_certificate(acm_client(world), NAMES, 5, tags={KEY_TYPE_TAG: "ec256"})
    planned = rotate_acm(world, arn, dry_run=True)
    assert any(step.startswith("refuse before ordering") for step in planned["steps"])

    with pytest.raises(Exception, match="asks for another key than the certificate's RSA 2048"):
        rotate_acm(world, arn)
    assert ca(world).orders(NAMES) == 0, "refused before any order"
    assert (
        leaf(world, arn).serial_number == x509.load_pem_x509_certificate(old.cert_pem.encode()).serial_number
    )
    tags = acm_tags(world, arn)
    assert tags["certrotate:held-reason"].startswith("KeyChangeRefused")
    assert REIMPORT_OF_TAG not in tags, "refused before the progress tag"
    assert rotate_acm(world, arn)["status"] == "skipped", "held: a redelivery orders nothing"
    assert ca(world).orders(NAMES) == 0


def test_bad_input_is_refused_before_any_aws_call(world: World) -> None:
    calls = world.stack.calls.snapshot()
    with pytest.raises(Exception, match="certificate_arn must be an ACM certificate ARN"):
        rotate_acm(world, "arn:aws:acm:us-east-1:123:certificate/x")
    # Another account's certificate in a stack that manages one account: refused before asking ACM.
    elsewhere = "arn:aws:acm:us-east-1:210987654321:certificate/0f0e0d0c-0b0a-4999-8888-777766665555"
    with pytest.raises(Exception, match="is in account 210987654321, not this function's"):
        rotate_acm(world, elsewhere)
    assert world.stack.calls.snapshot() == calls
    with pytest.raises(Exception, match="not managed by certrotate"):
        rotate_acm(world, fixtures.import_acm_certificate(acm_client(world), NAMES, 5, managed=False)[0])


@pytest.mark.parametrize("force", [False, True])
def test_a_crash_right_after_the_import_converges_without_a_second_order(
    world: World, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    arn, old = fixtures.import_acm_certificate(acm_client(world), NAMES, 5)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, arn)
    old_serial = x509.load_pem_x509_certificate(old.cert_pem.encode()).serial_number
    crash_after(monkeypatch, AcmCertificateStore, "reimport")

    with pytest.raises(Crash):
        rotate_acm(world, arn)
    assert ca(world).orders(NAMES) == 1
    assert leaf(world, arn).serial_number != old_serial, "the import happened"
    assert acm_tags(world, arn)[REIMPORT_OF_TAG] == format(old_serial, "x"), "progress was recorded first"
    monkeypatch.undo()
    expire_leases(world)

    rerun = rotate_acm(world, arn, force=force)  # even forced: the import already happened
    assert rerun["status"] == "rotated" and "re-imported by an earlier run" in rerun["reason"]
    assert ca(world).orders(NAMES) == 1, "no second order"
    assert REIMPORT_OF_TAG not in acm_tags(world, arn)
    assert world.listener_certificates(listener.listener_arn) == (arn, [])
    again = rotate_acm(world, arn)
    assert again["status"] == "skipped", "reported once: the next delivery finds nothing due"
    assert ca(world).orders(NAMES) == 1


def test_a_refusal_by_acm_at_import_is_held_and_orders_nothing_more(world: World) -> None:
    arn, old = fixtures.import_acm_certificate(acm_client(world), NAMES, 5)
    world.stack.faults.inject(
        service="acm",
        action="ImportCertificate",
        code="ValidationException",
        status=400,
        times=1,
        message="The certificate field 'issuer' is not valid.",
    )
    with pytest.raises(Exception, match="ACM refused the re-import: The certificate field 'issuer'"):
        rotate_acm(world, arn)
    assert world.stack.faults.count("acm", "ImportCertificate") == 1
    assert ca(world).orders(NAMES) == 1
    assert (
        leaf(world, arn).serial_number == x509.load_pem_x509_certificate(old.cert_pem.encode()).serial_number
    )
    assert acm_tags(world, arn)["certrotate:held-reason"].startswith("AcmRefusedImport")
    assert rotate_acm(world, arn)["status"] == "skipped", "held: a redelivery orders nothing"
    assert ca(world).orders(NAMES) == 1


def test_of_two_simultaneous_rotations_one_orders(world: World) -> None:
    arn, _ = fixtures.import_acm_certificate(acm_client(world), NAMES, 5)
    outcomes = invoke_twice_at_once(world, {"certificate_arn": arn, "force": True})
    statuses = sorted(o["status"] if isinstance(o, dict) else "error" for o in outcomes)
    assert statuses in (["error", "rotated"], ["rotated", "skipped"]), outcomes
    assert all("in progress" in str(o) for o in outcomes if not isinstance(o, dict)), outcomes
    assert ca(world).orders(NAMES) == 1


def test_without_a_floor_the_lifetime_rule_decides_and_is_learnt_once(world: World) -> None:
    world.env.pop("RENEW_BEFORE_DAYS")
    acm = acm_client(world)
    now = dt.datetime.now(dt.UTC)

    def imported(names: list[str], lived: float, left: float) -> str:
        issued = fixtures.local_ca().issue(names, left, not_before=now - dt.timedelta(days=lived))
        arn: str = acm.import_certificate(
            Certificate=issued.cert_pem.encode(),
            PrivateKey=issued.key_pem.encode(),
            CertificateChain=issued.chain_pem.encode(),
            Tags=[{"Key": "certrotate:managed", "Value": "true"}],
        )["CertificateArn"]
        return arn

    # 80 days of life: due once a third is left (26.7 days), not with 60 days left.
    due = imported(["old.example.com"], lived=60, left=20)
    fresh = imported(["new.example.com"], lived=20, left=60)
    first = world.scan()
    assert first["expiring"] == [due] and first["enqueued"] == [due]
    assert acm_tags(world, due)["certrotate:renewal"].startswith("source=lifetime")
    assert acm_tags(world, fresh)["certrotate:renewal"].startswith("source=lifetime")

    world.stack.calls.reset()
    second = world.scan()
    assert second["expiring"] == [due]
    assert [r["body"] for r in world.receive()] == [
        json.dumps(
            {
                "certificate_arn": due,
                "reason": "expiring",
                "days_to_expiry": first["days_to_expiry"][due],
                "correlation_id": first["correlation_id"],
            }
        )
    ], "one message a day: the second scan's is deduplicated by SQS FIFO"
    assert ("acm", "GetCertificate") not in world.stack.calls.snapshot(), (
        "the renewal time is read from the tag"
    )


def test_with_the_templates_defaults_a_reimported_certificate_is_not_due_again(world: World) -> None:
    """The template ships no RENEW_BEFORE_DAYS: the renewal time the scan learnt decides. A re-import keeps
    the ARN and the tags, so the time learnt for the old certificate (already past) must not stay on the
    new one: a redelivery, a direct invocation and the next scans would order again, each time."""
    world.env.pop("RENEW_BEFORE_DAYS")
    now = dt.datetime.now(dt.UTC)
    issued = fixtures.local_ca().issue(NAMES, 20, not_before=now - dt.timedelta(days=60))
    arn: str = acm_client(world).import_certificate(
        Certificate=issued.cert_pem.encode(),
        PrivateKey=issued.key_pem.encode(),
        CertificateChain=issued.chain_pem.encode(),
        Tags=[{"Key": "certrotate:managed", "Value": "true"}],
    )["CertificateArn"]
    first = world.scan()  # 80 days of life, 20 left: due by the lifetime rule, learnt into the tag
    assert first["enqueued"] == [arn]
    assert acm_tags(world, arn)["certrotate:renewal"].startswith("source=lifetime")
    records = world.receive()
    assert world.rotate_from_queue(records) == {"batchItemFailures": []}
    assert ca(world).orders(NAMES) == 1
    assert "certrotate:renewal" not in acm_tags(world, arn), "the old certificate's renewal time is gone"

    assert world.rotate_from_queue(records) == {"batchItemFailures": []}, "a redelivery"
    assert rotate_acm(world, arn)["status"] == "skipped", "a plain direct invocation"
    for _ in range(2):
        scanned = world.scan()
        assert arn not in scanned["expiring"] and scanned["enqueued"] == []
    learnt = acm_tags(world, arn)["certrotate:renewal"]
    expires = leaf(world, arn).not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert learnt.endswith(f" for={expires}"), "learnt afresh, for the certificate ACM serves now"
    assert ca(world).orders(NAMES) == 1


def test_a_renewal_time_learnt_for_the_certificate_before_a_reimport_is_not_this_ones(world: World) -> None:
    """Should the old renewal time land on the new certificate all the same (a scan that read the old body
    writes it just after the re-import), it names the certificate it was learnt for and is not used."""
    world.env.pop("RENEW_BEFORE_DAYS")
    arn, old = fixtures.import_acm_certificate(acm_client(world), NAMES, 5)
    assert rotate_acm(world, arn, force=True)["status"] == "rotated"
    stale = (
        "source=lifetime start=2000-01-01T00:00:00Z end=2000-02-01T00:00:00Z at=2000-01-01T00:00:00Z "
        f"ask=2099-01-01T00:00:00Z for={old.not_after.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    acm_client(world).add_tags_to_certificate(
        CertificateArn=arn, Tags=[{"Key": "certrotate:renewal", "Value": stale}]
    )
    assert rotate_acm(world, arn)["status"] == "skipped"
    assert world.scan()["enqueued"] == []
    assert acm_tags(world, arn)["certrotate:renewal"] != stale, "the scan learnt the new one's"
    assert ca(world).orders(NAMES) == 1


@pytest.mark.parametrize("where", ["tag", "setting"])
def test_an_rsa_certificate_under_tlsserver_is_refused_before_any_order(world: World, where: str) -> None:
    """Let's Encrypt's `tlsserver` issues RSA certificates without keyEncipherment, which ACM keeps at a
    re-import (it lets only ECDSA drop it): ordering would spend a certificate that can never be imported."""
    tags = {"certrotate:profile": "tlsserver"} if where == "tag" else {}
    if where == "setting":
        world.env["ACME_PROFILE"] = "tlsserver"
    arn, old = fixtures.import_acm_certificate(
        acm_client(world), NAMES, 5, tags=tags, key_usages=("digital_signature", "key_encipherment")
    )
    planned = rotate_acm(world, arn, dry_run=True)
    assert any("refuse before ordering" in s and "without keyEncipherment" in s for s in planned["steps"])

    with pytest.raises(Exception, match="'tlsserver' issues RSA certificates without keyEncipherment"):
        rotate_acm(world, arn)
    assert ca(world).orders(NAMES) == 0, "refused before any order"
    tags_now = acm_tags(world, arn)
    assert tags_now["certrotate:held-reason"].startswith("ProfileDropsKeyUsage")
    assert REIMPORT_OF_TAG not in tags_now
    assert rotate_acm(world, arn)["status"] == "skipped", "held: a redelivery orders nothing"
    assert world.scan()["enqueued"] == []
    assert (
        leaf(world, arn).serial_number == x509.load_pem_x509_certificate(old.cert_pem.encode()).serial_number
    )
    assert ca(world).orders(NAMES) == 0


def test_a_deterministic_refusal_is_held_until_its_inputs_change_not_for_a_time(world: World) -> None:
    """The same key-type tag gives the same refusal: no hold window ends it (it would only be refused again),
    a changed tag does, and then nothing needs forcing."""
    arn, _ = fixtures.import_acm_certificate(acm_client(world), NAMES, 5, tags={KEY_TYPE_TAG: "ec256"})
    with pytest.raises(Exception, match="asks for another key"):
        rotate_acm(world, arn)
    tags = acm_tags(world, arn)
    assert tags["certrotate:held-until"].startswith("8999-"), "no end in time"
    assert tags["certrotate:held-inputs"] and tags["certrotate:failures"] == "1"
    skipped = rotate_acm(world, arn)
    assert skipped["status"] == "skipped" and "until its inputs change" in skipped["reason"]
    [held] = world.scan()["held"]
    assert held["certificate_arn"] == arn and held["permanent"] is True

    # The operator fixes the tag: the next scan sends it, and it rotates without force.
    acm_client(world).add_tags_to_certificate(
        CertificateArn=arn, Tags=[{"Key": KEY_TYPE_TAG, "Value": "rsa2048"}]
    )
    scanned = world.scan()
    assert scanned["enqueued"] == [arn] and scanned["held"] == []
    assert world.rotate_from_queue(world.receive()) == {"batchItemFailures": []}
    assert ca(world).orders(NAMES) == 1
    assert not {"certrotate:held-until", "certrotate:held-inputs"} & set(acm_tags(world, arn))


def held_until_passes(world: World, arn: str) -> None:
    """What a hold's end looks like to the next scan: its time is behind us (the tag, rewritten)."""
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    acm_client(world).add_tags_to_certificate(
        CertificateArn=arn, Tags=[{"Key": "certrotate:held-until", "Value": past}]
    )


def test_an_import_refused_for_the_yearly_quota_orders_once_in_all(world: World) -> None:
    """ACM counts imports over 365 days (5,000): a refused import is no reason to order again. The issued
    certificate is kept (encrypted) and imported at a later try; redeliveries and scans meanwhile order
    nothing, and neither does a try that meets the quota again."""
    arn, old = fixtures.import_acm_certificate(acm_client(world), NAMES, 5)
    moto_fixes.set_acm_import_quota(1)  # the import above used it up
    assert world.scan()["enqueued"] == [arn]
    records = world.receive()
    for _ in range(3):
        assert world.rotate_from_queue(records) == {"batchItemFailures": []}, "held, not redelivered"
    tags = acm_tags(world, arn)
    assert tags["certrotate:held-reason"].startswith("AcmImportQuotaReached")
    assert not tags["certrotate:held-inputs"], "time frees room: held for a time, not for its inputs"
    assert world.scan()["enqueued"] == []
    [kept] = world.table_items("#issued:")
    assert kept["certificate"]["S"] == f"#issued:{arn}"
    assert ca(world).orders(NAMES) == 1

    held_until_passes(world, arn)  # a day later, the quota still full: tried again with the kept one
    assert world.scan()["enqueued"] == [arn]  # (SQS FIFO drops the same day's message: deliver it again)
    assert world.rotate_from_queue(records) == {"batchItemFailures": []}
    assert acm_tags(world, arn)["certrotate:failures"] == "2"
    assert ca(world).orders(NAMES) == 1, "the kept certificate was tried: no new order"

    moto_fixes.set_acm_import_quota(5)  # raised (Service Quotas)
    held_until_passes(world, arn)
    assert world.scan()["enqueued"] == [arn]
    assert world.rotate_from_queue(records) == {"batchItemFailures": []}
    assert ca(world).orders(NAMES) == 1, "one order in all"
    assert (
        leaf(world, arn).serial_number != x509.load_pem_x509_certificate(old.cert_pem.encode()).serial_number
    )
    assert not {"certrotate:held-until", REIMPORT_OF_TAG} & set(acm_tags(world, arn))
    assert world.table_items("#issued:") == []


def test_acm_busy_beyond_the_retries_is_redelivered_and_the_kept_certificate_imported(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(acm_adapter, "IMPORT_FIRST_WAIT", 0.01)  # the backoff, shortened
    arn, _ = fixtures.import_acm_certificate(acm_client(world), NAMES, 5)
    world.scan()
    records = world.receive()
    world.stack.faults.inject(service="acm", action="ImportCertificate", code="ConflictException", times=5)
    with pytest.raises(Exception, match="All records failed processing"):  # transient: back to SQS
        world.rotate_from_queue(records)
    assert world.stack.faults.count("acm", "ImportCertificate") == 5, "retried, bounded"
    assert not {"certrotate:held-until"} & set(acm_tags(world, arn))
    assert world.rotate_from_queue(records) == {"batchItemFailures": []}
    assert ca(world).orders(NAMES) == 1, "the redelivery imported the kept certificate"


def test_a_crash_before_the_import_costs_no_second_order(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn, _ = fixtures.import_acm_certificate(acm_client(world), NAMES, 5)
    crash_after(monkeypatch, AcmCertificateStore, "reimport", before=True)
    with pytest.raises(Crash):
        rotate_acm(world, arn)
    monkeypatch.undo()
    expire_leases(world)
    assert rotate_acm(world, arn)["status"] == "rotated"
    assert ca(world).orders(NAMES) == 1
    assert world.table_items("#issued:") == []
