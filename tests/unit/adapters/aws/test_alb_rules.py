"""Which ALB rules would answer the CA's HTTP-01 request before a challenge rule of ours, and which rule is
exactly one certrotate recorded creating (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from certrotate.adapters.aws.alb_rules import (
    describe_rule,
    has_the_shape,
    lowest_free,
    proven_ours,
    shadowing,
)
from certrotate.model import Http01Rule, HttpListener

NAME = "shop.example.net"


def rule(priority: int, *conditions: dict[str, Any], kind: str = "redirect") -> dict[str, Any]:
    return {
        "RuleArn": f"arn:rule/{priority}",
        "Priority": str(priority),
        "Conditions": list(conditions),
        "Actions": [{"Type": kind, "Order": 1}],
        "IsDefault": False,
    }


def host(*values: str) -> dict[str, Any]:
    return {"Field": "host-header", "HostHeaderConfig": {"Values": list(values)}}


def path(*values: str) -> dict[str, Any]:
    return {"Field": "path-pattern", "PathPatternConfig": {"Values": list(values)}}


@pytest.mark.parametrize(
    "conditions",
    [
        (host(NAME), path("/*")),
        (host("*.EXAMPLE.net"),),  # host only: every path
        (path("/.well-known/*"),),  # path only: every host
        (host("shop.example.???"), path("/.well-known/acme-challenge/*")),
        (
            host(NAME),
            {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]}},
        ),
        (host(NAME), {"Field": "source-ip", "SourceIpConfig": {"Values": ["0.0.0.0/0"]}}),
        ({"Field": "some-future-condition", "Values": ["x"]},),  # unknown: may match
        (),  # no condition at all
    ],
)
def test_rules_that_take_the_challenge(conditions: tuple[dict[str, Any], ...]) -> None:
    assert [r["Priority"] for r in shadowing([rule(3, *conditions)], NAME)] == ["3"]


@pytest.mark.parametrize(
    "conditions",
    [
        (host("other.example.net"), path("/*")),
        (host(NAME), path("/health")),
        (host(NAME), path("/.Well-Known/*")),  # paths are case-sensitive
        (host(NAME), {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST"]}}),
        (host(NAME), {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}),
        (host(NAME), {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X", "Values": ["y"]}}),
        (
            host(NAME),
            {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "a", "Value": "b"}]}},
        ),
    ],
)
def test_rules_that_leave_the_challenge_alone(conditions: tuple[dict[str, Any], ...]) -> None:
    assert shadowing([rule(3, *conditions)], NAME) == []


def test_the_first_to_answer_comes_first_and_the_default_rule_is_not_one() -> None:
    default = {**rule(0), "Priority": "default", "IsDefault": True}
    rules = [rule(9, host(NAME)), default, rule(4, path("/*"), kind="forward")]
    first, second = shadowing(rules, NAME)
    assert describe_rule(first) == "rule arn:rule/4 (priority 4, forward)" and second["Priority"] == "9"


def test_the_lowest_free_priorities() -> None:
    assert lowest_free({1, 2, 4}, 3) == [3, 5, 6]
    assert lowest_free(range(1, 50001), 1) == []


OURS = Http01Rule("site", HttpListener("r", "lb", "l"), NAME, "tok", "tok.thumb")
TAG = {"certrotate:challenge": "site/tok"}


def challenge_rule(**changes: Any) -> dict[str, Any]:
    """The rule as DescribeRules returns the one AlbHttp01 creates for OURS (both value forms), changed."""
    made = {
        "RuleArn": "arn:rule/1",
        "Priority": "1",
        "IsDefault": False,
        "Conditions": [
            {"Field": "host-header", "Values": [NAME], "HostHeaderConfig": {"Values": [NAME]}},
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/.well-known/acme-challenge/tok"]}},
        ],
        "Actions": [
            {
                "Type": "fixed-response",
                "Order": 1,
                "FixedResponseConfig": {
                    "StatusCode": "200",
                    "ContentType": "text/plain",
                    "MessageBody": "tok.thumb",
                },
            }
        ],
    }
    made.update(changes)
    return made


def test_only_the_exact_recorded_rule_with_its_tag_is_ours() -> None:
    assert has_the_shape(challenge_rule(), OURS) and proven_ours(challenge_rule(), TAG, [OURS])
    assert not proven_ours(challenge_rule(), {}, [OURS]), "untagged"
    assert not proven_ours(challenge_rule(), {"certrotate:challenge": "site/other"}, [OURS])
    assert not proven_ours(challenge_rule(), TAG, []), "not recorded"
    other_owner = Http01Rule("other", OURS.listener, NAME, "tok", "tok.thumb")
    assert not proven_ours(challenge_rule(), TAG, [other_owner]), "recorded for another certificate"


@pytest.mark.parametrize(
    "changes",
    [
        {"IsDefault": True},
        {"Conditions": [path("/.well-known/acme-challenge/tok")]},  # the host condition dropped
        {"Conditions": [host(NAME), path("/.well-known/acme-challenge/*")]},  # widened
        {"Conditions": [host(NAME, "other.example.net"), path("/.well-known/acme-challenge/tok")]},
        {
            "Conditions": [
                host(NAME),
                path("/.well-known/acme-challenge/tok"),
                {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}},
            ]
        },
        {"Actions": [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS"}}]},
        {
            "Actions": [
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "403",
                        "ContentType": "text/plain",
                        "MessageBody": "no",
                    },
                }
            ]
        },
        {
            "Actions": [
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "200",
                        "ContentType": "text/html",
                        "MessageBody": "tok.thumb",
                    },
                }
            ]
        },
        {"Actions": []},
    ],
)
def test_any_other_shape_is_someone_elses_rule(changes: dict[str, Any]) -> None:
    assert not has_the_shape(challenge_rule(**changes), OURS)
    assert not proven_ours(challenge_rule(**changes), TAG, [OURS])
