"""devstack.cfn evaluates CloudFormation's intrinsic functions as CloudFormation does, for the parameters
given: the local stack's policies are the templates' as deployed."""

from __future__ import annotations

from typing import Any

import pytest

from devstack import cfn

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Accounts": {"Type": "String", "Default": "", "AllowedPattern": r"^(\d{12}(,\d{12})*)?$"},
        "Arns": {"Type": "CommaDelimitedList", "AllowedPattern": "^arn:.+$"},
        "Name": {"Type": "String", "Default": "member"},
    },
    "Conditions": {
        "HasAccounts": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Accounts"}, ""]}]},
        "Both": {"Fn::And": [{"Condition": "HasAccounts"}, {"Fn::Equals": [{"Ref": "Name"}, "member"]}]},
    },
    "Resources": {
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Statement": []},
                "Policies": [
                    {
                        "PolicyName": "p",
                        "PolicyDocument": {
                            "Statement": [
                                {"Resource": {"Fn::GetAtt": ["Table", "Arn"]}},
                                {
                                    "Resource": {
                                        "Fn::Sub": ["arn:${AWS::Partition}:x:::${N}-??????", {"N": "n"}]
                                    }
                                },
                                {"Resource": {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${Name}-scan"}},
                                {
                                    "Fn::If": [
                                        "HasAccounts",
                                        {"Accounts": {"Fn::Split": [",", {"Ref": "Accounts"}]}},
                                        {"Ref": "AWS::NoValue"},
                                    ]
                                },
                                {"Second": {"Fn::Select": [1, {"Ref": "Arns"}]}},
                                {"Joined": {"Fn::Join": ["-", ["a", {"Ref": "Name"}]]}},
                                {"Both": {"Fn::If": ["Both", "yes", "no"]}},
                                {"Literal": {"Fn::Sub": "${!NotSubstituted}"}},
                            ]
                        },
                    }
                ],
            },
        },
    },
}


def _statements(parameters: dict[str, str]) -> list[Any]:
    roles = cfn.deployed_roles(TEMPLATE, cfn.Stack(partition="aws-cn", region="cn-north-1"), parameters)
    return list(roles["Role"].inline_policies["p"]["Statement"])


def test_intrinsics_as_cloudformation_evaluates_them() -> None:
    statements = _statements({"Accounts": "111111111111,222222222222", "Arns": "arn:a,arn:b"})
    assert statements == [
        {"Resource": "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/certrotate-Table"},
        {"Resource": "arn:aws-cn:x:::n-??????"},
        {"Resource": "arn:aws-cn:iam::*:role/member-scan"},
        {"Accounts": ["111111111111", "222222222222"]},
        {"Second": "arn:b"},
        {"Joined": "a-member"},
        {"Both": "yes"},
        {"Literal": "${NotSubstituted}"},
    ]


def test_a_false_condition_removes_the_item_and_a_given_resource_is_used() -> None:
    roles = cfn.deployed_roles(
        TEMPLATE,
        parameters={"Arns": "arn:a,arn:b"},
        resources={"Table": cfn.PhysicalResource("t", {"Arn": "arn:aws:dynamodb:us-east-1:1:table/t"})},
    )
    statements = roles["Role"].inline_policies["p"]["Statement"]
    assert {"Resource": "arn:aws:dynamodb:us-east-1:1:table/t"} in statements
    assert not any("Accounts" in s for s in statements)
    assert {"Both": "no"} in statements


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"Arns": "arn:a,nope"}, "does not match"),
        ({"Arns": "arn:a", "Accounts": "12"}, "does not match"),
        ({"Arns": "arn:a", "Unknown": "x"}, "no parameters"),
        ({}, "no value and no default"),
    ],
)
def test_parameters_are_checked_as_cloudformation_checks_them(
    parameters: dict[str, str], problem: str
) -> None:
    with pytest.raises(cfn.UnsupportedTemplate, match=problem):
        _statements(parameters)


def test_a_function_without_its_own_role_is_refused() -> None:
    template = {"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": []}}}}
    with pytest.raises(cfn.UnsupportedTemplate, match="SAM would generate one"):
        cfn.deployed_roles(template)


def test_the_lease_tables_policy_names_the_roles_as_deployed() -> None:
    from devstack.iam_enforcement import TEMPLATE as CENTRAL

    template = cfn.load_template(CENTRAL)
    table = cfn.PhysicalResource("leases", {"Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/leases"})
    roles = cfn.deployed_roles(template, resources={"LeaseTable": table})
    operator = "arn:aws:iam::123456789012:role/ops/break-glass"
    for parameters, extra in (({}, []), ({"LeaseTableOperatorArn": operator}, [operator])):
        resources = {"LeaseTable": table}
        policies = cfn.deployed_table_policies(template, parameters=parameters, resources=resources)
        [deny] = policies[table.attributes["Arn"]]["Statement"]
        assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [
            roles["ScanFunctionRole"].arn,
            roles["RotateFunctionRole"].arn,
            *extra,
        ]
    # The roles' table statements come from policies of their own, attached as CloudFormation attaches them.
    assert "certrotate-rotate-lease-table" in roles["RotateFunctionRole"].inline_policies
    assert "certrotate-scan-lease-table" in roles["ScanFunctionRole"].inline_policies
