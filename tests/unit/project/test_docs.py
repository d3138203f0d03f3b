"""The docs say what the template holds: every parameter is documented in docs/deploy.md and grouped for the
console, every alarm is in the alarms table and counted right, the deployer's permissions cover every resource
type the stack creates, and no link of the README or the docs leaves the repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.cfn import load_template
from tests.paths import ROOT

DEPLOY = ROOT / "docs" / "deploy.md"
CONTRACT = ROOT / "docs" / "contract.md"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def deploy() -> str:
    return DEPLOY.read_text()


def _section(text: str, heading: str) -> str:
    """The text under a `## heading` (or `### heading`) up to the next heading of that level or higher."""
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, flags=re.MULTILINE)
    assert match, f"no section {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


# --- parameters ------------------------------------------------------------------------------------------


def test_every_parameter_is_documented_in_deploy_md(template: dict[str, Any], deploy: str) -> None:
    missing = [name for name in template["Parameters"] if f"`{name}`" not in deploy]
    assert not missing, f"docs/deploy.md says nothing of {missing}"


def test_every_parameter_is_in_exactly_one_console_group(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(set(grouped)), "a parameter in two groups"
    assert set(grouped) == set(template["Parameters"]), (
        f"not grouped: {set(template['Parameters']) - set(grouped)}; "
        f"grouped but no parameter: {set(grouped) - set(template['Parameters'])}"
    )


# --- alarms ----------------------------------------------------------------------------------------------

_WORDS = {
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
}


def _alarm_names(template: dict[str, Any]) -> list[str]:
    names = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            name = resource["Properties"]["AlarmName"]["Fn::Sub"]
            assert name.startswith("${AWS::StackName}-")
            names.append(name.removeprefix("${AWS::StackName}-"))
    return names


def test_every_alarm_is_in_the_alarms_table(template: dict[str, Any], deploy: str) -> None:
    table = _section(deploy, "Alarms")
    rows = re.findall(r"^\| `<stack>-([A-Za-z]+)` \|", table, flags=re.MULTILINE)
    assert sorted(rows) == sorted(_alarm_names(template))


def test_the_docs_count_the_alarms_right(template: dict[str, Any], deploy: str) -> None:
    count = len(_alarm_names(template))
    said = re.findall(r"\b(\d+|[a-z]+) alarms\b", deploy)
    numbers = [int(n) if n.isdigit() else n for n in said]
    counted = [n for n in numbers if isinstance(n, int) or n in _WORDS.values()]
    assert counted, "docs/deploy.md never says how many alarms there are"
    assert all(n in (count, _WORDS[count]) for n in counted), (count, counted)
    listed = re.findall(r"`([A-Za-z]+)`", _section(CONTRACT.read_text(), "The stack and its events"))
    assert set(_alarm_names(template)) <= set(listed), "docs/contract.md lists every alarm"


def test_contract_outputs_exist(template: dict[str, Any]) -> None:
    stack = _section(CONTRACT.read_text(), "The stack and its events")
    outputs = stack.split("Outputs the command line and operators rely on:", 1)[1].split("\n- ", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Za-z]+)`", outputs)) - {"CentralFunctionRoleArns", "SemanticVersion"}
    assert named and named <= set(template["Outputs"]), named - set(template["Outputs"])
    assert "Version" in named


# --- what the deployer needs -------------------------------------------------------------------------------

# What CloudFormation's handlers call for each resource type the stack creates, for the properties this
# template sets (a subset of each handler's published permissions: no VPC, Kinesis, imports, replicas, ...).
DEPLOYER_NEEDS: dict[str, set[str]] = {
    "AWS::Lambda::Function": {
        "lambda:CreateFunction",
        "lambda:DeleteFunction",
        "lambda:GetFunction",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
        "lambda:PutFunctionConcurrency",
        "lambda:DeleteFunctionConcurrency",
        "lambda:TagResource",
        "iam:PassRole",
        "s3:GetObject",
    },
    "AWS::Lambda::LayerVersion": {"lambda:PublishLayerVersion", "lambda:DeleteLayerVersion", "s3:GetObject"},
    "AWS::Lambda::EventSourceMapping": {
        "lambda:CreateEventSourceMapping",
        "lambda:UpdateEventSourceMapping",
        "lambda:DeleteEventSourceMapping",
        "lambda:GetEventSourceMapping",
    },
    "AWS::Lambda::Permission": {"lambda:AddPermission", "lambda:RemovePermission"},
    "AWS::IAM::Role": {
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:GetRole",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:TagRole",
    },
    # The functions' runtime policies (logs, X-Ray) on their own roles.
    "AWS::IAM::Policy": {"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy"},
    "AWS::SQS::Queue": {
        "sqs:CreateQueue",
        "sqs:DeleteQueue",
        "sqs:GetQueueAttributes",
        "sqs:SetQueueAttributes",
    },
    "AWS::Events::Rule": {
        "events:PutRule",
        "events:DeleteRule",
        "events:DescribeRule",
        "events:PutTargets",
        "events:RemoveTargets",
    },
    "AWS::Logs::LogGroup": {"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy"},
    "AWS::SecretsManager::Secret": {
        "secretsmanager:CreateSecret",
        "secretsmanager:DeleteSecret",
        "secretsmanager:DescribeSecret",
    },
    "AWS::KMS::Key": {
        "kms:CreateKey",
        "kms:PutKeyPolicy",
        "kms:EnableKeyRotation",
        "kms:DescribeKey",
        "kms:ScheduleKeyDeletion",
    },
    "AWS::SNS::Topic": {
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetTopicAttributes",
        "sns:SetTopicAttributes",
    },
    "AWS::SNS::TopicPolicy": {"sns:SetTopicAttributes"},
    "AWS::SNS::Subscription": {"sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes"},
    "AWS::CloudWatch::Alarm": {
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DescribeAlarms",
    },
    "AWS::CloudWatch::Dashboard": {"cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"},
    "AWS::DynamoDB::Table": {
        "dynamodb:CreateTable",
        "dynamodb:UpdateTable",
        "dynamodb:DeleteTable",
        "dynamodb:DescribeTable",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:DescribeContinuousBackups",
        # The table's ResourcePolicy (CloudFormation creates, reads back and removes it).
        "dynamodb:PutResourcePolicy",
        "dynamodb:GetResourcePolicy",
        "dynamodb:DeleteResourcePolicy",
    },
}


def _created_types(template: dict[str, Any]) -> set[str]:
    """The CloudFormation resource types the stack creates, SAM's expanded as its transform does."""
    types: set[str] = set()
    for resource in template["Resources"].values():
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            types |= {"AWS::Lambda::Function", "AWS::IAM::Role"}
            for event in resource["Properties"].get("Events", {}).values():
                types |= {
                    "SQS": {"AWS::Lambda::EventSourceMapping"},
                    "Schedule": {"AWS::Events::Rule", "AWS::Lambda::Permission"},
                }[event["Type"]]
        elif kind == "AWS::Serverless::LayerVersion":
            types.add("AWS::Lambda::LayerVersion")
        else:
            types.add(kind)
    return types


def _documented_actions(deploy: str) -> set[str]:
    section = _section(deploy, "Permissions the deployer needs")
    actions: set[str] = set()
    for service, listed in re.findall(r"^- `([a-z0-9]+)`[^:]*: (.*?)(?=^- `|^\S|\Z)", section, re.M | re.S):
        actions |= {f"{service}:{action}" for action in re.findall(r"`([A-Z][A-Za-z]+)`", listed)}
    # Actions written with their service: `iam:PassRole`, `cloudformation:CreateChangeSet`.
    return actions | set(re.findall(r"`([a-z0-9]+:[A-Z][A-Za-z]+)`", section))


def test_the_deployers_permissions_cover_every_resource_type(template: dict[str, Any], deploy: str) -> None:
    created = _created_types(template)
    unknown = created - DEPLOYER_NEEDS.keys()
    assert not unknown, f"new resource types {unknown}: add what CloudFormation needs here and in deploy.md"
    documented = _documented_actions(deploy)
    for kind in sorted(created):
        missing = DEPLOYER_NEEDS[kind] - documented
        assert not missing, f"docs/deploy.md's deployer permissions lack {sorted(missing)} ({kind})"


# --- links -----------------------------------------------------------------------------------------------

DOCS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    ROOT / "SECURITY.md",
    *sorted((ROOT / "docs").glob("*.md")),
]


@pytest.mark.parametrize("document", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_in_the_repository_and_resolve(document: Path) -> None:
    text = document.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path = target.split("#", 1)[0]
        if not path:
            continue  # an anchor of this document
        resolved = (document.parent / path).resolve()
        assert resolved.is_relative_to(ROOT), f"{document.name} links {target}: outside the repository"
        assert resolved.exists(), f"{document.name} links {target}: no such file"
    assert "../shared/" not in text
