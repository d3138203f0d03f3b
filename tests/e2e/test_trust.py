"""Trust only what can be proven (CONTRACT.md, "Trust"): a tag is a claim, a name needs an owner, the ACME
account key is never lost or printed, and one odd certificate never stops the others."""

from __future__ import annotations

import base64
import json
import re
import traceback
from typing import Any

import pytest
from certrotate.adapters.aws.acm import AcmCertificateStore
from certrotate.adapters.aws.iam import IamCertificateStore
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy import jwk as josepy_jwk

from devstack import fixtures
from devstack.ca_limits import DuplicateCertificateLimit
from tests.e2e.conftest import World
from tests.e2e.test_faults import Crash, crash_after, expire_leases
from tests.e2e.test_many_accounts import MEMBER_A, MEMBER_B, ZONE, fleet
from tests.e2e.test_observability import received_events, subscribe_events

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


# --- a tag is a claim: forged bookkeeping tags move and delete nothing ------------------------------------

PAST = "2020-01-01T00:00:00+00:00"


def _a_trusted_decoy(world: World, names: list[str]) -> str:
    """The strongest decoy someone allowed only to tag can find: a real replacement issued by the CA for the
    same names (another certificate's, rotated by certrotate), managed, chaining to the trust roots."""
    world.seed("twin", names, days_left=5)
    decoy = world.rotate("twin")["new_certificate_name"]
    assert decoy and decoy in world.certificates()
    return str(decoy)


def _forge(world: World, victim: str, decoy: str) -> None:
    """What iam:TagServerCertificate allows: the victim claims to be replaced by the decoy, served everywhere
    long ago, and the decoy claims to replace the victim."""
    world.iam.tag_server_certificate(
        ServerCertificateName=victim,
        Tags=[
            {"Key": "certrotate:replaced-by", "Value": decoy},
            {"Key": "certrotate:replacement-served-since", "Value": PAST},
        ],
    )
    world.iam.tag_server_certificate(
        ServerCertificateName=decoy, Tags=[{"Key": "certrotate:replaces", "Value": victim}]
    )


def _served(world: World, listener: Any) -> tuple[str | None, list[str]]:
    return world.listener_certificates(listener.listener_arn)


def test_a_forged_replaced_by_moves_and_deletes_nothing_through_scans_queued_and_direct_rotations(
    world: World,
) -> None:
    names = ["site.example.com", "www.site.example.com"]
    victim = world.seed("site", names, days_left=60)  # not due: nothing legitimate to do either
    decoy = _a_trusted_decoy(world, names)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, victim["Arn"])
    world.seed("unused", ["unused.example.com"], days_left=60)  # served nowhere: the old code deleted it
    world.seed("other", ["other.example.com"], days_left=60, managed=False)  # a weaker decoy
    _forge(world, "unused", "other")
    _forge(world, "site", decoy)
    before = (_served(world, listener), set(world.certificates()))

    for _ in range(2):
        scanned = world.scan()
        assert scanned["retired"] == [] and scanned["resumed"] == [], scanned
        assert scanned["pending_retirement"] == []
        assert sorted(u["certificate_name"] for u in scanned["untrusted"]) == ["site", "unused"]
        by_name = {u["certificate_name"]: u for u in scanned["untrusted"]}
        assert by_name["site"]["claimed_replacement"] == decoy and not by_name["site"]["adoptable"]
        # Every fact about the decoy holds (it names site back, is managed, covers it, chains): only
        # certrotate's own record can tell, and it does not name it.
        assert by_name["site"]["reason"] == "no progress record of certrotate's names it"
        assert "other is not managed" in by_name["unused"]["reason"]
    assert world.receive() == [], "no resume was queued on the tag's word"

    # A queued rotation (as the scan of the previous version would have sent) and direct ones.
    for name in ("site", "unused"):
        message = {"certificate_name": name, "reason": "resume"}
        world.sqs.send_message(
            QueueUrl=world.queue_url,
            MessageBody=json.dumps(message),
            MessageGroupId=name,
            MessageDeduplicationId=f"forged-{name}",
        )
    assert world.rotate_from_queue(world.receive()) == {"batchItemFailures": []}
    direct = world.rotate("site")
    assert direct["status"] == "skipped" and direct["new_certificate_name"] is None, direct
    assert any("ignored the claim" in step for step in direct["steps"])
    assert world.rotate("unused")["status"] == "skipped"

    assert (_served(world, listener), set(world.certificates())) == before, "nothing moved, nothing deleted"
    assert world.progress_records() == {}, "no rotation of site or unused recorded anything"

    # An operator's force renews the victim for real: the listener moves to certrotate's own replacement,
    # never to the decoy, and the decoy is left as it is.
    forced = world.rotate("site", force=True)
    assert forced["status"] == "rotated" and forced["new_certificate_name"] != decoy
    own = world.certificates()[forced["new_certificate_name"]]["Arn"]
    assert _served(world, listener) == (own, [])
    assert decoy in world.certificates() and world.tags(decoy)["certrotate:replaces"] == "site"
    assert "unused" in world.certificates() and "other" in world.certificates()


def _as_if_rotated_by_the_previous_version(world: World) -> None:
    """The previous version kept no progress record: its rotations in flight have tags only."""
    for key in world.progress_records():
        world.dynamodb.delete_item(TableName=world.lease_table, Key={"certificate": {"S": key}})


def test_a_rotation_in_flight_under_the_previous_version_is_reported_and_adopted_only_when_forced(
    world: World,
) -> None:
    old = world.seed("site", ["site.example.com"], days_left=5)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    rotated = world.invoke("RotateFunction", {"certificate_name": "site"}, RETIREMENT_GRACE_SECONDS="86400")
    replacement = rotated["new_certificate_name"]
    _as_if_rotated_by_the_previous_version(world)  # pending retirement, tags only

    scanned = world.scan()  # the grace is 0 again: the previous version would delete it now
    [report] = scanned["untrusted"]
    assert report["certificate_name"] == "site" and report["claimed_replacement"] == replacement
    assert report["adoptable"] and "force=true to adopt" in report["fix"]
    assert scanned["retired"] == [] and scanned["enqueued"] == [] and "site" in world.certificates()

    unforced = world.rotate("site")
    assert unforced["status"] == "skipped" and "force=true adopts it" in unforced["reason"]
    assert "site" in world.certificates()

    adopted = world.rotate("site", force=True)
    assert any(step.startswith(f"adopted {replacement}") for step in adopted["steps"]), adopted
    assert adopted["old_certificate_retired"] is True and "site" not in world.certificates()
    assert world.listener_certificates(listener.listener_arn)[0] == world.certificates()[replacement]["Arn"]


def test_an_upload_left_by_the_previous_version_before_it_repointed_is_adopted_only_when_forced(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = world.seed("site", ["site.example.com"], days_left=5)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    crash_after(monkeypatch, IamCertificateStore, "upload")
    with pytest.raises(Crash):
        world.rotate("site")
    monkeypatch.undo()
    expire_leases(world)
    _as_if_rotated_by_the_previous_version(world)  # uploaded at the replacement's name, nothing else
    [uploaded] = [n for n in world.certificates() if n.startswith("site-cr")]

    scanned = world.scan()
    assert scanned["enqueued"] == ["site"]  # no tag claims anything: it is due
    assert world.rotate_from_queue(world.receive()) == {"batchItemFailures": []}
    assert world.listener_certificates(listener.listener_arn)[0] == old["Arn"], "not moved on a name"
    skipped = world.rotate("site")
    assert skipped["status"] == "skipped" and "force=true adopts it" in skipped["reason"]

    adopted = world.rotate("site", force=True)
    assert adopted["new_certificate_name"] == uploaded
    assert world.listener_certificates(listener.listener_arn)[0] == world.certificates()[uploaded]["Arn"]
    assert [n for n in world.certificates() if n.startswith("site-cr")] == [uploaded], "nothing ordered"


def test_force_on_a_queue_message_is_never_honoured(world: World, capfd: pytest.CaptureFixture[str]) -> None:
    """Anyone who may send to the queue could ask for `force`: to adopt an upload at the replacement's name
    that no record of certrotate's proves (served on every listener without any ELB right), or to order
    what is not due until the CA's limits stop real renewals. Only a direct invocation forces."""
    old = world.seed("site", ["site.example.com"], days_left=5)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    world.invoke("RotateFunction", {"certificate_name": "site"}, RETIREMENT_GRACE_SECONDS="86400")
    _as_if_rotated_by_the_previous_version(world)  # an unproven replacement, adoptable only by force
    world.seed("calm", ["calm.example.com"], days_left=60)  # not due
    orders = world.stack.ca_limits.orders if world.stack.ca_limits else None
    capfd.readouterr()

    for name in ("site", "calm"):
        world.sqs.send_message(
            QueueUrl=world.queue_url,
            MessageBody=json.dumps({"certificate_name": name, "force": True}),
            MessageGroupId=name,
            MessageDeduplicationId=f"forced-{name}",
        )
    assert world.rotate_from_queue(world.receive()) == {"batchItemFailures": []}

    assert world.progress_records() == {}, "not adopted: adoption records what it adopts"
    assert "site" in world.certificates(), "not retired"
    assert [n for n in world.certificates() if n.startswith("calm-cr")] == [], "nothing ordered"
    if orders is not None:
        assert orders(["calm.example.com"]) == 0
    assert capfd.readouterr().out.count("force ignored on a queue message") == 2
    # The operator's own way still works.
    adopted = world.rotate("site", force=True)
    assert adopted["old_certificate_retired"] is True


def test_a_forged_reimport_of_on_an_acm_certificate_clears_and_reports_nothing(world: World) -> None:
    """The ACM bookkeeping tag: certrotate:reimport-of beside another serial used to mean "an earlier run
    imported; finish": clear the hold and report a success. Forged on a held certificate, it would lift the
    hold (and its order budget) and report a rotation that never happened."""
    acm = world.stack.client("acm")
    held_until = "2099-01-01T00:00:00+00:00"
    hold = {"certrotate:held-until": held_until, "certrotate:failures": "2", "certrotate:held-reason": "x"}
    arn, _ = fixtures.import_acm_certificate(acm, ["shop.example.com"], 5, tags=hold)
    acm.add_tags_to_certificate(
        CertificateArn=arn, Tags=[{"Key": "certrotate:reimport-of", "Value": "0badc0de"}]
    )
    events = subscribe_events(world)
    serial = acm.describe_certificate(CertificateArn=arn)["Certificate"]["Serial"]

    direct = world.rotate_raw({"certificate_arn": arn})
    message = {"certificate_arn": arn, "reason": "expiring"}
    world.sqs.send_message(
        QueueUrl=world.queue_url,
        MessageBody=json.dumps(message),
        MessageGroupId="acm",
        MessageDeduplicationId="x",
    )
    queued = world.rotate_from_queue(world.receive())

    assert direct["status"] == "skipped" and direct["held_until"] == held_until, direct
    assert any("ignored the claim that serial 0badc0de" in step for step in direct["steps"])
    assert queued == {"batchItemFailures": []}
    tags = {t["Key"]: t.get("Value") for t in acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]}
    assert tags["certrotate:held-until"] == held_until and tags["certrotate:failures"] == "2", "hold kept"
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Serial"] == serial, "not re-imported"
    detail_types = [e["detail-type"] for e in received_events(world, events)]
    assert "Certificate Rotation Succeeded" not in detail_types


def test_an_acm_reimport_that_died_before_its_clean_up_is_finished_on_its_record(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    acm = world.stack.client("acm")
    arn, _ = fixtures.import_acm_certificate(acm, ["shop.example.com"], 5)
    crash_after(monkeypatch, AcmCertificateStore, "reimport")
    with pytest.raises(Crash):
        world.rotate_raw({"certificate_arn": arn})
    monkeypatch.undo()
    expire_leases(world)
    assert len(world.progress_records()) == 1, "the import's proof was written before it"

    rerun = world.rotate_raw({"certificate_arn": arn, "force": True})

    assert rerun["status"] == "rotated" and rerun["reason"].startswith("re-imported by an earlier run")
    assert world.progress_records() == {}, "finished: its record is gone with the tag"
    tags = {t["Key"] for t in acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]}
    assert "certrotate:reimport-of" not in tags


# --- the ACME account secret is sacred, and never printed ---------------------------------------------------


def _b64url_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode().rstrip("=")


def _ec_jwk() -> tuple[dict[str, str], list[str]]:
    """A private EC JWK and the forms its private number can be printed in."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(josepy_jwk.JWKEC(key=key).json_dumps())
    d = key.private_numbers().private_value
    return jwk, [jwk["d"], str(d), format(d, "x")]


def _rsa_jwk() -> tuple[dict[str, str], list[str]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(josepy_jwk.JWKRSA(key=key).json_dumps())
    numbers = key.private_numbers()
    secrets = [jwk[m] for m in ("d", "p", "q", "dp", "dq", "qi")]
    return jwk, secrets + [str(n) for n in (numbers.d, numbers.p, numbers.q)] + [format(numbers.d, "x")]


def _pem(key: Any) -> tuple[str, list[str]]:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    d = key.private_numbers().private_value if hasattr(key.private_numbers(), "private_value") else 0
    # Any 24 characters of the base64 body are key material; so are the private number's digits.
    return pem, [body[i : i + 24] for i in range(0, len(body) - 24, 24)] + ([str(d)] if d else [])


def _malformed_secrets() -> list[tuple[str, str, list[str]]]:
    """(case, secret string, key material that must appear nowhere)."""
    cases: list[tuple[str, str, list[str]]] = []
    jwk, numbers = _ec_jwk()
    cases.append(
        ("EC JWK with a lower-case kty", json.dumps({"key": json.dumps({**jwk, "kty": "ec"})}), numbers)
    )
    jwk, numbers = _rsa_jwk()
    cases.append(
        ("RSA JWK with a lower-case kty", json.dumps({"key": json.dumps({**jwk, "kty": "rsa"})}), numbers)
    )
    jwk, numbers = _ec_jwk()
    no_y = {k: v for k, v in jwk.items() if k != "y"}
    cases.append(("EC JWK without y", json.dumps({"key": json.dumps(no_y)}), numbers))
    jwk, numbers = _ec_jwk()
    cases.append(
        ("EC JWK with a short d", json.dumps({"key": json.dumps({**jwk, "d": jwk["d"][:-4]})}), numbers)
    )
    jwk, numbers = _ec_jwk()
    cases.append(("a bare JWK (another format)", json.dumps(jwk), numbers))
    jwk, numbers = _ec_jwk()
    cases.append(("truncated JSON", json.dumps({"key": json.dumps(jwk)})[:-5], numbers))
    pem, material = _pem(ec.generate_private_key(ec.SECP256R1()))
    cases.append(("a PEM private key", pem, material))
    pem, material = _pem(ec.generate_private_key(ec.SECP256R1()))
    cases.append(("a PEM key in place of the JWK", json.dumps({"key": pem}), material))
    pem, material = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    broken = pem.replace(pem.splitlines()[3], pem.splitlines()[3][:-7] + "!!!!!!!")
    cases.append(("a corrupted PEM key", json.dumps({"key": broken}), material))
    return cases


MALFORMED = _malformed_secrets()


@pytest.mark.parametrize(("case", "secret", "material"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_a_malformed_account_secret_is_kept_the_rotation_fails_clearly_and_no_key_material_appears(
    world: World, capfd: pytest.CaptureFixture[str], case: str, secret: str, material: list[str]
) -> None:
    secret_id = world.env["ACME_ACCOUNT_SECRET_ID"]
    version = world.secrets.create_secret(Name=secret_id, SecretString=secret)["VersionId"]
    world.seed("site", ["site.example.com"], days_left=5)
    events = subscribe_events(world)
    capfd.readouterr()

    outputs: list[str] = []
    with pytest.raises(Exception) as direct:  # a direct invocation: the Lambda error
        world.rotate("site")
    outputs += [str(direct.value), "".join(traceback.format_exception(direct.value))]
    world.scan()
    with pytest.raises(Exception) as batch:  # from the queue: a batch item failure, redelivered
        world.rotate_from_queue(world.receive())
    outputs += [str(batch.value), "".join(traceback.format_exception(batch.value))]
    # Powertools' batch error carries each record's exception with its traceback, chain included.
    outputs += [str(getattr(batch.value, "child_exceptions", ""))]
    outputs += [
        "".join(traceback.format_exception(*exc_info))
        for exc_info in getattr(batch.value, "child_exceptions", [])
        if exc_info and exc_info[1] is not None
    ]
    printed = capfd.readouterr()
    outputs += [printed.out, printed.err]  # every log line and EMF metric document
    failures = [
        e for e in received_events(world, events) if e["detail-type"] == "Certificate Rotation Failed"
    ]
    outputs += [json.dumps(e) for e in failures]

    everything = "\n".join(outputs)
    leaked = [m for m in material if m in everything]
    assert leaked == [], f"{case}: key material in the output"
    message = str(direct.value)
    assert f"the ACME account secret {secret_id!r} holds" in message and "ordered nothing" in message, message
    assert "\n" not in message and len(failures) == 2
    assert all(e["detail"]["error"] == "AccountSecretUnreadable" for e in failures)
    current = world.secrets.get_secret_value(SecretId=secret_id)
    assert current["SecretString"] == secret and current["VersionId"] == version, "the secret is kept"
    assert _ca(world).order_accounts() == set() and _ca(world).accounts_created() == 0, "nothing ordered"
    print(printed.out, end="")  # back to the autouse check of key markers
