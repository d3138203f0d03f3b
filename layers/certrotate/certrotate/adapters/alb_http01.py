"""HTTP-01 answered by the Application Load Balancer itself: a listener rule on its port-80 listener.

For each name, on each port-80 HTTP listener of the ALBs serving the certificate, one rule: conditions
host-header = the name and path-pattern = /.well-known/acme-challenge/<token>, action fixed-response 200
text/plain with the key authorization as body (87 characters: far below the 1,024 allowed). The rule takes the
lowest free priority, so that as few rules as possible are evaluated before it (the default action, often a
redirect to HTTPS, always comes after every rule); its conditions are so narrow that it shadows nothing else.
A rule of someone else's at a lower priority that matches the challenge's path (a catch-all redirect, say)
still answers first: the CA then fails to fetch the token, which is a held Http01NotReached naming the name.

Other rules are never touched: a rule is deleted only when its tag `certrotate:challenge` names this
certificate (`<certificate>/<token>`). A run that died after CreateRule left its rules behind: the next run of
the same certificate removes them before creating its own, and every run removes its own after validation,
whatever happened. Priorities are shared with people and other rotations: a taken one (PriorityInUse) is
read again and another picked; the ALB's quota of rules (TooManyRules) is a permanent failure, named.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from certrotate.adapters._retry import error_code
from certrotate.errors import CertRotateError, ListenerRulesFull
from certrotate.model import (
    ChallengeAnswer,
    ChallengeMethod,
    ChallengePlan,
    Endpoint,
    EndpointKind,
    HttpListener,
)
from certrotate.names import CHALLENGE_TAG, name_tag_value

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

logger = Logger(child=True)

HTTP_PORT = 80  # where every CA connects for HTTP-01 (RFC 8555 section 8.3)
MAX_PRIORITY = 50000  # ELB's highest rule priority
PRIORITY_ATTEMPTS = 8  # PriorityInUse: another writer took the priority we read as free
TAGS_PER_DESCRIBE = 20  # DescribeTags takes at most 20 ARNs
GONE = frozenset({"ListenerNotFound", "LoadBalancerNotFound"})


def rule_tag_value(certificate: str, token: str) -> str:
    """`<certificate>/<token>`: "/" is in no IAM certificate name, and ELB tag values allow it."""
    return f"{name_tag_value(certificate)}/{token}"


def lowest_free(taken: Iterable[int], count: int) -> list[int]:
    """The `count` lowest priorities not taken."""
    used = set(taken)
    free: list[int] = []
    priority = 1
    while len(free) < count and priority <= MAX_PRIORITY:
        if priority not in used:
            free.append(priority)
        priority += 1
    return free


class AlbHttp01:
    """Implements ports.Http01Listeners over the ELBv2 API of each region (clients built on first use)."""

    def __init__(self, elbv2: Callable[[str], ElasticLoadBalancingv2Client]) -> None:
        self._client_for = elbv2
        self._clients: dict[str, ElasticLoadBalancingv2Client] = {}

    def _v2(self, region: str) -> ElasticLoadBalancingv2Client:
        if region not in self._clients:
            self._clients[region] = self._client_for(region)
        return self._clients[region]

    # -- reading ---------------------------------------------------------------------------------------

    def port80_listeners(self, serving: Sequence[Endpoint]) -> list[HttpListener]:
        found: list[HttpListener] = []
        balancers = dict.fromkeys(
            (e.region, e.load_balancer) for e in serving if e.kind is EndpointKind.ELBV2_LISTENER
        )
        for region, balancer in balancers:
            try:
                pages = (
                    self._v2(region).get_paginator("describe_listeners").paginate(LoadBalancerArn=balancer)
                )
                for page in pages:
                    for listener in page["Listeners"]:
                        # Only an ALB has HTTP listeners: an NLB's TCP port 80 cannot answer with a rule.
                        if listener.get("Protocol") == "HTTP" and listener.get("Port") == HTTP_PORT:
                            found.append(HttpListener(region, balancer, listener["ListenerArn"]))
            except ClientError as exc:
                if error_code(exc) not in GONE:
                    raise
        return found

    def _rules(self, listener: HttpListener) -> list[Any]:
        rules: list[Any] = []
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"ListenerArn": listener.listener_arn}
            if marker:
                kwargs["Marker"] = marker
            page = self._v2(listener.region).describe_rules(**kwargs)
            rules.extend(page["Rules"])
            marker = page.get("NextMarker")
            if not marker:
                return rules

    def _tags(self, region: str, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        tags: dict[str, dict[str, str]] = {}
        for start in range(0, len(arns), TAGS_PER_DESCRIBE):
            response = self._v2(region).describe_tags(
                ResourceArns=list(arns[start : start + TAGS_PER_DESCRIBE])
            )
            for description in response["TagDescriptions"]:
                tags[description["ResourceArn"]] = {t["Key"]: t["Value"] for t in description.get("Tags", [])}
        return tags

    # -- the responder ---------------------------------------------------------------------------------

    def publish(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer], *, deadline: float) -> None:
        for listener, listener_answers in _by_listener(plan, answers).items():
            self._create(plan, listener, listener_answers, deadline)

    def remove_left_behind(self, plan: ChallengePlan) -> None:
        """Rules a dead run of this certificate left: gone before ordering, before new ones take priorities
        and quota."""
        listeners: dict[HttpListener, list[ChallengeAnswer]] = {
            listener: []
            for route in plan.routes
            if route.method is ChallengeMethod.HTTP_01
            for listener in route.listeners
        }
        self._remove_ours(plan, listeners)

    def remove(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer]) -> None:
        self._remove_ours(plan, _by_listener(plan, answers))

    def _create(
        self, plan: ChallengePlan, listener: HttpListener, answers: Sequence[ChallengeAnswer], deadline: float
    ) -> None:
        client = self._v2(listener.region)
        rules = self._rules(listener)
        taken = {int(r["Priority"]) for r in rules if not r.get("IsDefault")}
        for answer in answers:
            for attempt in range(1, PRIORITY_ATTEMPTS + 1):
                free = lowest_free(taken, 1)
                if not free:
                    raise ListenerRulesFull(listener.load_balancer)
                priority = free[0]
                try:
                    client.create_rule(
                        ListenerArn=listener.listener_arn,
                        Priority=priority,
                        Conditions=[
                            {"Field": "host-header", "HostHeaderConfig": {"Values": [answer.name]}},
                            {"Field": "path-pattern", "PathPatternConfig": {"Values": [answer.path]}},
                        ],
                        Actions=[
                            {
                                "Type": "fixed-response",
                                "FixedResponseConfig": {
                                    "StatusCode": "200",
                                    "ContentType": "text/plain",
                                    "MessageBody": answer.validation,
                                },
                            }
                        ],
                        Tags=[
                            {"Key": CHALLENGE_TAG, "Value": rule_tag_value(plan.certificate, answer.token)}
                        ],
                    )
                except ClientError as exc:
                    code = error_code(exc)
                    if code == "TooManyRules":
                        raise ListenerRulesFull(listener.load_balancer) from None
                    if code != "PriorityInUse" or attempt == PRIORITY_ATTEMPTS or time.monotonic() > deadline:
                        raise
                    # Someone took it since we read: read again rather than guess the next one.
                    taken = {int(r["Priority"]) for r in self._rules(listener) if not r.get("IsDefault")}
                    continue
                taken.add(priority)
                break

    def _remove_ours(
        self, plan: ChallengePlan, by_listener: dict[HttpListener, list[ChallengeAnswer]]
    ) -> None:
        """Delete every rule whose tag names one of the plan's owners, on each listener; nothing else.
        Every listener is tried; the failures are raised together at the end."""
        prefixes = tuple(f"{name_tag_value(owner)}/" for owner in plan.owners)
        problems: list[str] = []
        for listener in by_listener:
            try:
                rules = [r for r in self._rules(listener) if not r.get("IsDefault")]
                tags = self._tags(listener.region, [r["RuleArn"] for r in rules])
                for rule in rules:
                    value = tags.get(rule["RuleArn"], {}).get(CHALLENGE_TAG, "")
                    if not value.startswith(prefixes):
                        continue
                    try:
                        self._v2(listener.region).delete_rule(RuleArn=rule["RuleArn"])
                    except ClientError as exc:
                        if error_code(exc) != "RuleNotFound":  # removed meanwhile: that is the goal
                            raise
                    logger.info("removed an HTTP-01 challenge rule", extra={"rule": rule["RuleArn"]})
            except ClientError as exc:
                if error_code(exc) in GONE:
                    continue
                problems.append(f"{listener.listener_arn}: {error_code(exc)}: {exc}")
        if problems:
            raise CertRotateError("could not remove HTTP-01 challenge rules: " + "; ".join(problems))


def _by_listener(
    plan: ChallengePlan, answers: Sequence[ChallengeAnswer]
) -> dict[HttpListener, list[ChallengeAnswer]]:
    grouped: dict[HttpListener, list[ChallengeAnswer]] = {}
    for answer in answers:
        route = plan.route(answer.name)
        if route.method is not ChallengeMethod.HTTP_01:
            continue
        for listener in route.listeners:
            grouped.setdefault(listener, []).append(answer)
    return grouped
