"""Renewal on a CA without ARI (pebble 2.4.0): the lifetime rule, and RENEW_BEFORE_DAYS as a floor."""

from __future__ import annotations

import datetime as dt

from devstack import fixtures
from tests.e2e.conftest import World

RENEWAL_TAG = "certrotate:renewal"


def seed_with_life(world: World, name: str, lifetime_days: float, days_left: float) -> None:
    now = dt.datetime.now(dt.UTC)
    issued = fixtures.local_ca().issue(
        [f"{name}.example.com"], days_left, not_before=now + dt.timedelta(days=days_left - lifetime_days)
    )
    world.iam.upload_server_certificate(
        ServerCertificateName=name,
        CertificateBody=issued.cert_pem,
        PrivateKey=issued.key_pem,
        CertificateChain=issued.chain_pem,
        Tags=[{"Key": fixtures.MANAGED_TAG, "Value": "true"}],
    )


def test_without_ari_or_a_floor_the_lifetime_rule_decides(world: World) -> None:
    world.env.pop("RENEW_BEFORE_DAYS")
    seed_with_life(world, "short-due", lifetime_days=6, days_left=2.5)  # half its life left: due
    seed_with_life(world, "short-later", lifetime_days=6, days_left=3.5)
    seed_with_life(world, "long-due", lifetime_days=90, days_left=29)  # a third left: due
    seed_with_life(world, "long-later", lifetime_days=90, days_left=31)
    scan = world.scan()
    assert sorted(scan["enqueued"]) == ["long-due", "short-due"]
    assert world.tags("long-later")[RENEWAL_TAG].startswith("source=lifetime ")

    # A direct rotation decides the same way.
    assert world.rotate("short-later")["status"] == "skipped"
    assert world.rotate("short-due")["status"] == "rotated"


def test_the_floor_makes_a_certificate_due_that_the_lifetime_rule_would_not(world: World) -> None:
    seed_with_life(world, "long", lifetime_days=365, days_left=40)  # lifetime rule: due at 121 days left
    seed_with_life(world, "short", lifetime_days=90, days_left=40)  # lifetime rule: due at 30 days left
    assert sorted(world.scan(dry_run=True)["expiring"]) == ["long"]
    world.env["RENEW_BEFORE_DAYS"] = "45"
    assert sorted(world.scan(dry_run=True)["expiring"]) == ["long", "short"]
