"""The IAM roles a CloudFormation template deploys, with their policies as IAM would store them.

    roles = deployed_roles(load_template("template.yaml"), parameters={"ManagedAccounts": "111111111111"},
                           resources={"LeaseTable": PhysicalResource("leases", {"Arn": arn})})

Intrinsic functions are evaluated as CloudFormation does for the parameters given (defaults otherwise):
`Ref`, `Fn::Sub` (both forms), `Fn::GetAtt`, `Fn::If` with the template's `Conditions` (`Fn::Equals`, `Not`,
`And`, `Or`, `Condition`), `Fn::Join`, `Fn::Split`, `Fn::Select` and `AWS::NoValue`. A resource the roles
refer to is named by `resources` (what the test created: its table, its queue) or, failing that, given a name
made from the stack's name, as CloudFormation would.

Roles come from `AWS::IAM::Role` (inline `Policies`, `ManagedPolicyArns`) and from `AWS::IAM::Policy` /
`AWS::IAM::ManagedPolicy` resources that name them in `Roles`. A SAM function without its own `Role` would get
a role SAM generates, with managed policies SAM chooses: refused here (UnsupportedTemplate), so that every
permission the functions have is written in the template, where the evaluator and the reviewer both read it.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.lambda_runner import CfnTag, load_yaml

NO_VALUE = object()  # AWS::NoValue: the property (or list item) is removed


class UnsupportedTemplate(ValueError):
    pass


@dataclass(frozen=True)
class PhysicalResource:
    """What `Ref` returns for a resource, and its `Fn::GetAtt` attributes."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stack:
    """Where the template is deployed."""

    name: str = "certrotate"
    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"


@dataclass
class DeployedRole:
    logical_id: str
    name: str
    arn: str
    trust_policy: dict[str, Any]
    inline_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    managed_policy_arns: list[str] = field(default_factory=list)
    path: str = "/"

    def policies(self) -> list[dict[str, Any]]:
        return list(self.inline_policies.values())


def _long_form(value: Any) -> Any:
    """YAML short forms (`!Sub x`) as the JSON long forms CloudFormation reads (`{"Fn::Sub": x}`)."""
    if isinstance(value, CfnTag):
        name = value.tag if value.tag in ("Ref", "Condition") else f"Fn::{value.tag}"
        inner = _long_form(value.value)
        if value.tag == "GetAtt" and isinstance(inner, str):
            inner = inner.split(".", 1)
        return {name: inner}
    if isinstance(value, dict):
        return {k: _long_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_long_form(v) for v in value]
    return value


def load_template(path: str | Path) -> dict[str, Any]:
    document = _long_form(load_yaml(path))
    if not isinstance(document, dict):
        raise UnsupportedTemplate(f"{path} is not a template")
    return document


class Evaluator:
    """CloudFormation's intrinsic functions for one stack and one set of parameters."""

    def __init__(
        self,
        template: Mapping[str, Any],
        stack: Stack,
        parameters: Mapping[str, str] | None = None,
        resources: Mapping[str, PhysicalResource] | None = None,
    ) -> None:
        self.template = template
        self.stack = stack
        self.parameters = self._parameters(parameters or {})
        self.resources = dict(resources or {})
        self._conditions: dict[str, bool] = {}

    def _parameters(self, given: Mapping[str, str]) -> dict[str, Any]:
        declared = self.template.get("Parameters") or {}
        unknown = set(given) - set(declared)
        if unknown:
            raise UnsupportedTemplate(f"the template has no parameters {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            raw = given.get(name, spec.get("Default"))
            if raw is None:
                raise UnsupportedTemplate(f"parameter {name} has no value and no default")
            text = str(raw)
            pattern = spec.get("AllowedPattern")
            kind = str(spec.get("Type", "String"))
            items = (
                text.split(",") if kind.startswith("CommaDelimitedList") or kind.startswith("List<") else None
            )
            for item in items if items is not None else [text]:
                if pattern and not re.fullmatch(pattern, item):
                    raise UnsupportedTemplate(f"parameter {name}={item!r} does not match {pattern}")
            allowed = spec.get("AllowedValues")
            if allowed is not None and text not in [str(a) for a in allowed]:
                raise UnsupportedTemplate(f"parameter {name}={text!r} is not one of {allowed}")
            values[name] = items if items is not None else text
        return values

    # -- conditions ----

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise UnsupportedTemplate(f"unknown condition {name}")
            self._conditions[name] = bool(self.value(conditions[name]))
        return self._conditions[name]

    # -- values ----

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(v) for v in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, arg)] = node.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(arg)
        result = {}
        for key, item in node.items():
            evaluated = self.value(item)
            if evaluated is not NO_VALUE:
                result[key] = evaluated
        return result

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::If": self._if,
            "Fn::Equals": lambda a: self.value(a[0]) == self.value(a[1]),
            "Fn::Not": lambda a: not self.value(a[0]),
            "Fn::And": lambda a: all(self.value(x) for x in a),
            "Fn::Or": lambda a: any(self.value(x) for x in a),
            "Condition": self.condition,
            "Fn::Join": lambda a: str(self.value(a[0])).join(str(x) for x in self.value(a[1])),
            "Fn::Split": lambda a: str(self.value(a[1])).split(str(self.value(a[0]))),
            "Fn::Select": lambda a: self.value(a[1])[int(self.value(a[0]))],
        }

    def _pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.stack.account,
            "AWS::Region": self.stack.region,
            "AWS::Partition": self.stack.partition,
            "AWS::StackName": self.stack.name,
            "AWS::URLSuffix": self.stack.url_suffix,
            "AWS::NoValue": NO_VALUE,
        }.get(name)

    def _ref(self, name: str) -> Any:
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.parameters:
            return self.parameters[name]
        return self.physical(name).ref

    def _get_att(self, arg: Any) -> Any:
        logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else self.value(arg)
        physical = self.physical(logical_id)
        if attribute not in physical.attributes:
            raise UnsupportedTemplate(f"{logical_id}.{attribute} is not known to the devstack")
        return physical.attributes[attribute]

    def _if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.value(when_true if self.condition(name) else when_false)

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and self._pseudo(expression) is None and expression not in self.parameters:
                return str(self._get_att(expression))
            value = self._ref(expression)
            if isinstance(value, list):
                raise UnsupportedTemplate(f"${{{expression}}} is a list: Fn::Sub takes strings")
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # -- resources ----

    def physical(self, logical_id: str) -> PhysicalResource:
        if logical_id in self.resources:
            return self.resources[logical_id]
        resource = (self.template.get("Resources") or {}).get(logical_id)
        if resource is None:
            raise UnsupportedTemplate(f"unknown resource {logical_id}")
        physical = self._default_physical(logical_id, resource)
        self.resources[logical_id] = physical
        return physical

    def _default_physical(self, logical_id: str, resource: Mapping[str, Any]) -> PhysicalResource:
        """What CloudFormation would create when the test did not say: names from the stack's name."""
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        s = self.stack
        if kind == "AWS::IAM::Role":
            name = self.value(props["RoleName"]) if "RoleName" in props else f"{s.name}-{logical_id}-DEVSTACK"
            path = self.value(props.get("Path", "/"))
            arn = f"arn:{s.partition}:iam::{s.account}:role{path}{name}"
            return PhysicalResource(name, {"Arn": arn, "RoleId": f"AROA{zlib.crc32(arn.encode()):016d}"})
        if kind == "AWS::DynamoDB::Table":
            name = self.value(props.get("TableName", f"{s.name}-{logical_id}"))
            arn = f"arn:{s.partition}:dynamodb:{s.region}:{s.account}:table/{name}"
            return PhysicalResource(name, {"Arn": arn})
        if kind == "AWS::SQS::Queue":
            name = self.value(props.get("QueueName", f"{s.name}-{logical_id}"))
            url = f"https://sqs.{s.region}.{s.url_suffix}/{s.account}/{name}"
            arn = f"arn:{s.partition}:sqs:{s.region}:{s.account}:{name}"
            return PhysicalResource(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})
        if kind == "AWS::SecretsManager::Secret":
            name = self.value(props.get("Name", f"{s.name}-{logical_id}"))
            arn = f"arn:{s.partition}:secretsmanager:{s.region}:{s.account}:secret:{name}-DEVSTK"
            return PhysicalResource(arn, {"Id": arn, "Name": name})
        if kind == "AWS::Logs::LogGroup":
            name = self.value(props.get("LogGroupName", f"/aws/{s.name}/{logical_id}"))
            arn = f"arn:{s.partition}:logs:{s.region}:{s.account}:log-group:{name}:*"
            return PhysicalResource(name, {"Arn": arn})
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            name = f"{s.name}-{logical_id}"
            arn = f"arn:{s.partition}:lambda:{s.region}:{s.account}:function:{name}"
            return PhysicalResource(name, {"Arn": arn})
        if kind == "AWS::KMS::Key":
            key_id = f"{zlib.crc32(logical_id.encode()):012d}-devstack"
            arn = f"arn:{s.partition}:kms:{s.region}:{s.account}:key/{key_id}"
            return PhysicalResource(key_id, {"Arn": arn, "KeyId": key_id})
        return PhysicalResource(f"{s.name}-{logical_id}", {})


def _as_list(value: Any) -> list[Any]:
    if value is None or value is NO_VALUE:
        return []
    return list(value) if isinstance(value, list) else [value]


def deployed_roles(
    template: Mapping[str, Any],
    stack: Stack | None = None,
    parameters: Mapping[str, str] | None = None,
    resources: Mapping[str, PhysicalResource] | None = None,
) -> dict[str, DeployedRole]:
    """Every IAM role the template creates (conditions applied), keyed by logical ID."""
    evaluator = Evaluator(template, stack or Stack(), parameters, resources)
    all_resources: Mapping[str, Any] = template.get("Resources") or {}
    roles: dict[str, DeployedRole] = {}
    for logical_id, resource in all_resources.items():
        if "Condition" in resource and not evaluator.condition(resource["Condition"]):
            continue
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        if kind == "AWS::Serverless::Function" and "Role" not in props:
            raise UnsupportedTemplate(
                f"{logical_id} has no Role: SAM would generate one with managed policies of its choice "
                "(AWSLambdaBasicExecutionRole, the SQS poller's every-queue AWSLambdaSQSQueueExecutionRole); "
                "give it an explicit AWS::IAM::Role"
            )
        if kind != "AWS::IAM::Role":
            continue
        physical = evaluator.physical(logical_id)
        evaluated = evaluator.value(props)
        role = DeployedRole(
            logical_id=logical_id,
            name=physical.ref,
            arn=physical.attributes["Arn"],
            trust_policy=evaluated["AssumeRolePolicyDocument"],
            managed_policy_arns=[str(a) for a in _as_list(evaluated.get("ManagedPolicyArns"))],
            path=str(evaluated.get("Path", "/")),
        )
        for policy in _as_list(evaluated.get("Policies")):
            role.inline_policies[str(policy["PolicyName"])] = policy["PolicyDocument"]
        roles[logical_id] = role
    by_name = {role.name: role for role in roles.values()}
    for logical_id, resource in all_resources.items():
        if resource.get("Type") not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        if "Condition" in resource and not evaluator.condition(resource["Condition"]):
            continue
        props = evaluator.value(resource.get("Properties") or {})
        name = str(props.get("PolicyName") or props.get("ManagedPolicyName") or logical_id)
        for role_name in _as_list(props.get("Roles")):
            if role_name in by_name:
                by_name[role_name].inline_policies[name] = props["PolicyDocument"]
    return roles


def deployed_table_policies(
    template: Mapping[str, Any],
    stack: Stack | None = None,
    parameters: Mapping[str, str] | None = None,
    resources: Mapping[str, PhysicalResource] | None = None,
) -> dict[str, dict[str, Any]]:
    """The resource-based policies of the template's DynamoDB tables (`ResourcePolicy.PolicyDocument`,
    conditions applied), keyed by the table's ARN, as DynamoDB holds them once the stack is deployed.
    `resources` as for deployed_roles: the roles the policies name get the same ARNs there."""
    evaluator = Evaluator(template, stack or Stack(), parameters, resources)
    documents: dict[str, dict[str, Any]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        if "Condition" in resource and not evaluator.condition(resource["Condition"]):
            continue
        policy = (resource.get("Properties") or {}).get("ResourcePolicy")
        if policy is None:
            continue
        document = evaluator.value(policy).get("PolicyDocument")
        if isinstance(document, dict):
            documents[evaluator.physical(logical_id).attributes["Arn"]] = document
    return documents


def deployed_policies(
    template: Mapping[str, Any],
    stack: Stack | None = None,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The documents of the template's AWS::IAM::ManagedPolicy resources (conditions applied), by name."""
    evaluator = Evaluator(template, stack or Stack(), parameters)
    documents: dict[str, dict[str, Any]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::IAM::ManagedPolicy":
            continue
        if "Condition" in resource and not evaluator.condition(resource["Condition"]):
            continue
        props = evaluator.value(resource.get("Properties") or {})
        documents[str(props.get("ManagedPolicyName") or logical_id)] = props["PolicyDocument"]
    return documents


def policy_size(document: Mapping[str, Any]) -> int:
    """Characters IAM counts against its quotas (whitespace outside strings does not count)."""
    return len(json.dumps(document, separators=(",", ":")))
