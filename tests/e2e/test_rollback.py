"""`certrotate rollback` on the local stack: a rotation rolled back through the deployed function (ALB default
and SNI, NLB, Classic, a second region, CloudFront), each endpoint read back; both certificates held (later
scans leave them alone, `status` exits 1); an event and a metric; safe to re-run, converging after a failure
half way; refused in one line before any change when it cannot prove the pair (its progress record included:
a pair from before progress records is adopted by a forced rotation first); lifted by a forced rotation, whose
grace starts afresh."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from devstack import fixtures
from tests.e2e.conftest import SECOND_REGION, World
from tests.e2e.test_cli import Cli, deploy
from tests.e2e.test_observability import emitted, metric_values, received_events, subscribe_events


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(world, None, monkeypatch)  # type: ignore[arg-type]  # no TLS front: nothing is verified here


class Served:
    """Every endpoint of the test, and which certificate each serves."""

    def __init__(self, world: World, cert: dict[str, Any]) -> None:
        self.world = world
        ec2, elbv2 = world.ec2, world.elbv2
        other = world.seed("other", ["other.example.org"], days_left=300, managed=False)
        self.alb = fixtures.create_alb_https_listener(elbv2, ec2, cert["Arn"], name="shop-alb")
        self.sni = fixtures.create_alb_https_listener(
            elbv2, ec2, other["Arn"], sni_certificate_arns=[cert["Arn"]], name="shared"
        )
        self.nlb = fixtures.create_nlb_tls_listener(elbv2, ec2, cert["Arn"], name="shop-nlb", port=8443)
        self.classic = fixtures.create_classic_https_listener(
            world.elb, ec2, cert["Arn"], name="shop-classic"
        )
        self.west_elbv2 = world.stack.client("elbv2", SECOND_REGION)
        self.west = fixtures.create_alb_https_listener(
            self.west_elbv2, world.stack.client("ec2", SECOND_REGION), cert["Arn"], name="shop-west"
        )
        self.distribution = fixtures.create_cloudfront_distribution(
            world.cloudfront, cert["ServerCertificateId"], aliases=["shop.example.com"]
        )
        self.other_arn = other["Arn"]

    def by(self) -> dict[str, Any]:
        """Endpoint -> the certificate ARN (CloudFront: ID) it serves (SNI: the list besides `other`)."""
        world = self.world
        classic = world.elb.describe_load_balancers(LoadBalancerNames=[self.classic.load_balancer_name])
        config = world.cloudfront.get_distribution_config(Id=self.distribution.id)["DistributionConfig"]
        _, sni = world.listener_certificates(self.sni.listener_arn)
        return {
            "alb": world.listener_certificates(self.alb.listener_arn)[0],
            "sni": sni,
            "nlb": world.listener_certificates(self.nlb.listener_arn)[0],
            "classic": classic["LoadBalancerDescriptions"][0]["ListenerDescriptions"][0]["Listener"][
                "SSLCertificateId"
            ],
            "west": world.listener_certificates(self.west.listener_arn, self.west_elbv2)[0],
            "cloudfront": config["ViewerCertificate"]["IAMCertificateId"],
        }

    def all_on(self, meta: dict[str, Any]) -> dict[str, Any]:
        arn, certificate_id = meta["Arn"], meta["ServerCertificateId"]
        return {
            "alb": arn,
            "sni": [arn],
            "nlb": arn,
            "classic": arn,
            "west": arn,
            "cloudfront": certificate_id,
        }


def _errors(capfd: pytest.CaptureFixture[str]) -> str:
    captured = capfd.readouterr()
    print(captured.out, end="")
    print(captured.err, end="", file=sys.stderr)
    return captured.err


def rotated_world(world: World, cli: Cli) -> tuple[Served, dict[str, Any], dict[str, Any]]:
    old = world.seed("shop", ["shop.example.com"], days_left=12, path="/cloudfront/shop/")
    served = Served(world, old)
    deploy(world, RETIREMENT_GRACE_SECONDS="3600")
    code, text = cli("rotate", "shop", "--force", "--no-color")
    assert code == 0, text
    [name] = [n for n in world.certificates() if n.startswith("shop-cr")]
    new = world.certificates()[name]
    assert served.by() == served.all_on(new)
    return served, world.certificates()["shop"], new


def test_a_rotation_rolled_back_everywhere_is_held_until_forced(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    events_url = subscribe_events(world)
    served, old, new = rotated_world(world, cli)
    new_name = new["ServerCertificateName"]
    received_events(world, events_url)  # the rotation's
    capfd.readouterr()

    code, text = cli("rollback", "shop", "--no-color", stdin="shop\n")

    assert code == 0, text
    assert "· would hold shop and " in text  # the dry run shown first, then the question
    assert "Type the certificate's name to go on" in text
    assert "rolled-back: every endpoint that served" in text
    assert served.by() == served.all_on(old)  # default, SNI, NLB, Classic, another region, CloudFront
    assert f"{served.sni.listener_arn}" not in text or "serves shop again" in text
    tags = world.tags("shop")
    assert tags["certrotate:rolled-back-from"] == new_name
    assert "certrotate:replaced-by" not in tags and "certrotate:replacement-served-since" not in tags
    assert world.tags(new_name)["certrotate:rolled-back-to"] == "shop"
    out = capfd.readouterr().out
    print(out, end="")
    metrics, _ = emitted(out)
    assert [value for _, value in metric_values(metrics, "CertificatesRolledBack")] == [1.0]
    [event] = [e for e in received_events(world, events_url) if e["detail-type"] == "Certificate Rolled Back"]
    assert event["detail"]["certificate_name"] == "shop" and event["detail"]["rolled_back_from"] == new_name
    assert len(event["detail"]["endpoints_changed"]) == 6

    # Later scans leave both alone, whatever the grace period and however close shop is to expiry.
    for _ in range(2):
        scan = world.scan()
        assert scan["enqueued"] == [] and scan["retired"] == [] and scan["resumed"] == []
        assert "shop" in scan["expiring"]
        held = {h["certificate_name"]: h for h in scan["held"]}
        assert held["shop"]["rolled_back"] is True and held["shop"]["until"] is None
        assert new_name in held
    out = capfd.readouterr().out
    print(out, end="")
    metrics, _ = emitted(out)
    # The hold is what CertificatesHeld counts (its alarm fires): no alarm of CertificatesRolledBack.
    assert [value for _, value in metric_values(metrics, "CertificatesHeld")] == [2.0, 2.0]
    assert world.receive() == []
    assert {"shop", new_name} <= world.certificates().keys()
    assert served.by() == served.all_on(old)

    code, document = cli.json("status")
    assert code == 1
    rows = {c["name"]: c for c in document["certificates"]}
    assert rows["shop"]["decision"]["verdict"] == "rolled-back"
    assert any(f"rolled back from {new_name}" in reason for reason in rows["shop"]["needs_attention"])
    assert rows[new_name]["needs_attention"] == [
        "held: rolled back to shop: held until shop is rotated with force=true"
    ]
    code, table = cli("status", "--no-color")
    assert code == 1 and f"! shop: held: rolled back from {new_name}" in table

    # A direct rotation without force is skipped; the queue's would be too.
    skipped = world.rotate("shop")
    assert skipped["status"] == "skipped" and skipped["new_certificate_name"] == new_name

    # Safe to re-run: nothing left to move, the same answer.
    code, again = cli.json("rollback", "shop", "--yes")
    assert code == 0 and again["status"] == "rolled-back" and again["endpoints_changed"] == []

    # Fixed: a forced rotation serves the replacement again and lifts the hold of both.
    code, text = cli("rotate", "shop", "--force", "--no-color")
    assert code == 0, text
    assert served.by() == served.all_on(new)
    assert not {k for k in world.tags("shop") if k.startswith("certrotate:rolled-back")}
    assert "certrotate:rolled-back-to" not in world.tags(new_name)
    code, document = cli.json("status")
    assert {c["name"]: c for c in document["certificates"]}["shop"]["decision"]["verdict"] == "resume"


def test_the_replacement_may_be_named_and_a_failure_half_way_converges_on_a_rerun(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    served, old, new = rotated_world(world, cli)
    new_name = new["ServerCertificateName"]
    # The Classic load balancer refuses for a while (beyond botocore's retries): the others move back.
    world.stack.faults.inject(
        "elb", "SetLoadBalancerListenerSSLCertificate", code="ServiceUnavailable", status=503, times=20
    )
    code, document = cli.json("rollback", new_name, "--yes")
    assert code == 1
    assert "1 endpoint(s) still serve" in document["error"]
    world.stack.faults.clear()
    on = served.by()
    assert on["classic"] == new["Arn"]
    assert {k: v for k, v in on.items() if k != "classic"} == {
        k: v for k, v in served.all_on(old).items() if k != "classic"
    }
    # Meanwhile the scan neither resumes the rotation (which would undo the rollback) nor retires anything.
    scan = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="0")
    assert scan["enqueued"] == [] and scan["resumed"] == [] and scan["retired"] == []

    code, document = cli.json("rollback", new_name, "--yes")
    assert code == 0, document
    assert document["endpoints_changed"] == [f"classic-listener {served.classic.load_balancer_name}:443"]
    assert served.by() == served.all_on(old)


def test_a_rollback_without_a_replacement_or_after_retirement_is_refused_before_any_change(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    world.seed("alone", ["alone.example.com"], days_left=60)
    shop = world.seed("shop", ["shop.example.com"], days_left=12)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, shop["Arn"], name="shop-alb")
    deploy(world)  # grace 0: the old one is retired in the rotation's run
    assert world.rotate("shop", force=True)["status"] == "rotated"
    [new_name] = [n for n in world.certificates() if n.startswith("shop-cr")]
    before = world.snapshot()

    code, _ = cli("rollback", "alone", "--yes")
    assert code == 2
    assert "certificate 'alone' has no replacement" in _errors(capfd)
    code, _ = cli("rollback", new_name, "--yes")
    assert code == 2
    err = _errors(capfd)
    assert f"{new_name} replaced shop, which was retired (deleted): there is nothing to roll back to" in err
    code, _ = cli("rollback", "nope", "--yes")
    assert code == 2 and "no IAM server certificate is named 'nope'" in _errors(capfd)
    assert world.snapshot() == before


def test_a_forged_pair_is_refused(world: World, cli: Cli, capfd: pytest.CaptureFixture[str]) -> None:
    """Someone allowed to tag names their own certificate as the predecessor of a served one: the served
    one is not at the name a rotation of theirs derives, so nothing moves."""
    theirs = world.seed("theirs", ["shop.example.com"], days_left=60)
    served = world.seed("served-cr0123abcd", ["shop.example.com"], days_left=80)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, served["Arn"], name="alb")
    world.iam.tag_server_certificate(
        ServerCertificateName="served-cr0123abcd", Tags=[{"Key": "certrotate:replaces", "Value": "theirs"}]
    )
    deploy(world)
    before = world.snapshot()
    code, _ = cli("rollback", "served-cr0123abcd", "--yes")
    assert code == 2
    err = _errors(capfd)
    assert "cannot roll served-cr0123abcd back to theirs" in err
    assert "is not the replacement a rotation of theirs makes" in err
    assert world.snapshot() == before
    assert world.listener_certificates(listener.listener_arn)[0] == served["Arn"]
    assert theirs["Arn"] != served["Arn"]


def test_rollback_local_runs_in_this_process_under_the_same_lease(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    served, old, new = rotated_world(world, cli)
    before = world.snapshot()
    # operator-policy.yaml alone writes nothing: the lease is refused before any change.
    code, _ = cli("rollback", "shop", "--local", "--yes")
    assert code == 3
    assert "permission problem: AWS refused PutItem (AccessDeniedException)" in _errors(capfd)
    assert world.snapshot() == before

    cli.run_as("break-glass")  # the operator with the rotate function's permissions (docs/deploy.md)
    code, text = cli("rollback", "shop", "--local", "--no-color", stdin="shop\n")
    assert code == 0, text
    assert "Break-glass: ROLL BACK shop in this process" in text
    assert served.by() == served.all_on(old)
    assert (
        json.loads(json.dumps(world.tags("shop")))["certrotate:rolled-back-from"]
        == new["ServerCertificateName"]
    )


def test_a_pair_no_progress_record_proves_is_refused_until_a_forced_rotation_adopts_it(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    """A rotation started before progress records (0.2.0) left a pair that only names and tags prove, as an
    upload made to look like a rotation would: refused before any change, with the way to adopt it."""
    served, old, new = rotated_world(world, cli)
    new_name = new["ServerCertificateName"]
    for key in world.progress_records():  # as 0.2.0 left it: the tags, no record
        world.dynamodb.delete_item(TableName=world.lease_table, Key={"certificate": {"S": key}})
    before = world.snapshot()

    code, _ = cli("rollback", "shop", "--yes")

    assert code == 2
    err = _errors(capfd)
    assert f"cannot roll {new_name} back to shop: no progress record of certrotate's names it" in err
    assert "`certrotate rotate shop --force` adopts it" in err and "nothing was changed" in err
    assert len(err.strip().splitlines()) == 1
    assert world.snapshot() == before and served.by() == served.all_on(new)

    code, text = cli("rotate", "shop", "--force", "--no-color")
    assert code == 0 and f"adopted {new_name} as the replacement of shop" in text, text
    code, document = cli.json("rollback", "shop", "--yes")
    assert code == 0 and document["status"] == "rolled-back", document
    assert served.by() == served.all_on(old)


def test_a_forced_rotation_after_a_rollback_resumes_and_starts_the_grace_again(
    world: World, cli: Cli
) -> None:
    """The record still proves the pair after a rollback (the forced rotation resumes onto the replacement,
    ordering nothing), but no longer says the replacement serves: the old certificate gets a whole grace
    period again, in which it may be rolled back again, instead of being deleted at once."""
    old = world.seed("shop", ["shop.example.com"], days_left=12)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="shop-alb")
    deploy(world, RETIREMENT_GRACE_SECONDS="2")
    code, rotated = cli.json("rotate", "shop", "--force")
    assert code == 0 and rotated["status"] == "rotated", rotated
    new_name = rotated["new_certificate_name"]
    code, rolled = cli.json("rollback", "shop", "--yes")
    assert code == 0 and rolled["status"] == "rolled-back", rolled
    [record] = world.progress_records().values()
    assert record["replacement"]["S"] == new_name and "served_since" not in record
    time.sleep(3)  # the grace, counted from the first rotation's repointing, has passed

    code, resumed = cli.json("rotate", "shop", "--force")

    assert code == 0 and resumed["new_certificate_name"] == new_name, resumed
    assert [n for n in world.certificates() if n.startswith("shop-cr")] == [new_name], "nothing ordered"
    assert world.listener_certificates(listener.listener_arn)[0] == world.certificates()[new_name]["Arn"]
    assert "shop" in world.certificates(), "in its grace again: it may be rolled back again"
    assert resumed["old_certificate_retired"] is False
