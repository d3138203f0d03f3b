"""How each name is validated, chosen before ordering (challenge_plan.plan_challenges): pure, without AWS."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from certrotate.adapters.aws.alb_rules import lowest_free, rule_tag_value
from certrotate.errors import CertRotateError
from certrotate.model import (
    ChallengeAnswer,
    ChallengeMethod,
    ChallengePlan,
    DnsRecord,
    HostedZone,
    HttpListener,
)
from certrotate.names import CHALLENGE_TAG, OPERATOR_TAGS
from certrotate.order.challenge_plan import (
    dns_records,
    needs_http01,
    plan_challenges,
    requested_challenge_method,
)
from certrotate.order.challenges import PlannedChallenges

ZONES = [HostedZone("Z1", "example.com"), HostedZone("Z2", "internal.example.org", private=True)]
LISTENER = HttpListener("us-east-1", "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/a/1", "l80")
DNS, HTTP = ChallengeMethod.DNS_01, ChallengeMethod.HTTP_01


def plan(
    names: Sequence[str],
    *,
    forced: ChallengeMethod | None = None,
    zones: Sequence[HostedZone] = ZONES,
    listeners: Sequence[HttpListener] = (LISTENER,),
) -> tuple[ChallengePlan, list[str]]:
    return plan_challenges("site", names, forced=forced, zones=zones, listeners=listeners)


def test_dns_01_where_a_public_zone_holds_the_name_http_01_elsewhere() -> None:
    chosen, problems = plan(["www.example.com", "shop.example.net"])
    assert problems == []
    assert chosen.route("www.example.com").method is DNS
    assert chosen.route("www.example.com").zone == ZONES[0]
    assert chosen.route("shop.example.net").method is HTTP
    assert chosen.route("shop.example.net").listeners == (LISTENER,)


def test_a_private_zone_does_not_answer_dns_01() -> None:
    chosen, problems = plan(["app.internal.example.org"])
    assert problems == [] and chosen.route("app.internal.example.org").method is HTTP


def test_a_name_neither_can_answer_is_named() -> None:
    _, problems = plan(["www.example.com", "shop.example.net"], listeners=())
    assert len(problems) == 1
    assert "shop.example.net" in problems[0] and "no public Route 53 hosted zone" in problems[0]
    assert "port 80" in problems[0]


def test_a_wildcard_needs_dns_01() -> None:
    _, problems = plan(["*.example.net", "example.net"])
    assert len(problems) == 1 and problems[0].startswith("*.example.net is a wildcard: it needs DNS-01")
    chosen, problems = plan(["*.example.com"])
    assert problems == [] and chosen.route("*.example.com").method is DNS


def test_a_name_longer_than_a_host_condition_cannot_use_http_01() -> None:
    long_name = "a" * 120 + ".example.net"
    _, problems = plan([long_name])
    assert len(problems) == 1 and "128 characters" in problems[0]


def test_the_tag_forces_a_method() -> None:
    chosen, problems = plan(["www.example.com"], forced=HTTP)
    assert problems == [] and chosen.route("www.example.com").method is HTTP
    _, problems = plan(["shop.example.net"], forced=DNS)
    assert problems and f"{CHALLENGE_TAG}=dns-01" in problems[0]
    _, problems = plan(["www.example.com"], forced=HTTP, listeners=())
    assert problems and f"{CHALLENGE_TAG}=http-01" in problems[0]
    _, problems = plan(["*.example.com"], forced=HTTP)
    assert problems and "wildcard" in problems[0]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({}, (None, "")),
        ({CHALLENGE_TAG: "dns-01"}, (DNS, "")),
        ({CHALLENGE_TAG: " HTTP-01 "}, (HTTP, "")),
        ({CHALLENGE_TAG: "tls-alpn-01"}, (None, "tls-alpn-01")),
    ],
)
def test_the_tag_is_read(tags: dict[str, str], expected: tuple[ChallengeMethod | None, str]) -> None:
    assert requested_challenge_method(tags) == expected


def test_the_tag_carries_across_rotations() -> None:
    assert CHALLENGE_TAG in OPERATOR_TAGS


def test_listeners_are_read_only_when_some_name_may_need_them() -> None:
    assert not needs_http01(["www.example.com"], None, ZONES)
    assert needs_http01(["www.example.com", "x.example.net"], None, ZONES)
    assert needs_http01(["www.example.com"], HTTP, ZONES)
    assert not needs_http01(["x.example.net"], DNS, ZONES)


def test_dns_records_share_the_apex_and_wildcard_set_and_skip_http_answers() -> None:
    chosen, _ = plan(["example.com", "*.example.com", "shop.example.net"])
    answers = [
        ChallengeAnswer("example.com", DNS, "t1", "v1"),
        ChallengeAnswer("*.example.com", DNS, "t2", "v2"),
        ChallengeAnswer("shop.example.net", HTTP, "t3", "t3.key", "/.well-known/acme-challenge/t3"),
    ]
    assert dns_records(chosen, answers) == [DnsRecord("Z1", "_acme-challenge.example.com", ("v1", "v2"))]


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[str] = []
        self.removed: list[str] = []
        self.fail = fail

    def publish(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer], *, deadline: float) -> None:
        self.published += [a.name for a in answers]

    def remove(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer]) -> None:
        self.removed += [a.name for a in answers]
        if self.fail:
            raise CertRotateError("boom")


def test_answers_go_to_the_responder_of_their_method_and_every_removal_is_tried() -> None:
    chosen, _ = plan(["www.example.com", "shop.example.net"])
    dns, http = Recorder(fail=True), Recorder()
    challenges = PlannedChallenges(chosen, {DNS: dns, HTTP: http})
    answers = [
        ChallengeAnswer("www.example.com", DNS, "t1", "v1"),
        ChallengeAnswer("shop.example.net", HTTP, "t2", "k2", "/.well-known/acme-challenge/t2"),
    ]
    challenges.publish(answers, deadline=0)
    assert (dns.published, http.published) == (["www.example.com"], ["shop.example.net"])
    with pytest.raises(CertRotateError, match="dns-01: boom"):
        challenges.remove(answers)
    assert http.removed == ["shop.example.net"], "one method's failure must not leave the other's behind"


def test_rules_take_the_lowest_free_priorities_and_are_marked_with_the_certificate() -> None:
    assert lowest_free([1, 2, 4], 3) == [3, 5, 6]
    assert rule_tag_value("a,b", "tok-_en") == "a:b/tok-_en"  # IAM names may hold ",", ELB tag values not


def test_the_previous_certificate_owns_its_left_rules_too() -> None:
    chosen, _ = plan_challenges(
        "site-cr1", ["x.example.net"], forced=None, zones=ZONES, listeners=[LISTENER], left_by=["site"]
    )
    assert chosen.owners == ("site-cr1", "site")
