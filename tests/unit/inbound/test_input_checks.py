"""Inputs checked, one line each, before AWS is touched (events, settings, ARNs) or before any order (the
names and profile of a certificate): ASCII only, matched whole, and what the CA would refuse anyway."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from certrotate.check.certificates import facts_of
from certrotate.config import load_settings
from certrotate.errors import (
    ConfigurationError,
    InvalidNames,
    InvalidProfileName,
    InvalidRequest,
    IpAddressesNotRenewed,
)
from certrotate.inbound import parse_any_rotation_message, parse_rotate_request
from certrotate.model import CertificateFacts, KeyKind, KeySpec
from certrotate.order.issue import refuse_before_ordering
from certrotate.order.refusals import dns_name_problems
from certrotate.store.acm_rules import parse_arn

from devstack import fixtures

ARABIC_DIGITS = "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0661\u0662\u0663"  # 12 of them


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"certificate_name": "caf\u00e9"}, "must be an IAM server certificate name"),
        ({"certificate_name": "site\u0663"}, "must be an IAM server certificate name"),
        ({"certificate_name": "site\n"}, "must be an IAM server certificate name"),
        ({"certificate_name": "site", "account_id": ARABIC_DIGITS}, "account_id must be a 12-digit"),
        ({"certificate_name": "site", "account_id": "123456789012\n"}, "account_id must be a 12-digit"),
    ],
)
def test_event_fields_are_ascii_and_whole(event: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem):
        parse_rotate_request(event)


@pytest.mark.parametrize(
    ("serving", "problem"),
    [
        ({"region": "us-east-\u0661"}, "endpoints.serving.0.region must be an AWS region name"),
        ({"region": "evil.example.com"}, "endpoints.serving.0.region must be an AWS region name"),
        ({"resource_id": "arn:aws:x y"}, "endpoints.serving.0.resource_id must be printable ASCII"),
    ],
)
def test_a_message_names_endpoints_in_ascii_regions(serving: dict[str, str], problem: str) -> None:
    endpoint = {
        "kind": "elbv2-listener",
        "region": "us-east-1",
        "resource_id": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/a/b/c",
        "load_balancer": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/a/b",
        **serving,
    }
    body = {
        "certificate_name": "site",
        "endpoints": {"seen_at": "2026-06-01T00:00:00+00:00", "serving": [endpoint]},
    }
    with pytest.raises(InvalidRequest, match=problem):
        parse_any_rotation_message(json.dumps(body))


ACM_ID = "0b2f7f8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:acm:us-east-1:123456789012:certificate/{ACM_ID}\n",  # `$` matches before it
        f"arn:aws:acm:us-east-1:{ARABIC_DIGITS}:certificate/{ACM_ID}",
        f"arn:aws:acm:us-east-\u0661:123456789012:certificate/{ACM_ID}",
        f"arn:aws-moon:acm:us-east-1:123456789012:certificate/{ACM_ID}",  # no such partition
        f"arn:aws-cn:acm:us-east-1:123456789012:certificate/{ACM_ID}",  # not a region of aws-cn
        f"arn:aws:acm:cn-north-1:123456789012:certificate/{ACM_ID}",
        f"arn:aws:acm:us-gov-west-1:123456789012:certificate/{ACM_ID}",
        f"arn:aws:acm:us-east-1:123456789012:certificate/{ACM_ID}/extra",
    ],
)
def test_an_acm_arn_is_parsed_strictly(arn: str) -> None:
    with pytest.raises(InvalidRequest, match="certificate_arn must be an ACM certificate ARN"):
        parse_arn(arn)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"MANAGED_ACCOUNTS": ARABIC_DIGITS}, "MANAGED_ACCOUNTS holds"),
        ({"DNS_ACCOUNTS": f"*={ARABIC_DIGITS}"}, "DNS_ACCOUNTS holds"),
        ({"MEMBER_ROLE_NAME": "r\u00f4le"}, "MEMBER_ROLE_NAME is not an IAM role name"),
        ({"LOAD_BALANCER_REGIONS": "us-east-\u0661"}, "not an AWS region name"),
        ({"ACME_PROFILE": "classic profile"}, "ACME_PROFILE is not a profile name"),
        ({"ACME_PROFILE": "p" * 65}, "ACME_PROFILE is not a profile name"),
        ({"ACME_EMAIL": "ops@ex\u00e4mple.com"}, "ACME_EMAIL is not an e-mail address"),
    ],
)
def test_settings_are_ascii_and_whole(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        load_settings({"AWS_REGION": "us-east-1", **env})


def test_a_profile_name_within_the_limit_is_accepted() -> None:
    assert load_settings({"AWS_REGION": "us-east-1", "ACME_PROFILE": "tlsserver"}).acme_profile == "tlsserver"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("caf\u00e9.example.com", "is not ASCII"),
        ("example.com.", "ends with a dot"),
        ("*", "is a bare wildcard"),
        ("a.*.example.com", "wildcard that is not its whole first label"),
        ("w*.example.com", "wildcard that is not its whole first label"),
        ("a" * 64 + ".example.com", "label longer than 63"),
        (".".join(["a" * 60] * 5), "longer than 253"),
        ("under_score.example.com", "underscore"),
        ("-dash.example.com", "not letters, digits and inner hyphens"),
        ("a..example.com", "empty label"),
        ("xn--zz.example.com", "not a valid IDNA A-label"),
        ("localhost", "single label"),
        ("192.0.2.1", "numeric label"),
    ],
)
def test_names_that_are_no_dns_names_are_refused(name: str, why: str) -> None:
    [problem] = dns_name_problems([name])
    assert why in problem


@pytest.mark.parametrize(
    "name", ["example.com", "*.example.com", "a-b.example.com", "xn--bcher-kva.example", "a" * 63 + ".com"]
)
def test_dns_names_pass(name: str) -> None:
    assert dns_name_problems([name]) == []


def _facts(names: tuple[str, ...], addresses: tuple[str, ...] = ()) -> CertificateFacts:
    now = datetime.now(UTC)
    return CertificateFacts(
        names, KeySpec(KeyKind.RSA, 2048), now + timedelta(days=5), ip_addresses=addresses
    )


def test_refusals_before_ordering_name_what_and_why() -> None:
    with pytest.raises(InvalidNames, match=r"'-bad\.example\.com' has a label"):
        refuse_before_ordering("site", _facts(("ok.example.com", "-bad.example.com")), {})
    with pytest.raises(IpAddressesNotRenewed, match=r"192\.0\.2\.7"):
        refuse_before_ordering("site", _facts(("ok.example.com",), ("192.0.2.7",)), {})
    with pytest.raises(InvalidProfileName, match="not a profile name"):
        refuse_before_ordering("site", _facts(("ok.example.com",)), {"certrotate:profile": "x y"})
    refuse_before_ordering("site", _facts(("ok.example.com",)), {"certrotate:profile": "tlsserver"})


def test_ip_addresses_in_an_old_certificate_are_read_never_dropped() -> None:
    issued = fixtures.local_ca().issue(["ip.example.com", "192.0.2.7"], 30)  # an IP becomes an IP SAN
    facts = facts_of(issued.cert_pem)
    assert facts.dns_names == ("ip.example.com",) and facts.ip_addresses == ("192.0.2.7",)
