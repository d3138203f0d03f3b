"""member-role.yaml (deployed to every managed account) and the central template's side of the trust."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit.test_template import ROOT, _CfnLoader, _function_statements

MEMBER_TEMPLATE = ROOT / "member-role.yaml"
CENTRAL_ONLY = ("secretsmanager:", "dynamodb:", "sqs:", "events:", "sts:")  # stay in the central account


def _load(path: Any) -> dict[str, Any]:
    loaded = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    return _load(MEMBER_TEMPLATE)


@pytest.fixture(scope="module")
def central() -> dict[str, Any]:
    return _load(ROOT / "template.yaml")


def _role(member: dict[str, Any]) -> dict[str, Any]:
    [role] = [r for r in member["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    return dict(role["Properties"])


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def test_trust_names_the_central_account_and_pins_the_two_function_roles(member: dict[str, Any]) -> None:
    [statement] = _role(member)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    principal = statement["Principal"]
    assert set(principal) == {"AWS"}, "no Service or Federated principal"
    assert principal["AWS"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralAccountId}:root"}
    assert "*" not in str(principal), "no wildcard principal"
    assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": {"Ref": "CentralFunctionRoleArns"}}}
    assert member["Parameters"]["CentralAccountId"]["AllowedPattern"] == "^\\d{12}$"


def test_member_permissions_are_the_rotate_functions_own_account_permissions(
    member: dict[str, Any], central: dict[str, Any]
) -> None:
    [policy] = _role(member)["Policies"]
    granted = policy["PolicyDocument"]["Statement"]
    rotate = _function_statements(central["Resources"], "RotateFunction")
    scan = _function_statements(central["Resources"], "ScanFunction")
    needed = {a for a in _actions(rotate) | _actions(scan) if not a.startswith(CENTRAL_ONLY)}
    assert _actions(granted) == needed
    assert not any(a.startswith(CENTRAL_ONLY) for a in _actions(granted)), "key, leases, events stay central"
    [route53_change] = [s for s in granted if "route53:ChangeResourceRecordSets" in _actions([s])]
    condition = route53_change["Condition"]
    assert condition["ForAllValues:StringLike"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == [
        "_acme-challenge.*"
    ]
    assert condition["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsRecordTypes"] == ["TXT"]
    assert role_name_default(member) == "certrotate-member"


def role_name_default(member: dict[str, Any]) -> str:
    assert _role(member)["RoleName"] == {"Ref": "MemberRoleName"}
    return str(member["Parameters"]["MemberRoleName"]["Default"])


def test_central_functions_assume_only_the_member_role_and_only_when_accounts_are_managed(
    central: dict[str, Any],
) -> None:
    for function in ("ScanFunction", "RotateFunction"):
        policies = central["Resources"][function]["Properties"]["Policies"]
        [conditional] = [
            p
            for p in policies
            if isinstance(p, dict) and "Fn::If" in p and p["Fn::If"][0] == "HasManyAccounts"
        ]
        [statement] = conditional["Fn::If"][1]["Statement"]
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
        assert conditional["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    variables = central["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["MANAGED_ACCOUNTS"] == {"Ref": "ManagedAccounts"}
    assert variables["MEMBER_ROLE_NAME"] == {"Ref": "MemberRoleName"}
    assert central["Parameters"]["ManagedAccounts"]["Default"] == ""
