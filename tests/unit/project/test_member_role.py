"""member-role.yaml (deployed to every managed account and DNS account) and the central template's side of the
trust: one role per function, each trusting that function only, holding what it does in its own account."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from devstack import cfn
from tests.cfn import CfnLoader
from tests.paths import ROOT

MEMBER_TEMPLATE = ROOT / "member-role.yaml"
CENTRAL = "123456789012"
SCAN_ARN = f"arn:aws:iam::{CENTRAL}:role/certrotate-ScanFunctionRole-ABC"
ROTATE_ARN = f"arn:aws:iam::{CENTRAL}:role/certrotate-RotateFunctionRole-DEF"
PARAMETERS = {"CentralAccountId": CENTRAL, "CentralFunctionRoleArns": f"{SCAN_ARN},{ROTATE_ARN}"}


def _load(path: Any) -> dict[str, Any]:
    loaded = yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    return _load(MEMBER_TEMPLATE)


@pytest.fixture(scope="module")
def central() -> dict[str, Any]:
    return _load(ROOT / "template.yaml")


def _deployed(purpose: str = "managed", account: str = "111111111111") -> dict[str, cfn.DeployedRole]:
    parameters = {**PARAMETERS, "AccountPurpose": purpose}
    return cfn.deployed_roles(cfn.load_template(MEMBER_TEMPLATE), cfn.Stack(account=account), parameters)


def _central_roles(account: str = "111111111111") -> dict[str, cfn.DeployedRole]:
    # The central template as if deployed in the member account: its own-account statements name that account.
    return cfn.deployed_roles(cfn.load_template(ROOT / "template.yaml"), cfn.Stack(account=account))


@pytest.mark.parametrize(("role", "caller"), [("MemberRole", ROTATE_ARN), ("MemberScanRole", SCAN_ARN)])
def test_each_role_trusts_the_central_account_narrowed_to_one_function_role(role: str, caller: str) -> None:
    [statement] = _deployed()[role].trust_policy["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{CENTRAL}:root"}, "no Service, Federated or *"
    assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": caller}}


def test_the_role_arns_are_checked_and_given_in_the_documented_order(member: dict[str, Any]) -> None:
    parameter = member["Parameters"]["CentralFunctionRoleArns"]
    assert parameter["Type"] == "CommaDelimitedList"
    assert "ScanFunctionRoleArn" in parameter["Description"].split("RotateFunctionRoleArn")[0]
    with pytest.raises(cfn.UnsupportedTemplate, match="does not match"):
        cfn.deployed_roles(
            cfn.load_template(MEMBER_TEMPLATE),
            cfn.Stack(account="111111111111"),
            {**PARAMETERS, "CentralFunctionRoleArns": f"{SCAN_ARN},*"},
        )
    assert member["Parameters"]["CentralAccountId"]["AllowedPattern"] == "^\\d{12}$"


def test_member_roles_hold_exactly_what_each_function_does_in_its_own_account() -> None:
    central = _central_roles()
    member = _deployed()
    rotate = central["RotateFunctionRole"].inline_policies
    scan = central["ScanFunctionRole"].inline_policies
    assert member["MemberRole"].inline_policies == {
        "certrotate-rotate-dns": rotate["certrotate-rotate-dns"],
        "certrotate-rotate-certificates": rotate["certrotate-rotate-certificates"],
    }
    assert member["MemberScanRole"].inline_policies == {
        "certrotate-scan-certificates": scan["certrotate-scan-certificates"],
    }
    assert member["MemberRole"].name == "certrotate-member"
    assert member["MemberScanRole"].name == "certrotate-member-scan"


def test_a_dns_only_account_has_the_route53_policy_and_no_scan_role() -> None:
    member = _deployed("dns-only")
    assert list(member) == ["MemberRole"]
    assert list(member["MemberRole"].inline_policies) == ["certrotate-rotate-dns"]
    actions = {
        a
        for s in member["MemberRole"].inline_policies["certrotate-rotate-dns"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {a.split(":")[0] for a in actions} == {"route53"}


def _assume_statement(function: str, parameters: dict[str, str]) -> dict[str, Any]:
    roles = cfn.deployed_roles(cfn.load_template(ROOT / "template.yaml"), parameters=parameters)
    statements = [s for d in roles[f"{function}Role"].policies() for s in d["Statement"]]
    assumes = [s for s in statements if s["Action"] == "sts:AssumeRole"]
    assert len(assumes) <= 1
    return assumes[0] if assumes else {}


def test_each_function_assumes_its_member_role_in_the_accounts_configured_only() -> None:
    assert _assume_statement("ScanFunction", {}) == {} and _assume_statement("RotateFunction", {}) == {}
    settings = {"ManagedAccounts": "111111111111,222222222222", "DnsAccounts": "111111111111=333333333333"}
    scan = _assume_statement("ScanFunction", settings)
    assert scan["Resource"] == "arn:aws:iam::*:role/certrotate-member-scan"
    assert scan["Condition"] == {"StringEquals": {"aws:ResourceAccount": ["111111111111", "222222222222"]}}
    rotate = _assume_statement("RotateFunction", settings)
    assert rotate["Resource"] == "arn:aws:iam::*:role/certrotate-member"
    accounts = set(rotate["Condition"]["StringEquals"]["aws:ResourceAccount"])
    assert accounts == {"111111111111", "222222222222", "333333333333"}
    # DNS accounts only (no MANAGED_ACCOUNTS): the rotation may reach them; the scan assumes nothing.
    assert _assume_statement("ScanFunction", {"DnsAccounts": "*=333333333333"}) == {}
    dns_only = _assume_statement("RotateFunction", {"DnsAccounts": "*=333333333333"})
    assert "333333333333" in dns_only["Condition"]["StringEquals"]["aws:ResourceAccount"]


def test_the_scan_function_is_told_its_own_member_role(central: dict[str, Any]) -> None:
    scan = central["Resources"]["ScanFunction"]["Properties"]["Environment"]["Variables"]
    assert scan["MEMBER_ROLE_NAME"] == {"Fn::Sub": "${MemberRoleName}-scan"}
    variables = central["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["MANAGED_ACCOUNTS"] == {"Ref": "ManagedAccounts"}
    assert variables["MEMBER_ROLE_NAME"] == {"Ref": "MemberRoleName"}
    assert central["Parameters"]["ManagedAccounts"]["Default"] == ""
    # Room for "-scan" in IAM's 64 characters, in both templates.
    member = _load(MEMBER_TEMPLATE)
    for template in (central, member):
        assert template["Parameters"]["MemberRoleName"]["AllowedPattern"].endswith("{1,59}$")


OPERATOR = (
    f"arn:aws:iam::{CENTRAL}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_CertOps_0123456789abcdef"
)
READ_SIDS = [
    "CertificatesList",
    "CertificatesRead",
    "EndpointsRead",
    "DistributionsRead",
    "AcmList",
    "AcmRead",
]


def test_the_operators_read_role_exists_only_when_asked_and_trusts_the_operators_only() -> None:
    assert "MemberReadRole" not in _deployed()  # OperatorRoleArns empty: no read role
    with_operators = {**PARAMETERS, "OperatorRoleArns": OPERATOR}
    template = cfn.load_template(MEMBER_TEMPLATE)
    dns_only = cfn.deployed_roles(
        template, cfn.Stack(account="333333333333"), {**with_operators, "AccountPurpose": "dns-only"}
    )
    read = cfn.deployed_roles(template, cfn.Stack(account="111111111111"), with_operators)["MemberReadRole"]
    for role in (read, dns_only["MemberReadRole"]):
        assert role.name == "certrotate-member-read"
        [statement] = role.trust_policy["Statement"]
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::{CENTRAL}:root"}
        assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": [OPERATOR]}}


def test_in_a_dns_only_account_the_read_role_lists_zones_and_nothing_else() -> None:
    """`plan` and `doctor` check DNS-01 where the rotation would answer it: with DnsAccounts, in the DNS
    account's zones. There is nothing else for the operator to read there (no certificates)."""
    roles = cfn.deployed_roles(
        cfn.load_template(MEMBER_TEMPLATE),
        cfn.Stack(account="333333333333"),
        {**PARAMETERS, "OperatorRoleArns": OPERATOR, "AccountPurpose": "dns-only"},
    )
    [document] = roles["MemberReadRole"].inline_policies.values()
    assert document["Statement"] == [
        {"Sid": "ZonesList", "Effect": "Allow", "Action": "route53:ListHostedZones", "Resource": "*"}
    ]


def test_the_read_role_holds_the_operator_policys_reads_for_its_account() -> None:
    """`certrotate status|plan|verify|doctor --account` read a managed account as the operator reads its own:
    the same statements, naming the member account; nothing that writes."""
    account = "111111111111"
    roles = cfn.deployed_roles(
        cfn.load_template(MEMBER_TEMPLATE),
        cfn.Stack(account=account),
        {**PARAMETERS, "OperatorRoleArns": OPERATOR},
    )
    [document] = roles["MemberReadRole"].inline_policies.values()
    operator = cfn.deployed_policies(
        cfn.load_template(ROOT / "operator-policy.yaml"), cfn.Stack(account=account)
    )
    [policy] = operator.values()
    reads = [s for s in policy["Statement"] if s.get("Sid") in READ_SIDS]
    assert [s["Sid"] for s in reads] == READ_SIDS
    assert document["Statement"] == reads
