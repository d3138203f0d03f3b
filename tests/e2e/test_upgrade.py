"""Upgrading a running stack: the new code reads every state the previous release could leave in an
account.

The previous release is 0.2.0 (commit b8b6cc5). Each state below is seeded literally, as 0.2.0 wrote it: the
tag values, lease items and scan index were recorded from 0.2.0's own code on this devstack (a crash after
each step, a hold, a scan), and are written here by hand with their times made relative to now. None is
written by the current code's own writers (decide.naming.replacement_name, the leases adapter,
model.scan_index.encode, ...): a change of format breaks these tests instead of, silently, the upgrade.
docs/deploy.md, Upgrading, says what each test shows; a release that stops reading one of these states says so
there and in CHANGELOG.md.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack import fixtures
from tests.e2e.conftest import World
from tests.e2e.test_acm_imported import acm_client, ca, rotate_acm

PREVIOUS = "0.2.0"
NAMES = ["example.com", "www.example.com"]


@pytest.fixture(autouse=True)
def _seeded_replacements_are_ca_issued(world: World, tmp_path: Any) -> None:
    """0.2.0 uploaded replacements its CA issued; the replacements seeded here are issued by the devstack's
    local CA, so the trust roots hold that CA's root beside pebble's, as a deployment's trust roots hold the
    CA its replacements came from (0.3.0 checks a claimed replacement's chain before acting on it)."""
    bundle = tmp_path / "roots.pem"
    with open(world.env["ISSUER_TRUST_BUNDLE"], encoding="ascii") as roots:
        pebble_roots = roots.read()
    bundle.write_text(pebble_roots.rstrip() + "\n" + fixtures.local_ca().root_pem, encoding="ascii")
    world.env["ISSUER_TRUST_BUNDLE"] = str(bundle)


# --- 0.2.0's formats, written out ---------------------------------------------------------------------------


def v020_time(moment: datetime) -> str:
    """A time in a tag (held-until, retry-after, replacement-served-since): Python's isoformat of an aware UTC
    datetime, microseconds included, e.g. 2026-12-07T16:23:37.657727+00:00."""
    return moment.astimezone(UTC).isoformat()


def v020_renewal(source: str, start: datetime, end: datetime, at: datetime, ask: datetime) -> str:
    """certrotate:renewal, e.g. source=ari start=2027-01-10T00:00:00Z end=... at=... ask=... (no commas)."""

    def zulu(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return f"source={source} start={zulu(start)} end={zulu(end)} at={zulu(at)} ask={zulu(ask)}"


def v020_name_tag(name: str) -> str:
    """replaced-by and replaces: a certificate name, each ',' written as ':' (IAM tag values refuse ',')."""
    return name.replace(",", ":")


def v020_replacement_name(old_name: str, old_certificate_id: str) -> str:
    """The replacement's name: the old name without a -cr<8 hex> suffix, then -cr and 8 hex digits of the
    SHA-256 of the old certificate's ID (at most 128 characters)."""
    stem = re.sub(r"-cr[0-9a-f]{8}$", "", old_name)
    suffix = "-cr" + hashlib.sha256(old_certificate_id.encode()).hexdigest()[:8]
    return stem[: 128 - len(suffix)] + suffix


def v020_lease(world: World, key: str, *, expires: datetime) -> None:
    """A lease item as 0.2.0 wrote it (key = the certificate's name, `<account>:<name>` with many accounts,
    the ARN for ACM): a holder and a version that no run of the new code knows, the end in epoch seconds."""
    world.dynamodb.put_item(
        TableName=world.lease_table,
        Item={
            "certificate": {"S": key},
            "owner": {"S": str(uuid.uuid4())},
            "version": {"S": str(uuid.uuid4())},
            "expires_at": {"N": str(int(expires.timestamp()))},
            "acquired_at": {"S": v020_time(expires - timedelta(seconds=300))},
        },
    )


def v020_scan_index(world: World, entries: dict[str, dict[str, Any]], *, written: datetime) -> None:
    """The scan index item (key #scan-index; #scan-index:<account> with many accounts): zlib-compressed JSON,
    format 1, each certificate by its ID with the certrotate: tags as read, when (epoch seconds), and the
    facts read once from its body (not_before, ari_id)."""
    body = {"format": 1, "written_at": int(written.timestamp()), "certificates": entries}
    blob = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), level=9)
    world.dynamodb.put_item(
        TableName=world.lease_table, Item={"certificate": {"S": "#scan-index"}, "index": {"B": blob}}
    )


def tag(world: World, name: str, tags: dict[str, str]) -> None:
    world.iam.tag_server_certificate(
        ServerCertificateName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )


def now() -> datetime:
    return datetime.now(UTC)


# --- Rotations in flight under the previous release: the one place that says what happens to them ----------
# 0.2.0 recorded a rotation's progress in the certificates' tags alone: the replacement names what it replaces
# (certrotate:replaces), the old one names its replacement (certrotate:replaced-by) and, once every endpoint
# served the replacement, since when (certrotate:replacement-served-since). 0.3.0 moves and deletes nothing
# on a tag's word: it acts on its own progress record (`#progress:<lease key>` in the lease table), which
# 0.2.0 did not write. So a rotation 0.2.0 left in flight is reported (the scan's `untrusted`, `adoptable`),
# never acted on by a scan or an unforced rotation, and adopted by a forced rotation after the claim's checks
# (it names the old one back, is managed, covers every name, chains to the trust roots). The functions below
# state it, and docs/deploy.md, Upgrading, says the same: change both together.


def expect_in_flight_rotation_reported(scan: dict[str, Any], old: str, new: str) -> None:
    """The scan names the rotation 0.2.0 left, as adoptable, and acts on nothing it claims."""
    [report] = [r for r in scan["untrusted"] if r["certificate_name"] == old]
    assert report["claimed_replacement"] == new and report["adoptable"], report
    assert old not in scan["enqueued"] and old not in scan["retired"], scan


def expect_in_flight_rotation_finished(world: World, old: str, new: str, result: dict[str, Any]) -> None:
    """Adopted by a forced rotation: it repoints every endpoint to the replacement 0.2.0 uploaded, orders
    nothing, and retires the old certificate."""
    assert result["new_certificate_name"] == new
    assert any(step.startswith(f"adopted {new}") for step in result["steps"]), result["steps"]
    assert result["old_certificate_retired"] is True
    assert old not in world.certificates()


def expect_uploaded_replacement_adopted(world: World, old: str, new: str, result: dict[str, Any]) -> None:
    """Uploaded but not yet marked (0.2.0 died between the upload and tagging the old one): an unforced
    rotation leaves it (a certificate at the replacement's name proves nothing), a forced one adopts it,
    orders nothing, and finishes with it."""
    assert result["new_certificate_name"] == new
    assert result["old_certificate_retired"] is True
    assert ca(world).orders(NAMES) == 0


def expect_served_certificate_retired(world: World, old: str, scan: dict[str, Any]) -> None:
    """Served everywhere by its replacement for longer than the grace period: the scan reports it and keeps
    it; a forced rotation adopts it and starts the grace again (the scan then retires it)."""
    assert old in world.certificates()
    assert scan["retired"] == []


# --- the tests ----------------------------------------------------------------------------------------------


def test_a_rotation_left_between_upload_and_repointing_is_finished(world: World) -> None:
    old = world.seed("www,example,com", NAMES, days_left=12)  # a name with ",": the tags write it as ":"
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    new_name = v020_replacement_name("www,example,com", old["ServerCertificateId"])
    new = world.seed(
        new_name, NAMES, days_left=90, tags={"certrotate:replaces": v020_name_tag("www,example,com")}
    )
    tag(world, "www,example,com", {"certrotate:replaced-by": v020_name_tag(new_name)})
    v020_lease(world, "www,example,com", expires=now() - timedelta(seconds=1))  # the dead run's, expired

    scan = world.scan()
    expect_in_flight_rotation_reported(scan, "www,example,com", new_name)
    assert world.rotate("www,example,com")["status"] == "skipped"
    result = world.rotate("www,example,com", force=True)

    expect_in_flight_rotation_finished(world, "www,example,com", new_name, result)
    assert world.listener_certificates(listener.listener_arn) == (new["Arn"], [])
    assert ca(world).orders(NAMES) == 0


def test_a_replacement_uploaded_before_the_old_one_was_marked_is_adopted(world: World) -> None:
    old = world.seed("shop-example-com", NAMES, days_left=12)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    new_name = v020_replacement_name("shop-example-com", old["ServerCertificateId"])
    new = world.seed(new_name, NAMES, days_left=90, tags={"certrotate:replaces": "shop-example-com"})

    scan = world.scan()
    assert scan["enqueued"] == ["shop-example-com"]  # due, and nothing marks it replaced yet
    world.receive()
    assert world.rotate("shop-example-com")["status"] == "skipped"
    result = world.rotate("shop-example-com", force=True)

    expect_uploaded_replacement_adopted(world, "shop-example-com", new_name, result)
    assert world.listener_certificates(listener.listener_arn) == (new["Arn"], [])


def test_a_replaced_certificate_served_past_its_grace_is_retired(world: World) -> None:
    old = world.seed("api-example-com", ["api.example.com"], days_left=12)
    new_name = v020_replacement_name("api-example-com", old["ServerCertificateId"])
    new = world.seed(
        new_name, ["api.example.com"], days_left=90, tags={"certrotate:replaces": "api-example-com"}
    )
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, new["Arn"])  # repointed by 0.2.0
    tag(
        world,
        "api-example-com",
        {
            "certrotate:replaced-by": new_name,
            "certrotate:replacement-served-since": v020_time(now() - timedelta(hours=2)),
        },
    )

    scan = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="3600")

    expect_in_flight_rotation_reported(scan, "api-example-com", new_name)
    expect_served_certificate_retired(world, "api-example-com", scan)
    adopted = world.rotate("api-example-com", force=True)
    assert any(step.startswith(f"adopted {new_name}") for step in adopted["steps"]), adopted["steps"]
    assert "api-example-com" not in world.certificates()  # the world's grace is 0: retired in the same run
    assert new_name in world.certificates()


def test_holds_and_the_cas_retry_after_are_honoured(world: World) -> None:
    world.seed("held-example-com", ["held.example.com"], days_left=12)
    tag(
        world,
        "held-example-com",
        {
            "certrotate:held-until": v020_time(now() + timedelta(days=2)),
            "certrotate:held-reason": "ValidationFailed: the chain does not reach the trust roots",
            "certrotate:failures": "2",
        },
    )
    world.seed("limited-example-com", ["limited.example.com"], days_left=12)
    tag(world, "limited-example-com", {"certrotate:retry-after": v020_time(now() + timedelta(hours=3))})

    scan = world.scan()
    held = {entry["certificate_name"]: entry for entry in scan["held"]}
    assert set(held) == {"held-example-com", "limited-example-com"}
    assert scan["enqueued"] == [] and world.receive() == []
    assert held["held-example-com"]["permanent"] is True and held["held-example-com"]["failures"] == 2
    assert world.rotate("held-example-com")["status"] == "skipped"
    assert world.rotate("limited-example-com", force=True)["status"] == "skipped"  # the CA would refuse

    # A forced rotation overrides the operator's hold, and its success ends the run of failures.
    result = world.rotate("held-example-com", force=True)
    assert result["status"] == "rotated"
    assert ca(world).orders(["held.example.com"]) == 1


def test_the_renewal_time_learnt_from_the_ca_decides(world: World) -> None:
    window_start = now() - timedelta(days=1)
    world.seed("ari-due-example-com", ["due.example.com"], days_left=60)
    tag(
        world,
        "ari-due-example-com",
        {
            "certrotate:renewal": v020_renewal(
                "ari",
                window_start,
                window_start + timedelta(days=2),
                window_start,
                now() + timedelta(hours=6),
            )
        },
    )
    later = now() + timedelta(days=20)
    world.seed("ari-later-example-com", ["later.example.com"], days_left=60)
    tag(
        world,
        "ari-later-example-com",
        {
            "certrotate:renewal": v020_renewal(
                "ari", later, later + timedelta(days=2), later, now() + timedelta(hours=6)
            )
        },
    )

    scan = world.invoke("ScanFunction", {}, RENEW_BEFORE_DAYS="")  # no floor: only the learnt times decide

    assert scan["enqueued"] == ["ari-due-example-com"]


def test_the_operators_choices_stay_with_the_replacement(world: World) -> None:
    old = world.seed(
        "ec-example-com",
        ["ec.example.com"],
        days_left=12,
        tags={"certrotate:key-type": "ec256", "certrotate:challenge": "dns-01"},
    )
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])

    result = world.rotate("ec-example-com")

    assert result["status"] == "rotated"
    assert any("ECDSA P-256" in step for step in result["steps"])
    replacement = world.tags(result["new_certificate_name"])
    assert replacement["certrotate:key-type"] == "ec256" and replacement["certrotate:challenge"] == "dns-01"


def test_leases_written_by_the_previous_version(world: World) -> None:
    world.seed("busy-example-com", ["busy.example.com"], days_left=12)
    v020_lease(world, "busy-example-com", expires=now() + timedelta(seconds=240))  # a 0.2.0 run holds it
    world.seed("free-example-com", ["free.example.com"], days_left=12)
    v020_lease(world, "free-example-com", expires=now() - timedelta(seconds=1))  # left by a dead 0.2.0 run

    with pytest.raises(Exception, match="in progress"):
        world.rotate("busy-example-com")
    assert ca(world).orders(["busy.example.com"]) == 0
    assert world.rotate("free-example-com")["status"] == "rotated"


def test_the_scan_reads_the_index_the_previous_version_wrote(world: World) -> None:
    """The index is a cache: a release that drops a 0.2.0 index reads every tag once instead. This one reads
    it, which the count of managed certificates shows: the index says managed, the certificate (opted out
    since, and not due) is not read again."""
    opted_out = world.seed("quiet-example-com", ["quiet.example.com"], days_left=200, managed=False)
    written = now() - timedelta(days=1)
    v020_scan_index(
        world,
        {
            opted_out["ServerCertificateId"]: {
                "tags": {"certrotate:managed": "true"},
                "read_at": int(written.timestamp()),
                "not_before": int((now() - timedelta(hours=1)).timestamp()),
                "ari_id": None,
            }
        },
        written=written,
    )

    scan = world.scan()

    assert scan["managed"] == 1, "the 0.2.0 index was not read"
    assert scan["expiring"] == [] and scan["enqueued"] == []
    # The index's view is older than the opt-out: the renewal time is not written (the scan's policy writes
    # only on managed certificates), and that one refusal does not stop the scan.
    [refused] = [n for n in scan["notes"] if "renewal time not written" in n]
    assert refused.startswith("quiet-example-com: ") and "AccessDenied" in refused
    refreshed = world.scan(refresh_tags=True)
    assert refreshed["managed"] == 0


def test_an_acm_reimport_that_happened_before_the_upgrade_is_finished(world: World) -> None:
    # 0.2.0 tagged the serial it was replacing (lower-case hex), imported, and died before clearing the tag:
    # ACM serves the new certificate (another serial, its whole lifetime ahead) now.
    arn, _ = fixtures.import_acm_certificate(acm_client(world), ["shop.example.com"], 89)
    acm_client(world).add_tags_to_certificate(
        CertificateArn=arn, Tags=[{"Key": "certrotate:reimport-of", "Value": "0123456789abcdef0123"}]
    )

    result = rotate_acm(world, arn)

    # No record proves the tag: it is ignored and the certificate decided again (the new one is not due).
    assert result["status"] == "skipped", result
    assert ca(world).orders(["shop.example.com"]) == 0, "finished without a second order"


def test_an_http01_rule_left_by_a_dead_run_of_0_2_0_stays_and_is_reported(world: World) -> None:
    """0.2.0 recorded no rule before creating it: its tag is all that says the rule is certrotate's, and a tag
    is a claim anyone allowed elasticloadbalancing:AddTags can write. The rule stays (it answers one token's
    path for one host: harmless) and is reported for an operator to delete."""
    from devstack import dns as devstack_dns

    name = "shop.example.net"  # no Route 53 zone: HTTP-01 on the ALB
    world.seed("shop-example-net", [name], days_left=12)
    https = fixtures.create_alb_https_listener(
        world.elbv2, world.ec2, world.certificates()["shop-example-net"]["Arn"]
    )
    http = fixtures.create_alb_http_listener(world.elbv2, https.load_balancer_arn)
    dns_name = world.elbv2.describe_load_balancers(LoadBalancerArns=[https.load_balancer_arn])[
        "LoadBalancers"
    ][0]["DNSName"]
    devstack_dns.point_name_at(name, dns_name)
    token = "dGhlLXRva2VuLW9mLWEtZGVhZC1ydW4tb2YtMC4yLjA"
    left_by_0_2_0 = (
        world.elbv2.create_rule(  # as 0.2.0 created it: host, path, fixed 200, tagged <cert>/<token>
            ListenerArn=http,
            Priority=1,
            Conditions=[
                {"Field": "host-header", "HostHeaderConfig": {"Values": [name]}},
                {
                    "Field": "path-pattern",
                    "PathPatternConfig": {"Values": [f"/.well-known/acme-challenge/{token}"]},
                },
            ],
            Actions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "200",
                        "ContentType": "text/plain",
                        "MessageBody": token,
                    },
                }
            ],
            Tags=[{"Key": "certrotate:challenge", "Value": f"shop-example-net/{token}"}],
        )["Rules"][0]
    )

    result = world.rotate("shop-example-net")

    assert result["status"] == "rotated"
    left = [r for r in world.elbv2.describe_rules(ListenerArn=http)["Rules"] if not r["IsDefault"]]
    assert left == [left_by_0_2_0], "the rotation's own rule went; the unrecorded one stays"
    assert any(s.startswith(f"left in place rule {left_by_0_2_0['RuleArn']}") for s in result["steps"])
