"""ELBv2 listener rules as AWS documents them (moto fixed where it is not), the ALB front answering from them
over real HTTP, and the HTTP-01 adapter against both, all through boto3 over HTTP to the moto server."""

from __future__ import annotations

import http.client
import time
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from certrotate.adapters.aws import alb_http01
from certrotate.adapters.aws.alb_http01 import AlbHttp01, fetch_over_http
from certrotate.adapters.lease_table.challenge_records import DynamoDbChallengeRecords
from certrotate.adapters.net.tls_probe import ConnectTo, connector
from certrotate.errors import Http01NotReached, Http01NotYetServed, ListenerRulesFull, PermanentFailure
from certrotate.model import (
    ChallengeAnswer,
    ChallengeMethod,
    ChallengePlan,
    ChallengeRoute,
    Http01Rule,
    HttpListener,
)
from dnslib import DNSRecord  # type: ignore[import-untyped]

from devstack import dns as devstack_dns
from devstack import fixtures, moto_fixes
from devstack.stack import LocalStack

pytestmark = pytest.mark.stack


def fixed(body: str, status: str = "200") -> list[Any]:
    return [
        {
            "Type": "fixed-response",
            "FixedResponseConfig": {"StatusCode": status, "ContentType": "text/plain", "MessageBody": body},
        }
    ]


def path_is(*paths: str) -> list[Any]:
    return [{"Field": "path-pattern", "PathPatternConfig": {"Values": list(paths)}}]


def alb(aws: LocalStack) -> tuple[Any, str, str, str]:
    """(elbv2 client, load balancer ARN, its DNS name, its port-80 listener ARN)."""
    elbv2, ec2 = aws.client("elbv2"), aws.client("ec2")
    cert = fixtures.seed_certificate(aws.client("iam"), "front", ["front.example.net"], 30)
    https = fixtures.create_alb_https_listener(elbv2, ec2, cert["Arn"])
    http = fixtures.create_alb_http_listener(elbv2, https.load_balancer_arn)
    dns_name = elbv2.describe_load_balancers(LoadBalancerArns=[https.load_balancer_arn])["LoadBalancers"][0][
        "DNSName"
    ]
    return elbv2, https.load_balancer_arn, dns_name, http


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


# -- moto made faithful ------------------------------------------------------------------------------------


def test_a_priority_is_taken_once_per_listener(aws: LocalStack) -> None:
    elbv2, _, _, http = alb(aws)
    elbv2.create_rule(ListenerArn=http, Priority=7, Conditions=path_is("/a"), Actions=fixed("a"))
    with pytest.raises(ClientError) as exc:
        elbv2.create_rule(ListenerArn=http, Priority=7, Conditions=path_is("/b"), Actions=fixed("b"))
    assert code(exc) == "PriorityInUse"


def test_an_alb_holds_at_most_100_rules(aws: LocalStack) -> None:
    elbv2, _, _, http = alb(aws)
    for priority in range(1, moto_fixes.RULES_PER_LOAD_BALANCER + 1):
        elbv2.create_rule(
            ListenerArn=http, Priority=priority, Conditions=path_is(f"/{priority}"), Actions=fixed("x")
        )
    with pytest.raises(ClientError) as exc:
        elbv2.create_rule(ListenerArn=http, Priority=500, Conditions=path_is("/full"), Actions=fixed("x"))
    assert code(exc) == "TooManyRules"


def test_a_fixed_response_body_holds_at_most_1024_characters(aws: LocalStack) -> None:
    elbv2, _, _, http = alb(aws)
    elbv2.create_rule(ListenerArn=http, Priority=1, Conditions=path_is("/a"), Actions=fixed("x" * 1024))
    with pytest.raises(ClientError) as exc:
        elbv2.create_rule(ListenerArn=http, Priority=2, Conditions=path_is("/b"), Actions=fixed("x" * 1025))
    assert code(exc) == "ValidationError"


def test_rules_carry_tags_and_a_deleted_rule_is_not_found(aws: LocalStack) -> None:
    elbv2, _, _, http = alb(aws)
    rule = elbv2.create_rule(
        ListenerArn=http,
        Priority=1,
        Conditions=path_is("/a"),
        Actions=fixed("a"),
        Tags=[{"Key": "k", "Value": "v"}],
    )["Rules"][0]["RuleArn"]
    assert elbv2.describe_tags(ResourceArns=[rule])["TagDescriptions"][0]["Tags"] == [
        {"Key": "k", "Value": "v"}
    ]
    elbv2.delete_rule(RuleArn=rule)
    with pytest.raises(ClientError) as exc:
        elbv2.delete_rule(RuleArn=rule)
    assert code(exc) == "RuleNotFound"


# -- the ALB front -----------------------------------------------------------------------------------------


def get(aws: LocalStack, host: str, path: str) -> tuple[int, str, dict[str, str]]:
    assert aws.alb_front is not None
    connection = http.client.HTTPConnection(aws.alb_front.address, aws.alb_front.port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        connection.close()


def test_the_front_answers_by_priority_conditions_and_default_action(aws: LocalStack) -> None:
    elbv2, _, dns_name, http = alb(aws)
    devstack_dns.point_name_at("www.example.net", dns_name)
    host = [{"Field": "host-header", "HostHeaderConfig": {"Values": ["*.EXAMPLE.net"]}}]
    elbv2.create_rule(ListenerArn=http, Priority=20, Conditions=path_is("/x/*"), Actions=fixed("low", "404"))
    elbv2.create_rule(
        ListenerArn=http, Priority=10, Conditions=host + path_is("/x/a?c"), Actions=fixed("high")
    )
    aws.calls.reset()
    assert get(aws, "www.example.net", "/x/abc")[:2] == (200, "high")  # priority 10 before 20
    assert get(aws, "www.example.net", "/x/ABC")[:2] == (404, "low")  # paths are case-sensitive
    assert get(aws, dns_name, "/x/abc")[:2] == (404, "low")  # the host condition does not match
    status, _, headers = get(aws, "www.example.net", "/other?q=1")
    assert status == 301 and headers["Location"] == "https://www.example.net:443/other?q=1"  # default rule
    assert aws.calls.total() == 0, "the load balancer's own reads are not the account's API calls"


def test_the_devstack_dns_points_other_providers_names_at_the_alb(aws: LocalStack) -> None:
    _, _, dns_name, _ = alb(aws)
    devstack_dns.point_name_at("shop.example.net", dns_name)
    assert aws.dns is not None
    reply = DNSRecord.parse(
        DNSRecord.question("shop.example.net", "A").send(aws.dns.address, aws.dns.port, timeout=5)
    )
    answers = {(str(rr.rname).rstrip("."), str(rr.rdata).rstrip(".")) for rr in reply.rr}
    assert answers == {("shop.example.net", dns_name), (dns_name, devstack_dns.ENDPOINT_ADDRESS)}


# -- the adapter -------------------------------------------------------------------------------------------


def plan_for(region: str, balancer: str, listener: str, *names: str) -> ChallengePlan:
    where = (HttpListener(region, balancer, listener),)
    return ChallengePlan(
        "site", tuple(ChallengeRoute(n, ChallengeMethod.HTTP_01, listeners=where) for n in names)
    )


def answer(name: str, token: str) -> ChallengeAnswer:
    return ChallengeAnswer(
        name, ChallengeMethod.HTTP_01, token, f"{token}.thumb", f"/.well-known/acme-challenge/{token}"
    )


def test_rules_answer_at_free_priorities_and_only_ours_are_removed(aws: LocalStack) -> None:
    elbv2, balancer, dns_name, http = alb(aws)
    devstack_dns.point_name_at("a.example.net", dns_name)
    theirs = elbv2.create_rule(ListenerArn=http, Priority=1, Conditions=path_is("/h"), Actions=fixed("ok"))[
        "Rules"
    ][0]
    adapter = AlbHttp01(lambda region: aws.client_as("RotateFunction", "elbv2", region))
    assert adapter.port80_listeners([]) == []
    plan = plan_for(aws.region, balancer, http, "a.example.net", "b.example.net")
    answers = [answer("a.example.net", "tokA"), answer("b.example.net", "tokB")]
    adapter.publish(plan, answers, deadline=time.monotonic() + 30)
    rules = {r["Priority"]: r for r in elbv2.describe_rules(ListenerArn=http)["Rules"]}
    assert set(rules) == {"1", "2", "3", "default"}
    assert get(aws, "a.example.net", "/.well-known/acme-challenge/tokA")[:2] == (200, "tokA.thumb")
    adapter.remove(plan, answers)
    assert [r for r in elbv2.describe_rules(ListenerArn=http)["Rules"] if not r["IsDefault"]] == [theirs]


def test_a_full_alb_is_a_named_permanent_failure(aws: LocalStack) -> None:
    elbv2, balancer, _, http = alb(aws)
    for priority in range(1, moto_fixes.RULES_PER_LOAD_BALANCER + 1):
        elbv2.create_rule(
            ListenerArn=http, Priority=priority, Conditions=path_is(f"/{priority}"), Actions=fixed("x")
        )
    adapter = AlbHttp01(lambda region: aws.client_as("RotateFunction", "elbv2", region))
    with pytest.raises(ListenerRulesFull, match="quota of listener rules"):
        adapter.publish(
            plan_for(aws.region, balancer, http, "a.example.net"),
            [answer("a.example.net", "t")],
            deadline=time.monotonic() + 30,
        )


def test_a_priority_taken_meanwhile_is_read_again(aws: LocalStack) -> None:
    elbv2, balancer, _, http = alb(aws)
    adapter = AlbHttp01(lambda region: aws.client_as("RotateFunction", "elbv2", region))
    original = adapter._rules
    calls = {"n": 0}

    def racing(listener: HttpListener) -> list[Any]:
        rules = original(listener)
        calls["n"] += 1
        if calls["n"] == 1:  # someone takes priority 1 right after our read
            elbv2.create_rule(ListenerArn=http, Priority=1, Conditions=path_is("/r"), Actions=fixed("r"))
        return rules

    adapter._rules = racing  # type: ignore[method-assign]
    plan = plan_for(aws.region, balancer, http, "a.example.net")
    adapter.publish(plan, [answer("a.example.net", "t")], deadline=time.monotonic() + 30)
    assert sorted(r["Priority"] for r in elbv2.describe_rules(ListenerArn=http)["Rules"]) == [
        "1",
        "2",
        "default",
    ]


# -- rule changes take effect late; the adapter waits for its rules to answer ------------------------------


def test_the_front_applies_rule_changes_late(aws: LocalStack) -> None:
    elbv2, _, dns_name, http = alb(aws)
    devstack_dns.point_name_at("late.example.net", dns_name)
    moto_fixes.set_alb_rule_delay(1.0)
    made = elbv2.create_rule(ListenerArn=http, Priority=3, Conditions=path_is("/late"), Actions=fixed("late"))
    assert get(aws, "late.example.net", "/late")[0] == 301, "not in effect yet: the default action answers"
    time.sleep(1.1)
    assert get(aws, "late.example.net", "/late")[:2] == (200, "late")
    elbv2.delete_rule(RuleArn=made["Rules"][0]["RuleArn"])
    assert get(aws, "late.example.net", "/late")[:2] == (200, "late"), "a deleted rule still answers a while"
    time.sleep(1.1)
    assert get(aws, "late.example.net", "/late")[0] == 301


def self_checking(aws: LocalStack) -> AlbHttp01:
    assert aws.alb_front is not None
    reach = connector([ConnectTo("", 80, aws.alb_front.address, aws.alb_front.port)])
    return AlbHttp01(lambda region: aws.client("elbv2", region), fetch=fetch_over_http(reach))


def test_publish_returns_once_the_alb_answers_the_token_as_the_ca_will_fetch_it(aws: LocalStack) -> None:
    _, balancer, dns_name, http = alb(aws)
    devstack_dns.point_name_at("a.example.net", dns_name)
    moto_fixes.set_alb_rule_delay(1.5)
    adapter = self_checking(aws)
    plan = plan_for(aws.region, balancer, http, "a.example.net")
    started = time.monotonic()
    adapter.publish(plan, [answer("a.example.net", "tokA")], deadline=time.monotonic() + 120)
    assert time.monotonic() - started >= 1.5
    assert get(aws, "a.example.net", "/.well-known/acme-challenge/tokA")[:2] == (200, "tokA.thumb")


def test_a_name_that_leads_nowhere_is_not_reached_and_a_late_rule_not_yet_served(
    aws: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, balancer, dns_name, http = alb(aws)
    adapter = self_checking(aws)
    plan = plan_for(aws.region, balancer, http, "nowhere.example.net")
    with pytest.raises(Http01NotReached, match="reached nothing"):  # the name points at no load balancer
        adapter.publish(plan, [answer("nowhere.example.net", "t")], deadline=time.monotonic() + 120)
    devstack_dns.point_name_at("slow.example.net", dns_name)
    moto_fixes.set_alb_rule_delay(5)
    monkeypatch.setattr(alb_http01, "PROPAGATION_WAIT", 1.0)
    plan = plan_for(aws.region, balancer, http, "slow.example.net")
    with pytest.raises(Http01NotYetServed, match=r"slow.example.net \(HTTP 301\)"):
        adapter.publish(plan, [answer("slow.example.net", "t")], deadline=time.monotonic() + 120)
    assert not isinstance(Http01NotYetServed("x"), PermanentFailure)


def create_as_certrotate(elbv2: Any, rule: Http01Rule, priority: int) -> str:
    """The rule exactly as AlbHttp01 creates it (conditions, action, tag)."""
    arn: str = elbv2.create_rule(
        ListenerArn=rule.listener.listener_arn,
        Priority=priority,
        Conditions=[
            {"Field": "host-header", "HostHeaderConfig": {"Values": [rule.name]}},
            {"Field": "path-pattern", "PathPatternConfig": {"Values": [rule.path]}},
        ],
        Actions=fixed(rule.body),
        Tags=[{"Key": "certrotate:challenge", "Value": f"{rule.certificate}/{rule.token}"}],
    )["Rules"][0]["RuleArn"]
    return arn


def test_the_check_counts_every_listener_against_the_quota_but_not_rules_a_dead_run_left(
    aws: LocalStack, db: Any
) -> None:
    elbv2, balancer, _, http = alb(aws)
    [https] = [
        listener["ListenerArn"]
        for listener in elbv2.describe_listeners(LoadBalancerArn=balancer)["Listeners"]
        if listener["Port"] == 443
    ]
    for priority in range(1, 61):
        elbv2.create_rule(
            ListenerArn=https, Priority=priority, Conditions=path_is(f"/{priority}"), Actions=fixed("x")
        )
    for priority in range(1, 39):
        elbv2.create_rule(
            ListenerArn=http, Priority=priority, Conditions=path_is(f"/{priority}"), Actions=fixed("x")
        )
    records = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE)
    dead_run = Http01Rule("site", HttpListener(aws.region, balancer, http), "a.example.net", "dead", "dead.x")
    records.record_rules("site", [dead_run])
    create_as_certrotate(elbv2, dead_run, 40)
    # Tagged as ours, never recorded: someone's rule, which counts like any other.
    elbv2.create_rule(
        ListenerArn=http,
        Priority=39,
        Conditions=path_is("/y"),
        Actions=fixed("y"),
        Tags=[{"Key": "certrotate:challenge", "Value": "site/forged"}],
    )
    adapter = AlbHttp01(lambda region: aws.client("elbv2", region), records=records)
    one = plan_for(aws.region, balancer, http, "a.example.net")
    adapter.check(one)  # 99 rules of others, 1 recorded by a dead run of ours: room for one
    with pytest.raises(ListenerRulesFull, match="quota of listener rules"):
        adapter.check(plan_for(aws.region, balancer, http, "a.example.net", "b.example.net"))
    with pytest.raises(ListenerRulesFull, match="quota of listener rules"):  # without the record: no room
        AlbHttp01(lambda region: aws.client("elbv2", region)).check(one)


# -- only rules certrotate recorded creating, in the shape it creates, are ever removed ----------------------


def non_default(elbv2: Any, http: str) -> list[str]:
    return [r["RuleArn"] for r in elbv2.describe_rules(ListenerArn=http)["Rules"] if not r["IsDefault"]]


def test_a_forged_challenge_tag_removes_nothing_and_is_reported(aws: LocalStack, db: Any) -> None:
    """The security review's case: someone allowed only elasticloadbalancing:AddTags writes the challenge tag
    on the application team's blocking rule; the rotation's clean-up must not delete it for them."""
    elbv2, balancer, _, http = alb(aws)
    blocking = elbv2.create_rule(
        ListenerArn=http, Priority=5, Conditions=path_is("/admin*"), Actions=fixed("no", "403")
    )["Rules"][0]["RuleArn"]
    elbv2.add_tags(ResourceArns=[blocking], Tags=[{"Key": "certrotate:challenge", "Value": "site/forged"}])
    plan = replace(plan_for(aws.region, balancer, http, "a.example.net"), left_by=("other",))
    other = elbv2.create_rule(
        ListenerArn=http,
        Priority=6,
        Conditions=path_is("/other*"),
        Actions=fixed("no", "403"),
        Tags=[{"Key": "certrotate:challenge", "Value": "other/forged"}],  # the predecessor's, forged
    )["Rules"][0]["RuleArn"]
    records = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE)
    for adapter in (
        AlbHttp01(lambda region: aws.client_as("RotateFunction", "elbv2", region), records=records),
        AlbHttp01(lambda region: aws.client_as("RotateFunction", "elbv2", region)),
    ):
        notes = adapter.remove_left_behind(plan)
        assert sorted(non_default(elbv2, http)) == sorted([blocking, other])
        assert len(notes) == 2 and all(n.startswith("left in place rule") for n in notes)
        adapter.remove(plan, [answer("a.example.net", "forged")])  # nothing of that shape: nothing goes
        assert sorted(non_default(elbv2, http)) == sorted([blocking, other])


def test_a_recorded_rule_goes_only_while_it_keeps_certrotates_shape(aws: LocalStack, db: Any) -> None:
    elbv2, balancer, _, http = alb(aws)
    listener = HttpListener(aws.region, balancer, http)
    records = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE)
    kept = Http01Rule("site", listener, "a.example.net", "tokA", "tokA.x")
    changed = Http01Rule("site", listener, "b.example.net", "tokB", "tokB.x")
    predecessor = Http01Rule("old", listener, "c.example.net", "tokC", "tokC.x")
    records.record_rules("site", [kept, changed])
    records.record_rules("old", [predecessor])
    arns = {r.token: create_as_certrotate(elbv2, r, p) for p, r in enumerate([kept, changed, predecessor], 1)}
    # Someone turned the recorded rule b into a rule of theirs (another body): it is no longer ours.
    elbv2.modify_rule(RuleArn=arns["tokB"], Actions=fixed("theirs"))
    plan = replace(plan_for(aws.region, balancer, http, "a.example.net"), left_by=("old",))

    adapter = AlbHttp01(lambda region: aws.client_as("RotateFunction", "elbv2", region), records=records)
    notes = adapter.remove_left_behind(plan)

    assert non_default(elbv2, http) == [arns["tokB"]], "the recorded rules in our shape went, the other stays"
    assert notes == [
        f"left in place rule {arns['tokB']} tagged certrotate:challenge=site/tokB: not a rule certrotate "
        "recorded creating in this shape (a tag alone proves nothing)"
    ]
    assert records.recorded_rules("site") == [] and records.recorded_rules("old") == []
    assert db.scan(TableName=fixtures.LEASE_TABLE)["Items"] == [], "nothing left to remember"


def test_publish_records_each_rule_before_creating_it_and_remove_forgets_it(aws: LocalStack, db: Any) -> None:
    elbv2, balancer, _, http = alb(aws)
    records = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE)
    adapter = AlbHttp01(lambda region: aws.client_as("RotateFunction", "elbv2", region), records=records)
    seen: list[int] = []
    original = adapter._create

    def creating(*args: Any) -> None:
        seen.append(len(records.recorded_rules("site")))  # what was recorded when CreateRule came
        original(*args)

    adapter._create = creating  # type: ignore[method-assign]
    plan = plan_for(aws.region, balancer, http, "a.example.net")
    answers = [answer("a.example.net", "tokA")]
    adapter.publish(plan, answers, deadline=time.monotonic() + 30)
    assert seen == [1]
    assert records.recorded_rules("site") == [
        Http01Rule("site", HttpListener(aws.region, balancer, http), "a.example.net", "tokA", "tokA.thumb")
    ]
    adapter.remove(plan, answers)
    assert non_default(elbv2, http) == [] and records.recorded_rules("site") == []
