"""certrotate doctor: what to ask iam:SimulatePrincipalPolicy about a deployed role, one check per action the
principal's calls need (calls.py), on the resources the deployment names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from certrotate.permissions.calls import Principal, actions


@dataclass(frozen=True)
class Names:
    """What a deployed stack is called, as one function's settings say: enough to name the resources its role
    acts on. An empty name is a resource not configured (no event bus: no events), not checked."""

    partition: str
    account: str
    region: str
    lease_table: str = ""
    queue_name: str = ""
    secret_name: str = ""
    event_bus: str = "default"
    eab_secret_name: str = ""
    member_role_name: str = ""  # the member role this function assumes (its own MEMBER_ROLE_NAME)
    managed_accounts: tuple[str, ...] = ()  # MANAGED_ACCOUNTS
    dns_accounts: tuple[str, ...] = ()  # the accounts DNS_ACCOUNTS sends DNS-01 to


@dataclass(frozen=True)
class Check:
    """One question for iam:SimulatePrincipalPolicy (ActionNames, ResourceArns, ContextEntries)."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_MANAGED = {"aws:ResourceTag/certrotate:managed": ("true",)}


def _resource_checks(names: Names) -> dict[str, Check]:
    """A representative resource (and the context a real call carries) for each action the roles need."""
    p, a, r = names.partition, names.account, names.region
    certificate = f"arn:{p}:iam::{a}:server-certificate/certrotate-doctor"
    listener = f"arn:{p}:elasticloadbalancing:{r}:{a}:listener/app/certrotate-doctor/0/0"
    rule = f"arn:{p}:elasticloadbalancing:{r}:{a}:listener-rule/app/certrotate-doctor/0/0/0"
    distribution = f"arn:{p}:cloudfront::{a}:distribution/CERTROTATEDOCTOR"
    acm = f"arn:{p}:acm:{r}:{a}:certificate/00000000-0000-0000-0000-000000000000"
    zone = f"arn:{p}:route53:::hostedzone/CERTROTATEDOCTOR"
    queue = f"arn:{p}:sqs:{r}:{a}:{names.queue_name}"
    secret = f"arn:{p}:secretsmanager:{r}:{a}:secret:{names.secret_name}-AbCdEf"
    dns_change = {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": (
            "_acme-challenge.certrotate-doctor.example",
        ),
        "route53:ChangeResourceRecordSetsRecordTypes": ("TXT",),
        "route53:ChangeResourceRecordSetsActions": ("CREATE",),
    }
    challenge = {"aws:RequestTag/certrotate:challenge": ("doctor",), "aws:TagKeys": ("certrotate:challenge",)}
    return {
        "iam:GetServerCertificate": Check("iam:GetServerCertificate", certificate),
        "iam:ListServerCertificateTags": Check("iam:ListServerCertificateTags", certificate),
        "iam:UploadServerCertificate": Check(
            "iam:UploadServerCertificate", certificate, {"aws:RequestTag/certrotate:managed": ("true",)}
        ),
        "iam:TagServerCertificate": Check(
            "iam:TagServerCertificate", certificate, {**_MANAGED, "aws:TagKeys": ("certrotate:renewal",)}
        ),
        "iam:UntagServerCertificate": Check("iam:UntagServerCertificate", certificate, _MANAGED),
        "iam:DeleteServerCertificate": Check("iam:DeleteServerCertificate", certificate, _MANAGED),
        "elasticloadbalancing:ModifyListener": Check("elasticloadbalancing:ModifyListener", listener),
        "elasticloadbalancing:AddListenerCertificates": Check(
            "elasticloadbalancing:AddListenerCertificates", listener
        ),
        "elasticloadbalancing:RemoveListenerCertificates": Check(
            "elasticloadbalancing:RemoveListenerCertificates", listener
        ),
        "elasticloadbalancing:SetLoadBalancerListenerSSLCertificate": Check(
            "elasticloadbalancing:SetLoadBalancerListenerSSLCertificate",
            f"arn:{p}:elasticloadbalancing:{r}:{a}:loadbalancer/certrotate-doctor",
        ),
        "elasticloadbalancing:CreateRule": Check("elasticloadbalancing:CreateRule", listener, challenge),
        "elasticloadbalancing:AddTags": Check(
            "elasticloadbalancing:AddTags",
            rule,
            {**challenge, "elasticloadbalancing:CreateAction": ("CreateRule",)},
        ),
        "elasticloadbalancing:DeleteRule": Check(
            "elasticloadbalancing:DeleteRule", rule, {"aws:ResourceTag/certrotate:challenge": ("doctor",)}
        ),
        "cloudfront:GetDistribution": Check("cloudfront:GetDistribution", distribution),
        "cloudfront:GetDistributionConfig": Check("cloudfront:GetDistributionConfig", distribution),
        "cloudfront:UpdateDistribution": Check("cloudfront:UpdateDistribution", distribution),
        "route53:ListResourceRecordSets": Check("route53:ListResourceRecordSets", zone),
        "route53:ChangeResourceRecordSets": Check("route53:ChangeResourceRecordSets", zone, dns_change),
        "route53:GetChange": Check("route53:GetChange", f"arn:{p}:route53:::change/CERTROTATEDOCTOR"),
        "acm:DescribeCertificate": Check("acm:DescribeCertificate", acm),
        "acm:GetCertificate": Check("acm:GetCertificate", acm),
        "acm:ListTagsForCertificate": Check("acm:ListTagsForCertificate", acm),
        "acm:ImportCertificate": Check("acm:ImportCertificate", acm, _MANAGED),
        "acm:AddTagsToCertificate": Check(
            "acm:AddTagsToCertificate", acm, {**_MANAGED, "aws:TagKeys": ("certrotate:renewal",)}
        ),
        "acm:RemoveTagsFromCertificate": Check("acm:RemoveTagsFromCertificate", acm, _MANAGED),
        "sqs:SendMessage": Check("sqs:SendMessage", queue),
        "sqs:ReceiveMessage": Check("sqs:ReceiveMessage", queue),
        "sqs:DeleteMessage": Check("sqs:DeleteMessage", queue),
        "sqs:GetQueueAttributes": Check("sqs:GetQueueAttributes", queue),
        "secretsmanager:GetSecretValue": Check("secretsmanager:GetSecretValue", secret),
        "secretsmanager:PutSecretValue": Check("secretsmanager:PutSecretValue", secret),
        "secretsmanager:CreateSecret": Check("secretsmanager:CreateSecret", secret),
        "events:PutEvents": Check(
            "events:PutEvents",
            f"arn:{p}:events:{r}:{a}:event-bus/{names.event_bus}",
            {"events:source": ("certrotate",)},
        ),
    }


# The lease table's items each principal reads or writes, by the first key each kind of item has
# (docs/contract.md, the lease table): a lease is keyed by a certificate ("web"), any other kind "#<kind>...".
_TABLE_ITEM_KEYS: Mapping[Principal, Mapping[str, tuple[str, ...]]] = {
    Principal.SCAN: {
        "dynamodb:GetItem": ("#scan-index", "#progress:web"),
        "dynamodb:PutItem": ("#scan-index",),
    },
    Principal.ROTATE: {
        "dynamodb:GetItem": (
            "#scan-index",
            "#progress:web",
            "#challenges:web",
            "#issued:web",
            "#dns-batch:Z0:b",
        ),
        "dynamodb:PutItem": ("web", "#progress:web", "#issued:web", "#acme-account", "#dns-batch:Z0:b"),
        "dynamodb:UpdateItem": ("web", "#challenges:web", "#dns-batch:Z0", "#dns-batch:Z0:b"),
        "dynamodb:DeleteItem": ("web", "#progress:web", "#challenges:web", "#issued:web"),
    },
}


def checks(principal: Principal, names: Names) -> list[Check]:
    """What to ask iam:SimulatePrincipalPolicy about a deployed role of `principal`, one Check per action its
    calls need, on the resources the deployment names; sts:AssumeRole once per member account the function
    works in. KMS and what UpdateDistribution checks on the caller's behalf depend on what the account holds
    (a customer managed key, web ACLs, edge functions): left out."""
    by_action = _resource_checks(names)
    table = f"arn:{names.partition}:dynamodb:{names.region}:{names.account}:table/{names.lease_table}"
    result: list[Check] = []
    for action in sorted(actions(principal)):
        if action.startswith(("kms:", "sts:", "wafv2:", "waf:", "lambda:GetFunction", "lambda:Enable")):
            continue
        configured = {"events": names.event_bus, "dynamodb": names.lease_table, "sqs": names.queue_name}
        if not configured.get(action.split(":", 1)[0], "-"):
            continue  # not configured: the code makes no such call
        if action.startswith("dynamodb:"):
            for key in _TABLE_ITEM_KEYS.get(principal, {}).get(action, ("web",)):
                result.append(Check(action, table, {"dynamodb:LeadingKeys": (key,)}))
            continue
        result.append(by_action.get(action, Check(action, "*")))
    if principal is Principal.ROTATE and names.eab_secret_name:
        eab = f"arn:{names.partition}:secretsmanager:{names.region}:{names.account}:secret:"
        result.append(Check("secretsmanager:GetSecretValue", f"{eab}{names.eab_secret_name}-AbCdEf"))
    result.extend(_assume_role_checks(principal, names))
    return result


def _assume_role_checks(principal: Principal, names: Names) -> list[Check]:
    """The scan assumes its member role in each managed account, the rotation its own in each managed and
    DNS account (adapters/aws/accounts.py); never in the function's own account."""
    if principal is Principal.SCAN:
        accounts = names.managed_accounts
    elif principal is Principal.ROTATE:
        accounts = (*names.managed_accounts, *names.dns_accounts)
    else:
        return []
    return [
        Check(
            "sts:AssumeRole",
            f"arn:{names.partition}:iam::{account}:role/{names.member_role_name}",
            {"aws:ResourceAccount": (account,)},
        )
        for account in sorted(set(accounts) - {names.account})
        if names.member_role_name
    ]


# The central stack's outputs naming each function's role: what `certrotate doctor` simulates, with checks().
ROLE_OUTPUTS: Mapping[str, Principal] = {
    "ScanFunctionRoleArn": Principal.SCAN,
    "RotateFunctionRoleArn": Principal.ROTATE,
}
