"""The IAM policy a function's role gets from template.yaml, resolved for one deployment: what `sam deploy`
would attach, so that the devstack's deployed roles hold exactly the shipped grants (and `certrotate doctor`
checks those, not something made up for the test).

It resolves the intrinsics the template's `Policies` use (`Ref`, `Fn::Sub` in both forms, `Fn::GetAtt`,
`Fn::If` over the template's `Conditions` with `Fn::Not`/`Fn::Equals`/`Fn::And`/`Fn::Or`, `AWS::NoValue`)
and SAM's `SQSSendMessagePolicy` template. SAM's managed policies (logs, X-Ray, the SQS poller) are left out:
they grant nothing certrotate's code calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.lambda_runner import CfnTag, Template

_NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Deployment:
    """What the intrinsics resolve to: the stack's account, region and partition, its parameters (unset:
    the template's defaults) and its resources' `Ref` and attributes (`{"LeaseTable": {"Arn": ...}}`)."""

    account: str
    region: str
    stack: str = "certrotate"
    partition: str = "aws"
    parameters: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


class Resolver:
    def __init__(self, template: Template, deployment: Deployment) -> None:
        self.template = template
        self.deployment = deployment
        self.conditions: dict[str, Any] = template.document.get("Conditions") or {}

    def ref(self, name: str) -> str:
        d = self.deployment
        pseudo = {
            "AWS::AccountId": d.account,
            "AWS::Region": d.region,
            "AWS::Partition": d.partition,
            "AWS::StackName": d.stack,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in d.parameters:
            return str(d.parameters[name])
        if name in self.template.parameters:
            return str(self.template.parameters[name].get("Default", ""))
        if name in d.resources and "Ref" in d.resources[name]:
            return str(d.resources[name]["Ref"])
        raise KeyError(f"no value for Ref {name}")

    def attribute(self, name: str, attribute: str) -> str:
        try:
            return str(self.deployment.resources[name][attribute])
        except KeyError:
            raise KeyError(f"no value for GetAtt {name}.{attribute}") from None

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                return str(self.resolve(variables[key]))
            if "." in key:
                return self.attribute(*key.split(".", 1))
            return self.ref(key)

        return _SUB.sub(one, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, CfnTag):
            return self._intrinsic(value.tag, value.value)
        if isinstance(value, dict):
            if len(value) == 1:
                (key,) = value
                if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                    return self._intrinsic(key.removeprefix("Fn::"), value[key])
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        return value

    def _intrinsic(self, tag: str, argument: Any) -> Any:
        if tag == "Ref":
            return _NO_VALUE if argument == "AWS::NoValue" else self.ref(argument)
        if tag == "GetAtt":
            name, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self.attribute(name, attribute)
        if tag == "Sub":
            if isinstance(argument, list):
                return self.sub(argument[0], argument[1])
            return self.sub(argument, {})
        if tag == "If":
            condition, yes, no = argument
            return self.resolve(yes if self.condition(condition) else no)
        if tag == "Condition":
            return self.condition(argument)
        if tag == "Equals":
            left, right = (self.resolve(a) for a in argument)
            return left == right
        if tag == "Not":
            return not self.resolve(argument[0])
        if tag == "And":
            return all(self.resolve(a) for a in argument)
        if tag == "Or":
            return any(self.resolve(a) for a in argument)
        raise ValueError(f"intrinsic {tag} is not resolved here")


def _sam_policy_template(name: str, arguments: Mapping[str, Any], resolver: Resolver) -> list[dict[str, Any]]:
    d = resolver.deployment
    if name == "SQSSendMessagePolicy":
        queue = resolver.resolve(arguments["QueueName"])
        return [
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage*"],
                "Resource": f"arn:{d.partition}:sqs:{d.region}:{d.account}:{queue}",
            }
        ]
    raise ValueError(f"SAM policy template {name} is not resolved here")


def function_policy(template: Template, function: str, deployment: Deployment) -> dict[str, Any]:
    """The function's `Policies` as one policy document."""
    resolver = Resolver(template, deployment)
    properties = template.resources[function]["Properties"]
    statements: list[dict[str, Any]] = []
    for entry in resolver.resolve(properties.get("Policies") or []):
        if not isinstance(entry, dict):
            continue  # a managed policy's name or ARN: SAM attaches it; nothing of certrotate's
        if "Statement" in entry:
            statements.extend(entry["Statement"])
            continue
        for name, arguments in entry.items():
            statements.extend(_sam_policy_template(name, arguments, resolver))
    return {"Version": "2012-10-17", "Statement": statements}
