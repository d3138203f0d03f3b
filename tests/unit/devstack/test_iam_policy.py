"""The devstack's IAM evaluator against the examples of AWS's own documentation (IAM User Guide: "Policy
evaluation logic", "Multivalued context key examples", "Condition operators"). Each case names its source."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.iam_policy import (
    Caller,
    Decision,
    Effect,
    Request,
    UnsupportedPolicy,
    action_matches,
    arn_matches,
    combine,
    evaluate,
)

# "Policy evaluation for requests within a single account", example identity-based and resource-based policy
# evaluation: Carlos's own policy. He may list buckets and do anything in his own bucket, never in one whose
# name contains "log"; saving a file to amzn-s3-demo-bucket-carlossalazar-logs is denied by DenyS3Logs,
# whatever the bucket's own policy allows.
CARLOS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowS3ListRead",
            "Effect": "Allow",
            "Action": [
                "s3:GetBucketLocation",
                "s3:GetAccountPublicAccessBlock",
                "s3:ListAccessPoints",
                "s3:ListAllMyBuckets",
            ],
            "Resource": "arn:aws:s3:::*",
        },
        {
            "Sid": "AllowS3Self",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*",
                "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar",
            ],
        },
        {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
    ],
}
CARLOS_LOGS_BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowCarlosToPutLogs",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:user/carlossalazar"},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*",
        }
    ],
}
CARLOS_CALLER = Caller("arn:aws:iam::111122223333:user/carlossalazar", "111122223333")


def test_carlos_may_write_his_own_bucket() -> None:
    request = Request("s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/report.txt")
    assert evaluate([CARLOS], request) == Decision(Effect.ALLOW, "AllowS3Self")


def test_carlos_may_list_every_bucket() -> None:
    request = Request("s3:ListAllMyBuckets", "arn:aws:s3:::amzn-s3-demo-bucket-other")
    assert evaluate([CARLOS], request).allowed


def test_an_explicit_deny_in_the_identity_policy_overrides_the_bucket_policy_allow() -> None:
    request = Request("s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/log.txt")
    identity = evaluate([CARLOS], request)
    resource = evaluate([CARLOS_LOGS_BUCKET_POLICY], request, CARLOS_CALLER)
    assert identity == Decision(Effect.EXPLICIT_DENY, "DenyS3Logs")
    assert resource.allowed
    assert combine(identity, resource, same_account=True).effect is Effect.EXPLICIT_DENY


def test_within_an_account_either_policy_allowing_is_enough() -> None:
    # "If either the identity-based policy or the resource-based policy within the same account allows the
    # request and the other doesn't, the request is still allowed."
    request = Request("s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket-other-logs-free/x")
    nothing = evaluate([], request)
    allowed = Decision(Effect.ALLOW, "bucket")
    assert nothing.effect is Effect.IMPLICIT_DENY
    assert combine(nothing, allowed, same_account=True).allowed
    # "Cross-account policy evaluation logic": both sides must allow.
    assert not combine(nothing, allowed, same_account=False).allowed
    assert combine(allowed, allowed, same_account=False).allowed


def test_nothing_allows_by_default() -> None:
    assert evaluate([CARLOS], Request("iam:ListUsers", "*")).effect is Effect.IMPLICIT_DENY


# "Multivalued context key examples", Example: Deny a single policy condition value for a multivalued context
# key. "For a Deny statement, Match is denied. No match is not denied, so it may be allowed by another
# statement."
DENY_RESTRICTED_TAGS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyRestrictedTags",
            "Effect": "Deny",
            "Action": ["iam:Tag*", "iam:UnTag*"],
            "Resource": ["*"],
            "Condition": {"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}},
        }
    ],
}
ALLOW_TAGGING = {"Statement": [{"Sid": "AllowIam", "Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}


@pytest.mark.parametrize(
    ("tag_keys", "denied"),
    [
        (["key1:legal"], False),
        (["key1:hr", "key1:personnel"], False),
        (["key2:audit"], True),
        (None, True),  # "No aws:TagKeys in the request context": Match
    ],
)
def test_for_all_values_string_not_like_as_documented(tag_keys: list[str] | None, denied: bool) -> None:
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    request = Request("iam:TagUser", "arn:aws:iam::111122223333:user/someone", context)
    decision = evaluate([DENY_RESTRICTED_TAGS, ALLOW_TAGGING], request)
    assert decision.effect is (Effect.EXPLICIT_DENY if denied else Effect.ALLOW)


def test_untag_is_matched_case_insensitively_by_the_untag_wildcard() -> None:
    # The documented policy writes "iam:UnTag*"; the action is iam:UntagUser: action names ignore case.
    request = Request("iam:UntagUser", "arn:aws:iam::111122223333:user/someone", {"aws:TagKeys": ["key2"]})
    assert evaluate([DENY_RESTRICTED_TAGS], request).effect is Effect.EXPLICIT_DENY


def _allow_if(condition: dict[str, Any]) -> dict[str, Any]:
    statement = {
        "Sid": "Conditional",
        "Effect": "Allow",
        "Action": "*",
        "Resource": "*",
        "Condition": condition,
    }
    return {"Statement": [statement]}


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        # "StringEquals: Exact matching, case sensitive"; StringEqualsIgnoreCase: "ignoring case".
        (
            {"StringEquals": {"aws:ResourceTag/certrotate:managed": "true"}},
            {"aws:ResourceTag/certrotate:managed": "True"},
            False,
        ),
        (
            {"StringEquals": {"aws:ResourceTag/certrotate:managed": "true"}},
            {"aws:ResourceTag/certrotate:managed": "true"},
            True,
        ),
        (
            {"StringEqualsIgnoreCase": {"aws:ResourceTag/certrotate:managed": "true"}},
            {"aws:ResourceTag/certrotate:managed": "TRUE"},
            True,
        ),
        # Condition key names are not case-sensitive.
        (
            {"StringEquals": {"AWS:ResourceTag/Certrotate:Managed": "true"}},
            {"aws:resourcetag/certrotate:managed": "true"},
            True,
        ),
        # "If the key that you specify in a policy condition is not present in the request context, the
        # values do not match" ...
        ({"StringEquals": {"aws:ResourceTag/team": "a"}}, {}, False),
        # ... but a negated operator holds, and so does ...IfExists.
        ({"StringNotEquals": {"aws:ResourceTag/team": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"aws:ResourceTag/team": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"aws:ResourceTag/team": "a"}}, {"aws:ResourceTag/team": "b"}, False),
        # "Null: true: the key is absent"; false: it exists.
        (
            {"Null": {"aws:RequestTag/certrotate:challenge": "false"}},
            {"aws:RequestTag/certrotate:challenge": "x"},
            True,
        ),
        ({"Null": {"aws:RequestTag/certrotate:challenge": "false"}}, {}, False),
        ({"Null": {"aws:RequestTag/certrotate:challenge": "true"}}, {}, True),
        # Values of one key are ORed; keys and operators are ANDed.
        ({"StringLike": {"s3:prefix": ["home/*", "public/*"]}}, {"s3:prefix": "public/a"}, True),
        (
            {"StringLike": {"s3:prefix": "home/*"}, "StringEquals": {"aws:username": "b"}},
            {"s3:prefix": "home/x", "aws:username": "a"},
            False,
        ),
        # ForAnyValue: false when the key is absent; true when any value matches.
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {}, False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["c", "b"]}, True),
        # ForAllValues: every request value must match one of the policy's values.
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "c"]}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["b", "a"]}, True),
        (
            {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#scan-index*"]}},
            {"dynamodb:LeadingKeys": ["#scan-index:1"]},
            True,
        ),
        (
            {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#scan-index*"]}},
            {"dynamodb:LeadingKeys": ["web"]},
            False,
        ),
        # ArnEquals / ArnLike: segment by segment, wildcards allowed, case-sensitive.
        (
            {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/Scan"}},
            {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/scan"},
            False,
        ),
        (
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Scan*"}},
            {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ScanRole"},
            True,
        ),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, True),
        ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, False),
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, Any], allowed: bool) -> None:
    assert evaluate([_allow_if(condition)], Request("s3:ListBucket", "*", context)).allowed is allowed


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("iam:*", "iam:TagServerCertificate", True),
        ("IAM:tagservercertificate", "iam:TagServerCertificate", True),
        ("lambda:EnableReplication*", "lambda:EnableReplication", True),
        ("s3:Get*", "s3:PutObject", False),
        ("ec2:Describe?egions", "ec2:DescribeRegions", True),
        ("iam:Tag*", "iam:UntagServerCertificate", False),
    ],
)
def test_action_wildcards(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        ("*", "arn:aws:iam::1:role/x", True),
        (
            "arn:aws:iam::123456789012:server-certificate/*",
            "arn:aws:iam::123456789012:server-certificate/cloudfront/a",
            True,
        ),
        (
            "arn:aws:iam::123456789012:server-certificate/*",
            "arn:aws:iam::111111111111:server-certificate/a",
            False,
        ),
        # Resources are case-sensitive.
        ("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket", False),
        # A "*" ending a segment may run past the colons after it; one inside a segment may not.
        (
            "arn:aws:lambda:us-east-1:123456789012:function:*:*",
            "arn:aws:lambda:us-east-1:123456789012:function:edge:3",
            True,
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:*:*",
            "arn:aws:lambda:us-east-1:123456789012:function:edge",
            False,
        ),
        ("arn:aws:iam::*", "arn:aws:iam::123456789012:role/a", True),
        (
            "arn:aws:elasticloadbalancing:*:1:listener/*",
            "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/a/b/c",
            True,
        ),
        (
            "arn:aws:elasticloadbalancing:*:1:listener/*",
            "arn:aws:elasticloadbalancing:eu-west-1:1:listener-rule/app/a/b/c/d",
            False,
        ),
        (
            "arn:aws:secretsmanager:us-east-1:1:secret:acme-??????",
            "arn:aws:secretsmanager:us-east-1:1:secret:acme-AbC123",
            True,
        ),
        (
            "arn:aws:secretsmanager:us-east-1:1:secret:acme-??????",
            "arn:aws:secretsmanager:us-east-1:1:secret:acme-x-AbC123",
            False,
        ),
    ],
)
def test_resource_wildcards(pattern: str, arn: str, matches: bool) -> None:
    assert arn_matches(pattern, arn) is matches


def test_not_action_and_not_resource() -> None:
    policy = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret"}]}
    assert evaluate([policy], Request("s3:GetObject", "arn:aws:s3:::public")).allowed
    assert not evaluate([policy], Request("s3:GetObject", "arn:aws:s3:::secret")).allowed
    assert not evaluate([policy], Request("iam:ListRoles", "*")).allowed


def test_trust_policy_principals() -> None:
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/rotate"]}},
            }
        ]
    }
    request = Request(
        "sts:AssumeRole",
        "arn:aws:iam::111111111111:role/member",
        {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/rotate"},
    )
    assert evaluate([trust], request, Caller("arn:aws:iam::123456789012:role/rotate", "123456789012")).allowed
    stranger = "arn:aws:iam::123456789012:role/x"
    other = Request("sts:AssumeRole", request.resource, {"aws:PrincipalArn": stranger})
    assert not evaluate([trust], other, Caller(stranger, "123456789012")).allowed
    elsewhere = Caller("arn:aws:iam::999999999999:role/rotate", "999999999999")
    assert not evaluate([trust], request, elsewhere).allowed


@pytest.mark.parametrize(
    "policy",
    [
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::${aws:username}/*"}]},
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}},
                }
            ]
        },
        {"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "x"}, "Action": "*", "Resource": "*"}]},
    ],
)
def test_what_is_not_modelled_is_refused_not_guessed(policy: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPolicy):
        evaluate([policy], Request("s3:GetObject", "arn:aws:s3:::a/b"))
