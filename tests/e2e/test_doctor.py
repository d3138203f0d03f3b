"""`certrotate doctor` on the local stack: quiet (exit 0) on a healthy deployment, and one line naming each
thing that would stop a rotation (exit 1): a grant the deployed role lacks (simulated from the role's
policies, which are template.yaml's), a CAA record that forbids the CA (served by the devstack's DNS from
Route 53), a name with neither a public zone nor an ALB port-80 path, a load balancer holding its 25
certificates. Read-only."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from devstack import ca_limits, fixtures, moto_fixes
from tests.e2e.conftest import World
from tests.e2e.test_cli import Cli, deploy


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(world, None, monkeypatch)  # type: ignore[arg-type]


def doctor(world: World, cli: Cli, *argv: str) -> tuple[int, str, list[dict[str, str]]]:
    dns = ("--dns-server", str(world.stack.dns_server))
    code, text = cli("doctor", "--no-color", *dns, *argv)
    _, document = cli.json("doctor", *dns, *argv)
    return code, text, document["findings"]


def problems(findings: list[dict[str, str]]) -> list[str]:
    return [f["message"] for f in findings if f["severity"] == "problem"]


def add_caa(world: World, name: str, *values: str) -> None:
    fixtures.create_record_set(world.route53, world.zone_id, name, "CAA", values)


def healthy(world: World) -> dict[str, Any]:
    shop = world.seed("shop", ["example.com", "*.example.com", "shop.example.com"], days_left=40)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, shop["Arn"], name="shop-alb")
    deploy(world)
    return shop


def test_doctor_is_quiet_on_a_healthy_stack_and_changes_nothing(world: World, cli: Cli) -> None:
    healthy(world)
    add_caa(world, "example.com", f'0 issue "{ca_limits.CAA_IDENTITY}"', '0 iodef "mailto:ops@example.com"')
    before = world.snapshot()

    code, text, findings = doctor(world, cli)

    assert code == 0, text
    assert problems(findings) == []
    assert "✓ permissions  the ScanFunction role may make all" in text
    assert "✓ permissions  the RotateFunction role may make all" in text
    assert "the ACME directory" in text and "answers" in text
    assert "✓ names        shop: 3 name(s) validated by dns-01" in text
    assert f"✓ caa          shop: CAA allows {ca_limits.CAA_IDENTITY} for every name" in text
    assert "✓ quota        IAM server certificates: 1 of 20 used" in text
    assert text.rstrip().endswith("nothing would stop a rotation")
    assert all(len(line) < 400 for line in text.splitlines())
    assert world.snapshot() == before


def test_doctor_reports_a_grant_the_rotate_role_lacks(world: World, cli: Cli) -> None:
    healthy(world)
    role = world.stack.client("lambda").get_function_configuration(FunctionName="certrotate-RotateFunction")[
        "Role"
    ]
    name = role.rsplit("/", 1)[-1]
    # The deployed role is template.yaml's RotateFunctionRole: the statement DNS-01 needs goes.
    dns = "certrotate-rotate-dns"
    policy = world.iam.get_role_policy(RoleName=name, PolicyName=dns)["PolicyDocument"]
    document = json.loads(policy) if isinstance(policy, str) else policy
    kept = [s for s in document["Statement"] if s.get("Sid") != "Route53AcmeChallengeOnly"]
    assert len(kept) == len(document["Statement"]) - 1
    document["Statement"] = kept
    world.iam.put_role_policy(RoleName=name, PolicyName=dns, PolicyDocument=json.dumps(document))

    code, text, findings = doctor(world, cli)

    assert code == 1
    [missing] = problems(findings)
    assert missing.startswith(
        f"the RotateFunction role ({role}) may not route53:ChangeResourceRecordSets on "
    )
    assert "(implicitDeny): a rotation needs it" in missing
    assert "✓ permissions  the ScanFunction role may make all" in text
    assert "1 problem(s) would stop a rotation" in text


def test_doctor_reports_a_caa_record_that_forbids_the_ca(world: World, cli: Cli) -> None:
    healthy(world)
    # The apex allows the CA, its wildcard does not (issuewild), and shop.example.com names another CA.
    add_caa(world, "example.com", f'0 issue "{ca_limits.CAA_IDENTITY}"', '0 issuewild ";"')
    add_caa(world, "shop.example.com", '0 issue "letsencrypt.org; validationmethods=dns-01"')

    code, text, findings = doctor(world, cli)

    assert code == 1
    found = problems(findings)
    assert len(found) == 2, found
    assert any(
        p.startswith("shop: *.example.com: CAA at example.com forbids devstack-ca.test") for p in found
    )
    assert any(
        p.startswith("shop: shop.example.com: CAA at shop.example.com forbids devstack-ca.test")
        for p in found
    )
    assert "✗ caa          shop: shop.example.com:" in text


def test_doctor_reports_a_name_with_no_zone_and_no_alb_path(world: World, cli: Cli) -> None:
    healthy(world)
    away = world.seed("away", ["away.example.net"], days_left=40)
    https = fixtures.create_alb_https_listener(world.elbv2, world.ec2, away["Arn"], name="away-alb")

    code, text, findings = doctor(world, cli)

    assert code == 1
    [problem] = problems(findings)
    assert problem.startswith(
        "away: no public Route 53 hosted zone holds 'away.example.net' (DNS-01) and no "
    )
    assert "HTTP listener on port 80 (HTTP-01)" in problem

    fixtures.create_alb_http_listener(world.elbv2, https.load_balancer_arn)  # the way out: a port-80 path
    code, text, findings = doctor(world, cli)
    assert code == 0, text
    assert "✓ names        away: 1 name(s) validated by http-01" in text


def test_doctor_reports_a_full_load_balancer(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    moto_fixes.set_server_certificate_quota(100)
    shop = healthy(world)
    fillers = [
        world.seed(f"f{i}", [f"f{i}.example.org"], 200, managed=False, key="ec256")["Arn"] for i in range(25)
    ]
    full = fixtures.create_alb_https_listener(
        world.elbv2, world.ec2, fillers[0], sni_certificate_arns=[*fillers[1:], shop["Arn"]], name="full"
    )  # 24 fillers and shop: the load balancer's 25

    code, _, findings = doctor(world, cli)

    assert code == 1
    [problem] = problems(findings)
    assert problem.startswith(
        f"load balancer {full.load_balancer_arn} holds 25 certificates, its quota of 25"
    )
    assert "replacement of shop beside it" in problem and "SniSwapWhenFull=true" in problem
    print(capfd.readouterr().err, end="", file=sys.stderr)
