"""HTTP-01 answered by the ALB itself, for names whose DNS is not in Route 53: pebble really fetches the token
from the devstack's ALB front, which answers from the listener rules moto holds."""

from __future__ import annotations

from typing import Any

import pytest
from certrotate.adapters.aws import alb_http01
from certrotate.adapters.aws.alb_http01 import AlbHttp01
from certrotate.adapters.lease_table.challenge_records import DynamoDbChallengeRecords

from devstack import dns as devstack_dns
from devstack import fixtures, moto_fixes
from tests.e2e.conftest import World
from tests.e2e.test_faults import Crash, crash_after, expire_leases

NAME = "shop.example.net"  # no hosted zone holds example.net: its DNS is with another provider


def path_rule(
    world: World, listener_arn: str, *, priority: int, path: str, status: str, body: str
) -> dict[str, Any]:
    """Somebody else's rule on the port-80 listener: a fixed response for a path."""
    rule: dict[str, Any] = world.elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=priority,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": [path]}}],
        Actions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": status,
                    "ContentType": "text/plain",
                    "MessageBody": body,
                },
            }
        ],
    )["Rules"][0]
    return rule


def other_rule(world: World, listener_arn: str) -> dict[str, Any]:
    """Somebody else's rule on the port-80 listener, at priority 1 (the one certrotate would like)."""
    return path_rule(world, listener_arn, priority=1, path="/health", status="200", body="ok")


def rules(world: World, listener_arn: str) -> list[dict[str, Any]]:
    return [r for r in world.elbv2.describe_rules(ListenerArn=listener_arn)["Rules"] if not r["IsDefault"]]


def setup_alb(world: World, names: list[str], **seed: Any) -> tuple[dict[str, Any], Any, str, dict[str, Any]]:
    old = world.seed("shop", names, days_left=5, **seed)
    https = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    http = fixtures.create_alb_http_listener(world.elbv2, https.load_balancer_arn)
    dns_name = world.elbv2.describe_load_balancers(LoadBalancerArns=[https.load_balancer_arn])[
        "LoadBalancers"
    ][0]["DNSName"]
    for name in names:
        devstack_dns.point_name_at(name, dns_name)  # the other provider's CNAME to the ALB
    return old, https, http, other_rule(world, http)


def test_a_name_without_a_zone_is_validated_by_http_01_on_the_alb(world: World) -> None:
    _, https, http, other = setup_alb(world, [NAME])
    result = world.rotate("shop")
    assert result["status"] == "rotated"
    new_arn = world.certificates()[result["new_certificate_name"]]["Arn"]
    assert world.listener_certificates(https.listener_arn) == (new_arn, [])
    # Pebble fetched the token through the ALB front, which answered from our rule.
    assert world.stack.alb_front is not None
    fetched = [(h, p, s) for h, p, s in world.stack.alb_front.requests if p.startswith("/.well-known/")]
    assert fetched and all(h == NAME and s == 200 for h, _, s in fetched)
    # The challenge rule is gone; the other rule is exactly as it was.
    assert rules(world, http) == [other]


def test_one_order_mixes_dns_01_and_http_01(world: World) -> None:
    _, _, http, other = setup_alb(world, ["mixed.example.com", NAME])  # example.com is in Route 53
    result = world.rotate("shop")
    assert result["status"] == "rotated"
    assert "validated mixed.example.com by dns-01 on Route 53 zone example.com" in result["steps"]
    assert f"validated {NAME} by http-01 on port-80 listener(s) {http}" in result["steps"]
    assert world.txt_records() == [] and rules(world, http) == [other]


def test_the_tag_forces_http_01_and_stays_with_the_replacement(world: World) -> None:
    _, _, http, other = setup_alb(world, ["forced.example.com"], tags={"certrotate:challenge": "http-01"})
    result = world.rotate("shop")
    assert f"validated forced.example.com by http-01 on port-80 listener(s) {http}" in result["steps"]
    assert world.tags(result["new_certificate_name"])["certrotate:challenge"] == "http-01"
    assert rules(world, http) == [other]


def test_the_dry_run_reports_the_method_of_each_name(world: World) -> None:
    setup_alb(world, [NAME])
    before = world.snapshot()
    result = world.rotate("shop", dry_run=True)
    assert result["status"] == "planned"
    assert any(step.startswith(f"answer {NAME} by http-01 on port-80 listener") for step in result["steps"])
    assert world.snapshot() == before


def dead(*args: Any, **kwargs: Any) -> None:
    raise Crash("the process is gone: no `finally` runs its cleanup")


def test_a_crash_after_create_rule_leaves_a_rule_that_the_rerun_removes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, http, other = setup_alb(world, [NAME])
    crash_after(monkeypatch, AlbHttp01, "_create")
    monkeypatch.setattr(AlbHttp01, "remove", dead)
    with pytest.raises(Crash):
        world.rotate("shop")
    monkeypatch.undo()
    left = [r for r in rules(world, http) if r["RuleArn"] != other["RuleArn"]]
    assert len(left) == 1, "the dead run left its challenge rule"
    tags = world.elbv2.describe_tags(ResourceArns=[left[0]["RuleArn"]])["TagDescriptions"][0]["Tags"]
    assert {t["Key"] for t in tags} == {"certrotate:challenge"}

    [recorded] = world.table_items("#challenges:")
    assert recorded["certificate"]["S"] == "#challenges:shop"
    assert len(recorded["rules"]["SS"]) == 1, "the rule was recorded before it was created"

    expire_leases(world)
    result = world.rotate("shop")
    assert result["status"] == "rotated"
    assert rules(world, http) == [other], "the rerun removed the rule left behind, and only that"
    replacements = [n for n in world.certificates() if n.startswith("shop-cr")]
    assert len(replacements) == 1
    assert world.table_items("#challenges:") == [], "nothing left to remember"


def test_a_crash_between_the_record_and_create_rule_leaves_a_record_the_rerun_forgets(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, http, other = setup_alb(world, [NAME])
    crash_after(monkeypatch, DynamoDbChallengeRecords, "record_rules")
    monkeypatch.setattr(AlbHttp01, "remove", dead)
    with pytest.raises(Crash):
        world.rotate("shop")
    monkeypatch.undo()
    assert rules(world, http) == [other], "no rule was created"
    assert len(world.table_items("#challenges:")) == 1

    expire_leases(world)
    assert world.rotate("shop")["status"] == "rotated"
    assert rules(world, http) == [other]
    assert world.table_items("#challenges:") == []


def forged_rule(world: World, listener_arn: str, tag: str) -> dict[str, Any]:
    """The application team's rule (403 on /admin*), on which someone allowed only
    elasticloadbalancing:AddTags wrote certrotate's challenge tag."""
    rule = path_rule(world, listener_arn, priority=5, path="/admin*", status="403", body="no")
    world.elbv2.add_tags(ResourceArns=[rule["RuleArn"]], Tags=[{"Key": "certrotate:challenge", "Value": tag}])
    return rule


def test_a_rule_with_a_forged_challenge_tag_is_left_in_place_and_reported(world: World) -> None:
    _, _, http, other = setup_alb(world, [NAME])
    blocking = forged_rule(world, http, "shop/forged")
    # A copy of a challenge rule's shape (host, token path, fixed 200) that no rotation recorded: not ours.
    lookalike: dict[str, Any] = world.elbv2.create_rule(
        ListenerArn=http,
        Priority=6,
        Conditions=[
            {"Field": "host-header", "HostHeaderConfig": {"Values": [NAME]}},
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/.well-known/acme-challenge/tok"]}},
        ],
        Actions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": "200",
                    "ContentType": "text/plain",
                    "MessageBody": "tok.x",
                },
            }
        ],
        Tags=[{"Key": "certrotate:challenge", "Value": "shop/tok"}],
    )["Rules"][0]

    result = world.rotate("shop")

    assert result["status"] == "rotated"
    assert rules(world, http) == [other, blocking, lookalike], "only the rotation's own rule went"
    for rule in (blocking, lookalike):
        assert any(s.startswith(f"left in place rule {rule['RuleArn']}") for s in result["steps"])
    assert world.table_items("#challenges:") == []


def test_a_forged_replaces_tag_does_not_make_another_certificates_rule_ours(world: World) -> None:
    _, _, http, other = setup_alb(world, [NAME], tags={"certrotate:replaces": "victim"})
    blocking = forged_rule(world, http, "victim/forged")

    result = world.rotate("shop")

    assert result["status"] == "rotated"
    assert rules(world, http) == [other, blocking]
    assert any(s.startswith(f"left in place rule {blocking['RuleArn']}") for s in result["steps"])


def test_a_name_neither_method_can_answer_fails_before_ordering(world: World) -> None:
    world.seed("orphan", ["orphan.example.net"], days_left=5)
    fixtures.create_alb_https_listener(
        world.elbv2, world.ec2, world.certificates()["orphan"]["Arn"]
    )  # no :80
    assert world.stack.ca_limits is not None
    with pytest.raises(Exception, match="no Application Load Balancer serving the certificate has an HTTP"):
        world.rotate("orphan")
    assert world.stack.ca_limits.orders(["orphan.example.net"]) == 0, "nothing was ordered"
    assert world.tags("orphan").get("certrotate:held-until"), "a permanent failure holds further orders"


def test_a_wildcard_without_a_zone_is_refused_before_ordering(world: World) -> None:
    setup_alb(world, ["*.example.net"])
    assert world.stack.ca_limits is not None
    with pytest.raises(Exception, match=r"\*\.example\.net is a wildcard: it needs DNS-01"):
        world.rotate("shop")
    assert world.stack.ca_limits.orders(["*.example.net"]) == 0, "nothing was ordered"


def test_a_name_that_resolves_elsewhere_is_held_after_one_order(world: World) -> None:
    """The CA fetches the token and does not reach our rule (here: the name points at another ALB, which has
    no port-80 listener): every redelivery would spend another order and another failed validation."""
    old, _, http, other = setup_alb(world, [NAME])
    elsewhere = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="elsewhere")
    [balancer] = world.elbv2.describe_load_balancers(LoadBalancerArns=[elsewhere.load_balancer_arn])[
        "LoadBalancers"
    ]
    devstack_dns.point_name_at(NAME, balancer["DNSName"])
    assert world.scan()["enqueued"] == ["shop"]
    [record] = world.receive()

    for _ in range(3):
        assert world.invoke("RotateFunction", {"Records": [record]}) == {"batchItemFailures": []}
    scan = world.scan()

    assert world.stack.ca_limits is not None and world.stack.ca_limits.orders([NAME]) == 1
    assert world.stack.ca_limits.failed_validations(NAME) == 0, "fetched first: the CA was never told"
    [held] = scan["held"]
    assert held["permanent"] is True and held["reason"].startswith("Http01NotReached")
    assert rules(world, http) == [other], "the challenge rule is removed"


def ca(world: World) -> Any:
    assert world.stack.ca_limits is not None
    return world.stack.ca_limits


def test_rules_that_take_seconds_to_apply_rotate_without_a_hold_or_a_failed_validation(world: World) -> None:
    """AWS: "rule updates do not take effect immediately". The token is fetched as the CA will fetch it
    before the CA is told, so a rule still propagating costs a short wait, not a failed validation (Let's
    Encrypt allows 5 per name per hour) and a day's hold."""
    _, https, http, other = setup_alb(world, [NAME])
    moto_fixes.set_alb_rule_delay(3)
    assert world.scan()["enqueued"] == ["shop"]
    assert world.rotate_from_queue(world.receive()) == {"batchItemFailures": []}
    [replacement] = [n for n in world.certificates() if n.startswith("shop-cr")]
    assert world.listener_certificates(https.listener_arn)[0] == world.certificates()[replacement]["Arn"]
    assert ca(world).orders([NAME]) == 1 and ca(world).failed_validations(NAME) == 0
    assert world.scan()["held"] == []
    assert rules(world, http) == [other]


def test_a_rule_slower_than_the_wait_is_retried_not_held(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, http, other = setup_alb(world, [NAME])
    moto_fixes.set_alb_rule_delay(4)
    monkeypatch.setattr(alb_http01, "PROPAGATION_WAIT", 1.0)  # a wait shorter than the propagation
    world.scan()
    records = world.receive()
    with pytest.raises(Exception, match="All records failed processing"):  # transient: back to SQS
        world.rotate_from_queue(records)
    assert ca(world).failed_validations(NAME) == 0, "the CA was never told"
    assert world.scan(dry_run=True)["held"] == [], "not held: propagation passes"
    assert rules(world, http) == [other], "the rule is removed all the same"
    monkeypatch.setattr(alb_http01, "PROPAGATION_WAIT", 60.0)
    assert world.rotate_from_queue(records) == {"batchItemFailures": []}
    assert ca(world).failed_validations(NAME) == 0
    assert ca(world).issued([NAME]) == 1


def redirect_rule(world: World, listener_arn: str, priority: int, host: str = NAME) -> dict[str, Any]:
    """Somebody's redirect of every path of `host` to HTTPS: it would answer the CA's request for a token."""
    rule: dict[str, Any] = world.elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=priority,
        Conditions=[
            {"Field": "host-header", "HostHeaderConfig": {"Values": [host]}},
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}},
        ],
        Actions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "StatusCode": "HTTP_301"}}],
    )["Rules"][0]
    return rule


def test_a_rule_that_would_answer_first_is_refused_before_ordering_when_nothing_is_free_ahead(
    world: World,
) -> None:
    _, _, http, other = setup_alb(world, [NAME])
    redirect = redirect_rule(world, http, 2)  # priority 1 is the other rule: nothing is free ahead of it
    planned = world.rotate("shop", dry_run=True)
    assert any(s.startswith("refuse before ordering") and "priority 2" in s for s in planned["steps"])
    with pytest.raises(Exception, match=r"priority 2, redirect\) on the port-80 listener .* would answer"):
        world.rotate("shop")
    assert ca(world).orders([NAME]) == 0, "refused before any order"
    tags = world.tags("shop")
    assert tags["certrotate:held-reason"].startswith("ChallengeRuleShadowed")
    assert tags["certrotate:held-until"].startswith("8999-"), "held until an operator forces"
    assert rules(world, http) == [other, redirect], "other rules are never moved"

    # The operator moves their rule back (priority 10): ours goes ahead of it, at the lowest free priority.
    world.elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": redirect["RuleArn"], "Priority": 10}])
    assert world.rotate("shop", force=True)["status"] == "rotated"
    assert ca(world).orders([NAME]) == 1 and ca(world).failed_validations(NAME) == 0
    assert [r["Priority"] for r in rules(world, http)] == ["1", "10"]


def test_a_full_alb_is_refused_before_any_order(world: World) -> None:
    _, https, http, _ = setup_alb(world, [NAME])
    # 100 rules on the load balancer besides the defaults, counted over both its listeners.
    for priority in range(1, 51):
        world.elbv2.create_rule(
            ListenerArn=https.listener_arn,
            Priority=priority,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": [f"/app/{priority}"]}}],
            Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
        )
    for priority in range(2, 51):
        world.elbv2.create_rule(
            ListenerArn=http,
            Priority=priority,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": [f"/app/{priority}"]}}],
            Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
        )
    with pytest.raises(Exception, match="holds its quota of listener rules"):
        world.rotate("shop")
    assert ca(world).orders([NAME]) == 0, "refused before any order"
    assert world.tags("shop")["certrotate:held-reason"].startswith("ListenerRulesFull")
