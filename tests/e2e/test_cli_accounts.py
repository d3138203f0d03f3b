"""The command line beyond one account's IAM certificates: member accounts (`--account`: read through a role
there, named to the function for rotations), an unreachable member account found by `doctor`, and ACM
imported certificates rotated by ARN."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from devstack import fixtures
from tests.e2e.conftest import World
from tests.e2e.test_cli import Cli, deploy
from tests.e2e.test_many_accounts import MEMBER_A, MEMBER_B, ZONE, fleet

__all__ = ["fleet"]  # the fixture, from the many-accounts tests


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(world, None, monkeypatch)  # type: ignore[arg-type]


def test_status_plan_and_rotate_in_a_member_account(fleet: tuple[World, Any, Any, Any], cli: Cli) -> None:
    world, a, _, _ = fleet
    fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=10)
    world.seed("central", ["c.example.com"], days_left=200)
    deploy(world)

    code, document = cli.json("status", "--account", MEMBER_A)
    assert [c["name"] for c in document["certificates"]] == ["web"]
    assert document["settings"]["source"] == f"stack certrotate, account {MEMBER_A}"
    assert code == 0

    code, plan = cli.json("--account", MEMBER_A, "plan", "web")
    assert code == 0 and plan["rotations"][0]["verdict"] == "issue"
    # DNS-01 is answered in the DNS account's zones (DNS_ACCOUNTS), read through the read role there: member
    # account A holds no zone at all.
    assert plan["rotations"][0]["order"]["challenges"] == [f"a.{ZONE} by dns-01 on Route 53 zone {ZONE}"]
    assert plan["rotations"][0]["order"]["refused"] is None  # ACCOUNT_DOMAINS gives A the zone

    code, result = cli.json("rotate", "web", "--account", MEMBER_A, "--dry-run")
    assert code == 0, result
    assert result["status"] == "planned" and result["account_id"] == MEMBER_A

    # The operator reads through member-role.yaml's read role only: the rotation's role (which writes)
    # trusts the rotate function alone.
    code, _ = cli("status", "--account", MEMBER_A, "--account-role", "certrotate-member")
    assert code == 3


def test_plan_and_doctor_say_what_they_cannot_check_when_the_dns_account_cannot_be_read(
    fleet: tuple[World, Any, Any, Any], cli: Cli
) -> None:
    world, a, _, _ = fleet
    fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=10)
    world.env["DNS_ACCOUNTS"] = f"*={MEMBER_B}"  # member-role.yaml is deployed nowhere there: no read role
    deploy(world)

    code, plan = cli.json("--account", MEMBER_A, "plan", "web")

    assert code == 0
    [line] = plan["rotations"][0]["order"]["challenges"]
    assert line.startswith(f"not checked: the Route 53 zones of DNS account {MEMBER_B} (DNS_ACCOUNTS")
    assert "deploy member-role.yaml there with OperatorRoleArns" in line
    code, text = cli("doctor", "--no-caa", "--no-color", "--account", MEMBER_A)
    assert f"! names        names not checked: the Route 53 zones of DNS account {MEMBER_B}" in text
    assert "no public Route 53 hosted zone" not in text, "what it could not read is not called missing"


def test_an_account_the_operator_cannot_read_is_one_line_and_exit_3(
    fleet: tuple[World, Any, Any, Any], cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    world, *_ = fleet
    deploy(world)
    code, out = cli("status", "--account", MEMBER_B)
    err = capfd.readouterr().err
    print(err, end="", file=sys.stderr)
    assert code == 3 and out == ""
    assert (
        f"cannot read account {MEMBER_B}: assuming arn:aws:iam::{MEMBER_B}:role/certrotate-member-read "
        in err
    )
    assert "--account-role" in err


def test_doctor_reports_a_member_account_the_scan_cannot_reach(
    fleet: tuple[World, Any, Any, Any], cli: Cli
) -> None:
    world, a, _, _ = fleet
    fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=60)
    deploy(world)
    code, text = cli("doctor", "--no-caa", "--no-color")
    assert code == 1
    assert f"✗ accounts     account {MEMBER_B}: not reachable: AccessDenied" in text
    assert "1 of 2 managed account(s) reached by the scan function" in text


def test_rollback_in_a_member_account_runs_as_the_rotations_member_role(
    fleet: tuple[World, Any, Any, Any], cli: Cli
) -> None:
    """The rollback is the rotate function's action: in a member account it works through MemberRole, under
    the member-rotate principal's calls and member-role.yaml's policy, as the rotation does."""
    world, a, _, _ = fleet
    old = fixtures.seed_certificate(a("iam"), "web", [f"a.{ZONE}"], days_left=10)
    listener = fixtures.create_alb_https_listener(a("elbv2"), a("ec2"), old["Arn"])
    deploy(world, RETIREMENT_GRACE_SECONDS="3600")
    code, result = cli.json("rotate", "web", "--account", MEMBER_A, "--force")
    assert code == 0 and result["status"] == "rotated", result
    new = result["new_certificate_name"]

    def serving() -> str:
        certificates = a("elbv2").describe_listener_certificates(ListenerArn=listener.listener_arn)
        return str(certificates["Certificates"][0]["CertificateArn"].rsplit("/", 1)[-1])

    assert serving() == new

    code, rolled = cli.json("rollback", "web", "--account", MEMBER_A, "--yes")

    assert code == 0, rolled
    assert rolled["status"] == "rolled-back" and rolled["rolled_back_from"] == new
    assert serving() == "web"
    tags = a("iam").list_server_certificate_tags(ServerCertificateName="web")["Tags"]
    assert {"Key": "certrotate:rolled-back-from", "Value": new} in tags
    assert world.certificates() == {}, "nothing changed in the central account's IAM"


def test_rotate_an_acm_imported_certificate_by_its_arn(world: World, cli: Cli) -> None:
    arn, _ = fixtures.import_acm_certificate(world.stack.client("acm"), ["api.example.com"], days_left=5)
    deploy(world)
    code, result = cli.json("rotate", arn, "--dry-run")
    assert code == 0, result
    assert result["certificate_arn"] == arn and result["status"] == "planned"
    code, text = cli("rotate", arn, "--no-color")
    assert code == 0, text
    assert "rotated:" in text and f"re-imported into {arn}" in text
