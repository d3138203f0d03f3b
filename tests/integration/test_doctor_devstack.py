"""What `certrotate doctor` relies on in the local stack: CAA records written to Route 53 (moto accepts them)
answered by the devstack's DNS server to a real resolver (dnspython), and `iam:SimulatePrincipalPolicy`
evaluating a role's identity policies as the IAM policy simulator does."""

from __future__ import annotations

import json

import pytest

from certrotate_cli.doctor import dns_caa_lookup
from devstack import fixtures
from devstack.stack import LocalStack

pytestmark = pytest.mark.stack


def test_caa_records_in_route53_are_answered_by_the_devstack_dns(aws: LocalStack) -> None:
    route53 = aws.client("route53")
    zone = fixtures.create_hosted_zone(route53, "example.com")
    fixtures.create_record_set(
        route53,
        zone,
        "example.com",
        "CAA",
        ['0 issue "letsencrypt.org; accounturi=https://acme.example/acct/1"', '128 issuewild ";"'],
    )
    lookup = dns_caa_lookup(aws.dns_server)
    found = sorted((p.flags, p.tag, p.value) for p in lookup("example.com"))
    assert found == [
        (0, "issue", "letsencrypt.org; accounturi=https://acme.example/acct/1"),
        (128, "issuewild", ";"),
    ]
    assert lookup("www.example.com") == []  # no climbing here: that is the asker's part
    assert lookup("nothing.example.org") == []


def _role(iam: object, name: str, statements: list[dict[str, object]]) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]  # type: ignore[attr-defined]
    iam.put_role_policy(  # type: ignore[attr-defined]
        RoleName=name,
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    return str(arn)


def test_simulate_principal_policy_allows_denies_and_names_missing_context(aws: LocalStack) -> None:
    iam = aws.client("iam")
    cert = "arn:aws:iam::123456789012:server-certificate/*"
    role = _role(
        iam,
        "doctor-sim",
        [
            {"Effect": "Allow", "Action": ["iam:GetServerCertificate", "iam:Tag*"], "Resource": cert},
            {"Effect": "Deny", "Action": "iam:TagServerCertificate", "Resource": cert},
            {
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": "*",
                "Condition": {"StringEquals": {"events:source": "certrotate"}},
            },
        ],
    )
    one = "arn:aws:iam::123456789012:server-certificate/web"
    results = iam.simulate_principal_policy(
        PolicySourceArn=role,
        ActionNames=["iam:GetServerCertificate", "iam:TagServerCertificate", "iam:DeleteServerCertificate"],
        ResourceArns=[one],
    )["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed", "explicitDeny", "implicitDeny"]

    events = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    [unsure] = iam.simulate_principal_policy(
        PolicySourceArn=role, ActionNames=["events:PutEvents"], ResourceArns=[events]
    )["EvaluationResults"]
    # A resource was named: the keys missing are reported for it (ResourceSpecificResults), as the API says.
    assert unsure["EvalDecision"] == "implicitDeny" and unsure["MissingContextValues"] == []
    [specific] = unsure["ResourceSpecificResults"]
    assert specific["EvalResourceName"] == events and specific["MissingContextValues"] == ["events:source"]
    for source, decision in (("certrotate", "allowed"), ("someone-else", "implicitDeny")):
        [given] = iam.simulate_principal_policy(
            PolicySourceArn=role,
            ActionNames=["events:PutEvents"],
            ResourceArns=[events],
            ContextEntries=[
                {"ContextKeyName": "events:source", "ContextKeyValues": [source], "ContextKeyType": "string"}
            ],
        )["EvaluationResults"]
        assert given["EvalDecision"] == decision
