"""The `_acme-challenge` TXT record sets are shared: another ACME client, a person, or a rotation of another
certificate with the same name may hold values there. A rotation adds its values beside theirs and removes
only its own; two rotations that share a name both succeed at the same moment."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from certrotate.adapters.aws.route53 import Route53Challenges
from certrotate.order.challenges import Dns01Responder
from cryptography.hazmat.primitives.asymmetric import ec
from josepy import jwk

from devstack import dns as devstack_dns
from devstack import fixtures, moto_fixes
from tests.e2e.conftest import World
from tests.e2e.test_faults import Crash, crash_after, expire_leases

FOREIGN = '"someone-elses-dns-01-answer"'
FOREIGN_TTL = 3600


def txt_set(world: World, name: str) -> tuple[int, list[str]] | None:
    for found in world.txt_records():
        if found["Name"] == name + ".":
            return found["TTL"], sorted(r["Value"] for r in found["ResourceRecords"])
    return None


def put_foreign(world: World, name: str, values: list[str], ttl: int = FOREIGN_TTL) -> None:
    fixtures.create_record_set(world.route53, world.zone_id, name, "TXT", values, ttl)


def observe_publish(monkeypatch: pytest.MonkeyPatch, world: World, name: str) -> list[dict[str, Any]]:
    """What Route 53 and public DNS hold at `name` the moment a rotation's values are published (INSYNC)."""
    seen: list[dict[str, Any]] = []
    original = Route53Challenges.publish

    def publish(self: Route53Challenges, records: Any, *, deadline: float) -> None:
        original(self, records, deadline=deadline)
        ours = sorted(f'"{v}"' for r in records if r.name == name for v in r.values)
        seen.append(
            {"ours": ours, "route53": txt_set(world, name), "dns": sorted(devstack_dns.txt_records(name))}
        )

    monkeypatch.setattr(Route53Challenges, "publish", publish)
    return seen


@pytest.mark.parametrize(
    ("names", "challenge"),
    [
        (["www.example.com"], "_acme-challenge.www.example.com"),
        (["example.com", "*.example.com"], "_acme-challenge.example.com"),  # two values of ours in one set
    ],
    ids=["one-name", "apex-and-wildcard"],
)
def test_a_foreign_value_stands_before_during_and_after(
    world: World, monkeypatch: pytest.MonkeyPatch, names: list[str], challenge: str
) -> None:
    world.seed("site", names, days_left=5)
    put_foreign(world, challenge, [FOREIGN, '"a person\'s note"'])
    before = txt_set(world, challenge)
    seen = observe_publish(monkeypatch, world, challenge)

    result = world.rotate("site")

    assert result["status"] == "rotated"
    [during] = seen
    assert len(during["ours"]) == len(names)
    assert during["route53"] == (FOREIGN_TTL, sorted([FOREIGN, '"a person\'s note"', *during["ours"]]))
    # Public DNS (what the CA asked) served every value; ours were among them.
    served = sorted(strings[0] for _ttl, strings in during["dns"])
    assert served == sorted(v.strip('"') for v in during["route53"][1])
    assert txt_set(world, challenge) == before, "the foreign values and their TTL are untouched"


def store_account_key(world: World) -> None:
    """The account key exists, as in any deployment that has rotated before (the first registration is not
    what this file tests)."""
    key = jwk.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    world.secrets.create_secret(
        Name=world.env["ACME_ACCOUNT_SECRET_ID"],
        SecretString=json.dumps({"key": key.json_dumps(), "accounts": {}}),
    )


def test_two_rotations_sharing_a_name_both_succeed_at_the_same_moment(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An ALB certificate and a CloudFront one for www.example.com, due the same day: the scan queues them in
    # two message groups, and two containers run them at once.
    alb_cert = world.seed("www-alb", ["www.example.com"], days_left=5)
    cdn_cert = world.seed(
        "www-cdn", ["www.example.com", "static.example.com"], days_left=5, path="/cloudfront/"
    )
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, alb_cert["Arn"])
    distribution = fixtures.create_cloudfront_distribution(world.cloudfront, cdn_cert["ServerCertificateId"])
    put_foreign(world, "_acme-challenge.www.example.com", [FOREIGN])
    store_account_key(world)
    world.scan()
    records = world.receive()
    assert sorted(json.loads(r["body"])["certificate_name"] for r in records) == ["www-alb", "www-cdn"]
    assert len({r["attributes"]["MessageGroupId"] for r in records}) == 2

    # Changes stay PENDING for a few polls, and neither answers its challenge before both have published.
    moto_fixes.set_route53_pending_polls(3)
    both_published = threading.Barrier(2, timeout=60)
    at_the_barrier: list[tuple[int, list[str]] | None] = []
    original = Dns01Responder.publish

    # Each rotation's values INSYNC, published alone or in one batch with the other's (order/dns_batching.py).
    def publish(self: Dns01Responder, plan: Any, answers: Any, *, deadline: float) -> None:
        original(self, plan, answers, deadline=deadline)
        both_published.wait()
        at_the_barrier.append(txt_set(world, "_acme-challenge.www.example.com"))

    monkeypatch.setattr(Dns01Responder, "publish", publish)
    outcomes = world.invoke_together(
        [{"Records": [record]} for record in records], on_error=both_published.abort
    )

    assert outcomes == [{"batchItemFailures": []}] * 2, outcomes
    # At the barrier the set held the foreign value and one value of each rotation.
    assert len(at_the_barrier) == 2
    ttl, values = at_the_barrier[0]  # type: ignore[misc]
    assert ttl == FOREIGN_TTL and FOREIGN in values and len(values) == 3, at_the_barrier
    certificates = world.certificates()
    [new_alb] = [n for n in certificates if n.startswith("www-alb-cr")]
    [new_cdn] = [n for n in certificates if n.startswith("www-cdn-cr")]
    assert world.listener_certificates(listener.listener_arn) == (certificates[new_alb]["Arn"], [])
    config = world.cloudfront.get_distribution_config(Id=distribution.id)["DistributionConfig"]
    assert config["ViewerCertificate"]["IAMCertificateId"] == certificates[new_cdn]["ServerCertificateId"]
    assert certificates[new_cdn]["Path"] == "/cloudfront/"
    assert [(s["Name"], s["TTL"], s["ResourceRecords"]) for s in world.txt_records()] == [
        ("_acme-challenge.www.example.com.", FOREIGN_TTL, [{"Value": FOREIGN}])
    ], "no value of either rotation is left; the foreign one stands"


@pytest.mark.parametrize("reruns", [1, 2])
def test_a_crash_right_after_publishing_then_reruns_leave_no_value_of_ours_and_the_foreign_one_stands(
    world: World, monkeypatch: pytest.MonkeyPatch, reruns: int
) -> None:
    """A value is ours if we wrote down that we were publishing it before we did (the lease table's
    `#challenges:<certificate>`): a rerun removes exactly those, and nothing else of the shared set."""
    challenge = "_acme-challenge.site.example.com"
    world.seed("site", ["site.example.com"], days_left=5)
    put_foreign(world, challenge, [FOREIGN], ttl=900)
    for _ in range(reruns):  # each run dies right after its value is published (INSYNC)
        crash_after(monkeypatch, Route53Challenges, "publish")
        # A dead process runs no `finally`: nothing removes what it published.
        monkeypatch.setattr(Dns01Responder, "remove", lambda self, plan, answers: None)
        with pytest.raises(Crash):
            world.rotate("site")
        monkeypatch.undo()
        expire_leases(world)

    ttl, values = txt_set(world, challenge)  # type: ignore[misc]
    leftover = [v for v in values if v != FOREIGN]
    assert len(leftover) == 1, "one dead run's value: a second run removed the first's before ordering"
    assert (ttl, values) == (900, sorted([FOREIGN, *leftover])), "the dead run added beside, kept the TTL"
    [recorded] = world.table_items("#challenges:")
    assert recorded["certificate"]["S"] == "#challenges:site"
    assert [f'"{json.loads(e)[2]}"' for e in recorded["values"]["SS"]] == leftover, "written down first"

    seen = observe_publish(monkeypatch, world, challenge)
    rerun = world.rotate("site")

    assert rerun["status"] == "rotated"
    [during] = seen
    [rerun_value] = during["ours"]
    assert rerun_value not in leftover, "a new order, a new challenge: the rerun's value is its own"
    assert during["route53"] == (900, sorted([FOREIGN, rerun_value])), "the dead run's went before ordering"
    assert txt_set(world, challenge) == (900, [FOREIGN]), "no value of ours is left; the foreign one stands"
    assert world.table_items("#challenges:") == [], "nothing left to remember"
    assert len([n for n in world.certificates() if n.startswith("site-cr")]) == 1
