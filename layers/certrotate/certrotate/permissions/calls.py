"""Which AWS call needs which IAM permission, and which calls each of certrotate's principals makes: the one
action map (COORDINATION.md). Calls are named as boto3 names the service (`elbv2`, `route53`) and as the API
names the operation (`ChangeResourceRecordSets`): what the devstack sees on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

Call = tuple[str, str]  # (boto3 service name, API operation name)

# boto3 service name -> IAM service prefix, where they differ.
_PREFIX = {"elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing"}

# API operations authorised by an action of another name.
_ACTIONS: Mapping[Call, tuple[str, ...]] = {
    ("sqs", "SendMessageBatch"): ("sqs:SendMessage",),
    ("sqs", "DeleteMessageBatch"): ("sqs:DeleteMessage",),
    ("sqs", "ChangeMessageVisibilityBatch"): ("sqs:ChangeMessageVisibility",),
    ("lambda", "Invoke"): ("lambda:InvokeFunction",),
}

# Calls AWS answers for anyone: "No permissions are required to perform this operation" (GetCallerIdentity).
UNAUTHORISED_CALLS: frozenset[Call] = frozenset({("sts", "GetCallerIdentity")})


def actions_for(service: str, operation: str) -> tuple[str, ...]:
    """The IAM action(s) that authorise one API call."""
    return _ACTIONS.get((service, operation), (f"{_PREFIX.get(service, service)}:{operation}",))


class Principal(StrEnum):
    """Who makes calls: the two functions (central account), their member roles (member-role.yaml) in a
    managed account, the rotation's member role in a DNS-only account, the operator's command line
    (operator-policy.yaml) and the read-only role it assumes in a managed account (`--account`) or, to list
    the zones DNS-01 would use there, in a DNS-only account."""

    SCAN = "scan"
    ROTATE = "rotate"
    MEMBER_SCAN = "member-scan"
    MEMBER_ROTATE = "member-rotate"
    MEMBER_DNS = "member-dns"
    OPERATOR = "operator"
    MEMBER_READ = "member-read"
    MEMBER_DNS_READ = "member-dns-read"


# What the scan does in an account it scans (its own, or a member account through MemberScanRole).
_SCAN_IN_ACCOUNT: frozenset[Call] = frozenset(
    {
        ("iam", "ListServerCertificates"),  # adapters/aws/iam.py list_certificates
        ("iam", "GetAccountSummary"),  # room(): the quota metrics
        ("iam", "GetServerCertificate"),  # get(), pem(): the body, to read names and the key
        ("iam", "ListServerCertificateTags"),  # tags_of()
        ("iam", "TagServerCertificate"),  # the renewal time learnt (certrotate:renewal)
        ("iam", "DeleteServerCertificate"),  # retirement
        ("elbv2", "DescribeLoadBalancers"),  # adapters/aws/elb.py: is a replaced certificate still served?
        ("elbv2", "DescribeListeners"),
        ("elbv2", "DescribeListenerCertificates"),
        ("elb", "DescribeLoadBalancers"),
        ("ec2", "DescribeRegions"),  # adapters/aws/regions.py
        ("cloudfront", "ListDistributions"),  # adapters/aws/cloudfront.py discover
        ("cloudfront", "GetDistributionConfig"),  # read
        ("acm", "ListCertificates"),  # adapters/aws/acm.py
        ("acm", "ListTagsForCertificate"),
        ("acm", "GetCertificate"),
        ("acm", "AddTagsToCertificate"),  # the renewal time learnt
    }
)

# What a rotation does in the account of the certificate (its own, or a member account through MemberRole).
# A rollback (the rotate function's `{"action": "rollback"}`, rollback/service.py) makes a subset of these
# calls: it reads both certificates, tags and untags them (the hold), moves listeners, Classic listeners and
# distributions back, under the leases and with an event.
_ROTATE_IN_ACCOUNT: frozenset[Call] = frozenset(
    {
        ("iam", "ListServerCertificates"),
        ("iam", "GetAccountSummary"),  # the quota, before ordering
        ("iam", "GetServerCertificate"),
        ("iam", "ListServerCertificateTags"),
        ("iam", "UploadServerCertificate"),
        ("iam", "TagServerCertificate"),
        ("iam", "UntagServerCertificate"),
        ("iam", "DeleteServerCertificate"),
        ("elbv2", "DescribeLoadBalancers"),
        ("elbv2", "DescribeListeners"),
        ("elbv2", "DescribeListenerCertificates"),
        ("elbv2", "ModifyListener"),
        ("elbv2", "AddListenerCertificates"),
        ("elbv2", "RemoveListenerCertificates"),
        ("elbv2", "DescribeRules"),  # adapters/aws/alb_rules.py: HTTP-01 rules
        ("elbv2", "DescribeTags"),
        ("elbv2", "DescribeAccountLimits"),  # adapters/aws/alb_rules.py: the rules-per-ALB quota
        ("elbv2", "CreateRule"),
        ("elbv2", "DeleteRule"),
        ("elb", "DescribeLoadBalancers"),
        ("elb", "SetLoadBalancerListenerSSLCertificate"),
        ("ec2", "DescribeRegions"),
        ("cloudfront", "ListDistributions"),
        ("cloudfront", "GetDistributionConfig"),
        ("cloudfront", "UpdateDistribution"),
        ("cloudfront", "GetDistribution"),  # adapters/aws/addresses.py: the endpoint check's address
        ("acm", "ListCertificates"),
        ("acm", "DescribeCertificate"),
        ("acm", "GetCertificate"),
        ("acm", "ListTagsForCertificate"),
        ("acm", "ImportCertificate"),  # re-import in place
        ("acm", "AddTagsToCertificate"),
        ("acm", "RemoveTagsFromCertificate"),
    }
)

# DNS-01 in the account whose Route 53 answers (the certificate's, or DNS_ACCOUNTS').
_DNS_IN_ACCOUNT: frozenset[Call] = frozenset(
    {
        ("route53", "ListHostedZones"),  # adapters/aws/route53.py: the zone of each name
        ("route53", "ListResourceRecordSets"),
        ("route53", "ChangeResourceRecordSets"),
        ("route53", "GetChange"),
    }
)

# What only the central account holds: the queue, the lease table, the account key, the events.
_SCAN_CENTRAL: frozenset[Call] = frozenset(
    {
        ("sqs", "SendMessageBatch"),  # adapters/aws/queue.py
        ("dynamodb", "GetItem"),  # adapters/lease_table/: scan_index.py; progress.py (claims checked)
        ("dynamodb", "PutItem"),
        ("events", "PutEvents"),  # adapters/aws/events.py
        ("sts", "AssumeRole"),  # adapters/aws/accounts.py: MemberScanRole of each managed account
        ("sts", "GetCallerIdentity"),  # wiring.own_account_id
    }
)
_ROTATE_CENTRAL: frozenset[Call] = frozenset(
    {
        ("sqs", "ReceiveMessage"),  # Lambda's SQS poller, with the function's role
        ("sqs", "DeleteMessage"),
        ("sqs", "GetQueueAttributes"),
        # adapters/lease_table/: leases.py; progress.py; the #acme-account claim; a DNS-01 batch's status
        ("dynamodb", "PutItem"),
        # adapters/lease_table/: leases, challenge_records, dns_batches (join, open, close, a batch's status)
        ("dynamodb", "UpdateItem"),
        ("dynamodb", "DeleteItem"),
        # adapters/lease_table/: progress, challenge_records, issued_stash, scan_index, dns_batches
        ("dynamodb", "GetItem"),
        ("secretsmanager", "GetSecretValue"),  # adapters/aws/secrets.py: the account key (and the EAB key)
        ("secretsmanager", "PutSecretValue"),
        ("secretsmanager", "CreateSecret"),
        ("events", "PutEvents"),
        ("sts", "AssumeRole"),  # MemberRole of each managed and DNS account
        ("sts", "GetCallerIdentity"),
    }
)

# The operator's command line (certrotate_cli) in the account it reads: its own, or a managed account through
# member-role.yaml's read role (`--account`). status, plan, verify and doctor read what the functions read.
_OPERATOR_IN_ACCOUNT: frozenset[Call] = frozenset(
    {
        ("iam", "ListServerCertificates"),  # inventory.collect
        ("iam", "GetServerCertificate"),  # each certificate, its tags and body in one call (store.read)
        ("iam", "ListServerCertificateTags"),  # verify: store.tags_of_many
        ("iam", "GetAccountSummary"),  # doctor: the IAM server certificate quota
        ("elbv2", "DescribeLoadBalancers"),  # the endpoints serving each certificate
        ("elbv2", "DescribeListeners"),
        ("elbv2", "DescribeListenerCertificates"),
        ("elbv2", "DescribeRules"),  # plan, doctor: HTTP-01's port-80 listeners and their rules
        ("elb", "DescribeLoadBalancers"),
        ("ec2", "DescribeRegions"),
        ("cloudfront", "ListDistributions"),
        ("cloudfront", "GetDistribution"),  # verify: a distribution's address
        ("route53", "ListHostedZones"),  # plan, doctor: which names have a zone
        ("acm", "ListCertificates"),  # status, plan, doctor: ACM imported certificates
        ("acm", "ListTagsForCertificate"),
        ("acm", "GetCertificate"),
    }
)
# What only the central account answers: the stack, the functions, their roles, the EAB secret.
_OPERATOR_CENTRAL: frozenset[Call] = frozenset(
    {
        ("cloudformation", "DescribeStacks"),  # the stack's outputs
        ("lambda", "GetFunctionConfiguration"),  # the deployed functions' settings, timeout and role
        ("lambda", "Invoke"),  # rotate, rollback, doctor's dry-run scan (ManagedAccounts)
        ("iam", "SimulatePrincipalPolicy"),  # doctor: the functions' roles against checks()
        ("secretsmanager", "DescribeSecret"),  # doctor: the EAB secret exists (a CA requiring EAB)
        # status, plan, doctor: rotations' progress records (check.verifier.ClaimVerifier)
        ("dynamodb", "GetItem"),
        ("sts", "AssumeRole"),  # --account, and a DNS account's zones: member-role.yaml's read role
        ("sts", "GetCallerIdentity"),
    }
)
# The read role in a DNS-only account (DNS_ACCOUNTS): plan and doctor list the zones DNS-01 would use there.
_OPERATOR_IN_DNS_ACCOUNT: frozenset[Call] = frozenset({("route53", "ListHostedZones")})

CALLS: Mapping[Principal, frozenset[Call]] = {
    Principal.SCAN: _SCAN_IN_ACCOUNT | _SCAN_CENTRAL,
    Principal.ROTATE: _ROTATE_IN_ACCOUNT | _DNS_IN_ACCOUNT | _ROTATE_CENTRAL,
    Principal.MEMBER_SCAN: _SCAN_IN_ACCOUNT,
    Principal.MEMBER_ROTATE: _ROTATE_IN_ACCOUNT | _DNS_IN_ACCOUNT,
    Principal.MEMBER_DNS: _DNS_IN_ACCOUNT,
    Principal.OPERATOR: _OPERATOR_IN_ACCOUNT | _OPERATOR_CENTRAL,
    Principal.MEMBER_READ: _OPERATOR_IN_ACCOUNT,
    Principal.MEMBER_DNS_READ: _OPERATOR_IN_DNS_ACCOUNT,
}

# Actions a call needs besides its own, checked by the service with the caller's permissions:
# - CreateRule with Tags also needs elasticloadbalancing:AddTags on the new rule (CreateAction=CreateRule);
# - UpdateDistribution re-sends the web ACL and the Lambda@Edge associations, and CloudFront checks the caller
#   may read the one and associate the others, even unchanged (CloudFront Developer Guide);
# - with a customer managed key (KmsKeyArn), SQS, Secrets Manager and DynamoDB use it as the caller.
DEPENDENT_ACTIONS: Mapping[Call, tuple[str, ...]] = {
    ("elbv2", "CreateRule"): ("elasticloadbalancing:AddTags",),
    ("cloudfront", "UpdateDistribution"): (
        "wafv2:GetWebACL",
        "waf:GetWebACL",
        "lambda:GetFunction",
        "lambda:EnableReplication",
    ),
    ("sqs", "SendMessageBatch"): ("kms:GenerateDataKey", "kms:Decrypt"),
    ("sqs", "ReceiveMessage"): ("kms:Decrypt",),
    ("secretsmanager", "GetSecretValue"): ("kms:Decrypt",),
    ("secretsmanager", "PutSecretValue"): ("kms:GenerateDataKey",),
    ("secretsmanager", "CreateSecret"): ("kms:GenerateDataKey",),
    ("dynamodb", "GetItem"): ("kms:Decrypt",),
    ("dynamodb", "PutItem"): ("kms:Encrypt", "kms:Decrypt"),
    ("dynamodb", "UpdateItem"): ("kms:Encrypt", "kms:Decrypt"),
    ("dynamodb", "DeleteItem"): ("kms:Decrypt",),
}

# What Lambda does with the function's role, not the code: its logs and its X-Ray traces.
RUNTIME_ACTIONS: frozenset[str] = frozenset(
    {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)


def calls(principal: Principal) -> frozenset[Call]:
    return CALLS[principal]


def may_call(principal: Principal, service: str, operation: str) -> bool:
    return (service, operation) in CALLS[principal]


def actions(principal: Principal) -> frozenset[str]:
    """Every IAM action the principal's calls need, dependent ones included."""
    needed: set[str] = set()
    for call in CALLS[principal]:
        if call in UNAUTHORISED_CALLS:
            continue
        needed.update(actions_for(*call))
        needed.update(DEPENDENT_ACTIONS.get(call, ()))
    return frozenset(needed)
