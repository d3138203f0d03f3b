"""The action map (certrotate.permissions) and the shipped policies agree: every action granted is needed by a
call the code makes (or by AWS itself on the role's behalf), every action needed is granted, and each action
and condition key is one the Service Authorization Reference lists for it (policy_sentry's copy of it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from certrotate import permissions
from certrotate.permissions import Names, Principal
from policy_sentry.querying.actions import get_action_data

from devstack import cfn
from devstack.iam_enforcement import MEMBER_TEMPLATE, OPERATOR_TEMPLATE, TEMPLATE
from devstack.iam_policy import Request, action_matches, evaluate

# Every optional statement present: many accounts, DNS accounts, EAB, a customer managed key, events.
EVERYTHING = {
    "ManagedAccounts": "111111111111,222222222222",
    "DnsAccounts": "*=333333333333",
    "AcmeEabSecretName": "eab",
    "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "EventBusName": "default",
}
MEMBER_PARAMETERS = {
    "CentralAccountId": "123456789012",
    "CentralFunctionRoleArns": "arn:aws:iam::123456789012:role/scan,arn:aws:iam::123456789012:role/rotate",
    "OperatorRoleArns": "arn:aws:iam::123456789012:role/operator",
}
# The operator's optional statements present: member and DNS accounts to read, an EAB secret, a KMS key.
OPERATOR_PARAMETERS = {
    "ManagedAccounts": "111111111111,222222222222",
    "AcmeEabSecretName": "eab",
    "DnsAccountIds": "333333333333",
    "KmsKeyArn": EVERYTHING["KmsKeyArn"],
}
# Granted although no call of the code needs it, and why.
GRANTED_FOR_PEOPLE = {
    # docs/deploy.md: operators opt certificates in by tagging them (aws iam tag-server-certificate).
    (Principal.OPERATOR, "iam:TagServerCertificate"),
}
# What AWS accepts without any policy.
NEEDS_NO_POLICY = {"sts:GetCallerIdentity"}


def _statements(documents: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        s
        for d in documents
        for s in (d["Statement"] if isinstance(d["Statement"], list) else [d["Statement"]])
    ]


def _actions(statement: Mapping[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _granted() -> dict[Principal, list[Mapping[str, Any]]]:
    central = cfn.deployed_roles(cfn.load_template(TEMPLATE), parameters=EVERYTHING)
    managed = cfn.deployed_roles(
        cfn.load_template(MEMBER_TEMPLATE), cfn.Stack(account="111111111111"), MEMBER_PARAMETERS
    )
    dns_only = cfn.deployed_roles(
        cfn.load_template(MEMBER_TEMPLATE),
        cfn.Stack(account="333333333333"),
        {**MEMBER_PARAMETERS, "AccountPurpose": "dns-only"},
    )
    operator = cfn.deployed_policies(cfn.load_template(OPERATOR_TEMPLATE), parameters=OPERATOR_PARAMETERS)
    return {
        Principal.SCAN: _statements(central["ScanFunctionRole"].policies()),
        Principal.ROTATE: _statements(central["RotateFunctionRole"].policies()),
        Principal.MEMBER_SCAN: _statements(managed["MemberScanRole"].policies()),
        Principal.MEMBER_ROTATE: _statements(managed["MemberRole"].policies()),
        Principal.MEMBER_DNS: _statements(dns_only["MemberRole"].policies()),
        Principal.OPERATOR: _statements(operator.values()),
        Principal.MEMBER_READ: _statements(managed["MemberReadRole"].policies()),
        Principal.MEMBER_DNS_READ: _statements(dns_only["MemberReadRole"].policies()),
    }


GRANTED = _granted()


@pytest.mark.parametrize("principal", list(Principal))
def test_every_action_granted_is_used_by_a_call_of_the_code(principal: Principal) -> None:
    needed = permissions.actions(principal) | permissions.RUNTIME_ACTIONS
    unused = sorted(
        action
        for statement in GRANTED[principal]
        for action in _actions(statement)
        if not any(action_matches(action, n) for n in needed)
        and (principal, action) not in GRANTED_FOR_PEOPLE
    )
    assert unused == [], f"{principal} is granted actions no call needs (remove them, or list why)"


@pytest.mark.parametrize("principal", list(Principal))
def test_every_action_a_call_needs_is_granted(principal: Principal) -> None:
    granted = [a for s in GRANTED[principal] if s["Effect"] == "Allow" for a in _actions(s)]
    missing = sorted(
        n
        for n in permissions.actions(principal) - NEEDS_NO_POLICY
        if not any(action_matches(g, n) for g in granted)
    )
    assert missing == []


def test_the_runtime_of_each_function_may_log_and_trace() -> None:
    for principal in (Principal.SCAN, Principal.ROTATE):
        granted = {a for s in GRANTED[principal] for a in _actions(s)}
        assert granted >= permissions.RUNTIME_ACTIONS


def _sar(action: str) -> list[dict[str, Any]]:
    service, name = action.split(":", 1)
    data = get_action_data(service, name.rstrip("*"))
    return list(data.get(service, [])) if data else []


@pytest.mark.parametrize("principal", list(Principal))
def test_every_action_and_condition_key_is_in_the_service_authorization_reference(
    principal: Principal,
) -> None:
    problems = []
    for statement in GRANTED[principal]:
        for action in _actions(statement):
            entries = _sar(action)
            if not entries:
                problems.append(f"{action}: no such action")
                continue
            supported = {k.split("${", 1)[0] for e in entries for k in e["condition_keys"]}
            for keys in (statement.get("Condition") or {}).values():
                for key in keys:
                    if key.startswith(("aws:ResourceAccount", "aws:PrincipalArn")):
                        continue  # global keys, in every request context that has them
                    stem = key.split("/", 1)[0] + "/" if "/" in key else key
                    if stem not in supported:
                        problems.append(f"{action}: condition key {key} is not one the action supports")
    assert problems == []


@pytest.mark.parametrize("principal", list(Principal))
def test_every_call_maps_to_an_action_aws_knows(principal: Principal) -> None:
    unknown = [a for a in permissions.actions(principal) if not _sar(a)]
    assert unknown == []


def test_policies_fit_iam_quotas() -> None:
    # Inline policies of a role: 10,240 characters together; a managed policy: 6,144 (IAM and STS quotas).
    central = cfn.deployed_roles(cfn.load_template(TEMPLATE), parameters=EVERYTHING)
    member = cfn.deployed_roles(cfn.load_template(MEMBER_TEMPLATE), cfn.Stack(), MEMBER_PARAMETERS)
    for role in [*central.values(), *member.values()]:
        assert sum(cfn.policy_size(d) for d in role.policies()) <= 10_240, role.logical_id
    operator = cfn.deployed_policies(cfn.load_template(OPERATOR_TEMPLATE), parameters=OPERATOR_PARAMETERS)
    for document in operator.values():
        assert cfn.policy_size(document) <= 6_144


def test_doctor_gets_a_check_for_every_action_of_a_deployed_role() -> None:
    names = Names("aws", "123456789012", "us-east-1", "leases", "rotation.fifo", "certrotate/acme-account")
    rotate = {c.action: c for c in permissions.checks(Principal.ROTATE, names)}
    assert rotate["iam:UploadServerCertificate"].context == {"aws:RequestTag/certrotate:managed": ("true",)}
    assert rotate["dynamodb:PutItem"].resource == "arn:aws:dynamodb:us-east-1:123456789012:table/leases"
    assert rotate["route53:ChangeResourceRecordSets"].context[
        "route53:ChangeResourceRecordSetsRecordTypes"
    ] == ("TXT",)
    scan_checks = permissions.checks(Principal.SCAN, names)
    scan = {c.action: c for c in scan_checks}
    # One check per kind of item an action reaches: the scan reads its index and rotations' progress records.
    assert [c.context for c in scan_checks if c.action == "dynamodb:GetItem"] == [
        {"dynamodb:LeadingKeys": ("#scan-index",)},
        {"dynamodb:LeadingKeys": ("#progress:web",)},
    ]
    assert "iam:UploadServerCertificate" not in scan
    assert all(c.resource for c in [*rotate.values(), *scan.values()])


def _doctor_names(**overrides: Any) -> Names:
    """What doctor reads from a stack deployed with EVERYTHING (cfn's default physical names)."""
    fields: dict[str, Any] = {
        "partition": "aws",
        "account": "123456789012",
        "region": "us-east-1",
        "lease_table": "certrotate-LeaseTable",
        "queue_name": "certrotate-rotation.fifo",
        "secret_name": "certrotate/acme-account",
        "event_bus": "default",
        "eab_secret_name": "eab",
        "managed_accounts": ("111111111111", "222222222222"),
        "dns_accounts": ("333333333333",),
    }
    return Names(**(fields | overrides))


@pytest.mark.parametrize(
    ("principal", "role", "member_role"),
    [
        (Principal.SCAN, "ScanFunctionRole", "certrotate-member-scan"),
        (Principal.ROTATE, "RotateFunctionRole", "certrotate-member"),
    ],
)
def test_what_doctor_simulates_the_shipped_roles_allow(
    principal: Principal, role: str, member_role: str
) -> None:
    """doctor quiet on a healthy stack is a property of the map and the template: every check of a deployed
    role, on the resources its deployment names, is allowed by that role's policies (the local stack's
    evaluator, which also answers SimulatePrincipalPolicy)."""
    policies = cfn.deployed_roles(cfn.load_template(TEMPLATE), parameters=EVERYTHING)[role].policies()
    found = permissions.checks(principal, _doctor_names(member_role_name=member_role))
    refused = [c for c in found if not evaluate(policies, Request(c.action, c.resource, c.context)).allowed]
    assert refused == []
    assumed = sorted(c.resource.split(":")[4] for c in found if c.action == "sts:AssumeRole")
    assert assumed == (
        ["111111111111", "222222222222"]
        if principal is Principal.SCAN
        else ["111111111111", "222222222222", "333333333333"]
    )


def test_doctor_checks_only_what_the_deployment_configures() -> None:
    bare = permissions.checks(
        Principal.ROTATE,
        _doctor_names(event_bus="", eab_secret_name="", managed_accounts=(), dns_accounts=()),
    )
    assert not [c for c in bare if c.action in ("events:PutEvents", "sts:AssumeRole")]
    assert [c.resource for c in bare if c.action == "secretsmanager:GetSecretValue"] == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:certrotate/acme-account-AbCdEf"
    ]
    # The function's own account is never assumed into, even when listed.
    own = permissions.checks(
        Principal.SCAN,
        _doctor_names(managed_accounts=("123456789012",), member_role_name="certrotate-member-scan"),
    )
    assert not [c for c in own if c.action == "sts:AssumeRole"]
