"""The port-80 listeners of Application Load Balancers and their rules, as HTTP-01 needs them read: which
listeners can answer, room under the ALB's quota of rules, which rules of someone else's would answer the CA
first (pure), and which rules are certrotate's own by shape and tag (pure). The responder (alb_http01.py)
creates, checks and removes the rules."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.errors import ChallengeRuleShadowed, ListenerRulesFull
from certrotate.model import ChallengeMethod, ChallengePlan, Endpoint, EndpointKind, Http01Rule, HttpListener
from certrotate.names import CHALLENGE_TAG, name_tag_value

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

    from certrotate.ports import ChallengeRecords

logger = Logger(child=True)

HTTP_PORT = 80  # where every CA connects for HTTP-01 (RFC 8555 section 8.3)
MAX_PRIORITY = 50000  # ELB's highest rule priority
TAGS_PER_DESCRIBE = 20  # DescribeTags takes at most 20 ARNs
GONE = frozenset({"ListenerNotFound", "LoadBalancerNotFound"})
RULES_QUOTA_NAME = "rules-per-application-load-balancer"  # DescribeAccountLimits
TOKEN_SAMPLE = "/.well-known/acme-challenge/" + "T0k3n-_" * 6 + "x"  # 43 characters, as ACME tokens


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


# -- which rules answer the CA before ours (pure) ------------------------------------------------------------


def _wildcard(pattern: str, *, case_sensitive: bool) -> re.Pattern[str]:
    # ELB's condition wildcards: `*` any characters, `?` one.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE)


def _values(condition: Mapping[str, Any], config: str) -> list[str]:
    return list(condition.get(config, {}).get("Values") or condition.get("Values") or [])


def _takes_the_challenge(condition: Mapping[str, Any], name: str) -> bool:
    """Whether a condition matches the request the CA sends for `name` (GET http://<name>/.well-known/
    acme-challenge/<token>, from addresses nobody knows, with headers nobody chose, no query string). Only
    a source-ip condition open to every address counts as matching the CA; header and query-string
    conditions do not (the CA sends neither on purpose); a condition of a kind unknown here counts."""
    field = condition.get("Field")
    if field == "host-header":
        return any(
            _wildcard(v, case_sensitive=False).match(name) for v in _values(condition, "HostHeaderConfig")
        )
    if field == "path-pattern":
        paths = _values(condition, "PathPatternConfig")
        return any(_wildcard(v, case_sensitive=True).match(TOKEN_SAMPLE) for v in paths)
    if field == "http-request-method":
        return "GET" in condition.get("HttpRequestMethodConfig", {}).get("Values", [])
    if field == "source-ip":
        cidrs = condition.get("SourceIpConfig", {}).get("Values", [])
        return any(ipaddress.ip_network(c, strict=False).prefixlen == 0 for c in cidrs)
    return field not in ("http-header", "query-string")


def shadowing(rules: Iterable[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    """The rules (DescribeRules entries, not the default) that answer the CA's request for `name` before a
    rule of ours at a higher priority number would, lowest priority first."""
    found = [
        rule
        for rule in rules
        if not rule.get("IsDefault")
        and all(_takes_the_challenge(c, name) for c in rule.get("Conditions", []))
    ]
    return sorted(found, key=lambda rule: int(rule["Priority"]))


def describe_rule(rule: Mapping[str, Any]) -> str:
    actions = sorted(rule.get("Actions", []), key=lambda a: int(a.get("Order", 1)))
    kind = actions[-1].get("Type", "?") if actions else "?"
    return f"rule {rule.get('RuleArn', '?')} (priority {rule.get('Priority')}, {kind})"


# -- which rules are ours (pure) -------------------------------------------------------------------------


def has_the_shape(rule: Mapping[str, Any], wanted: Http01Rule) -> bool:
    """Whether a DescribeRules entry is exactly the rule certrotate creates for `wanted` (its tag aside):
    the two conditions host-header = the name and path-pattern = the token's path and no other, the one
    action fixed-response 200 text/plain with the key authorization. Anything else is someone's rule."""
    if rule.get("IsDefault"):
        return False
    conditions = {c.get("Field"): c for c in rule.get("Conditions", [])}
    if len(rule.get("Conditions", [])) != 2 or set(conditions) != {"host-header", "path-pattern"}:
        return False
    hosts = [v.lower() for v in _values(conditions["host-header"], "HostHeaderConfig")]
    if hosts != [wanted.name.lower()] or _values(conditions["path-pattern"], "PathPatternConfig") != [
        wanted.path
    ]:
        return False
    actions = rule.get("Actions", [])
    if len(actions) != 1 or actions[0].get("Type") != "fixed-response":
        return False
    response = actions[0].get("FixedResponseConfig", {})
    return (
        str(response.get("StatusCode")) == "200"
        and response.get("ContentType") == "text/plain"
        and response.get("MessageBody") == wanted.body
    )


def proven_ours(rule: Mapping[str, Any], tags: Mapping[str, str], recorded: Iterable[Http01Rule]) -> bool:
    """Whether `rule` (on the listener of `recorded`) is one certrotate recorded creating: its shape and
    its tag are exactly those of a recorded rule."""
    return any(
        has_the_shape(rule, wanted)
        and tags.get(CHALLENGE_TAG) == rule_tag_value(wanted.certificate, wanted.token)
        for wanted in recorded
    )


class AlbListenerRules:
    """The ELBv2 API of each region (clients built on first use), read for HTTP-01: listeners, rules, tags,
    the quota. `records`: the rules runs recorded creating (the lease table); None: none are known."""

    def __init__(
        self,
        elbv2: Callable[[str], ElasticLoadBalancingv2Client],
        *,
        records: ChallengeRecords | None = None,
    ) -> None:
        self._client_for = elbv2
        self._records = records
        self._clients: dict[str, ElasticLoadBalancingv2Client] = {}
        self._quotas: dict[str, int | None] = {}

    def client(self, region: str) -> ElasticLoadBalancingv2Client:
        if region not in self._clients:
            self._clients[region] = self._client_for(region)
        return self._clients[region]

    def port80_listeners(self, serving: Sequence[Endpoint]) -> list[HttpListener]:
        found: list[HttpListener] = []
        balancers = dict.fromkeys(
            (e.region, e.load_balancer) for e in serving if e.kind is EndpointKind.ELBV2_LISTENER
        )
        for region, balancer in balancers:
            try:
                pages = (
                    self.client(region).get_paginator("describe_listeners").paginate(LoadBalancerArn=balancer)
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

    def rules(self, listener: HttpListener) -> list[Any]:
        return self.rules_of(listener.region, listener.listener_arn)

    def rules_of(self, region: str, listener_arn: str) -> list[Any]:
        pages = self.client(region).get_paginator("describe_rules").paginate(ListenerArn=listener_arn)
        return [rule for page in pages for rule in page["Rules"]]

    def _rules_quota(self, region: str) -> int | None:
        """The account's quota of rules per ALB in `region` (None: not known; the quota is then met at
        CreateRule, as TooManyRules)."""
        if region not in self._quotas:
            try:
                pages = self.client(region).get_paginator("describe_account_limits").paginate()
                limits = {limit["Name"]: limit["Max"] for page in pages for limit in page.get("Limits", [])}
                raw = limits.get(RULES_QUOTA_NAME)
                self._quotas[region] = int(float(raw)) if raw is not None else None
            except ClientError as exc:
                logger.warning(
                    "the quota of rules per load balancer could not be read: checked at CreateRule only",
                    extra={"region": region, "error": error_code(exc)},
                )
                self._quotas[region] = None
        return self._quotas[region]

    def _rules_on_balancer(self, region: str, balancer: str) -> dict[str, list[Any]]:
        """Every listener of the load balancer and its rules (the quota counts them all)."""
        pages = self.client(region).get_paginator("describe_listeners").paginate(LoadBalancerArn=balancer)
        return {
            listener["ListenerArn"]: self.rules_of(region, listener["ListenerArn"])
            for page in pages
            for listener in page["Listeners"]
        }

    def _recorded(self, owners: Sequence[str]) -> list[Http01Rule]:
        """The rules runs of `owners` recorded creating (and have not removed yet)."""
        if self._records is None:
            return []
        return [rule for owner in owners for rule in self._records.recorded_rules(owner)]

    def _proven(self, region: str, rules: Sequence[Any], recorded: Sequence[Http01Rule]) -> set[str]:
        """The ARNs of the rules among `rules` (one listener's) that are recorded ones, by shape and tag.
        Only rules of the recorded shape have their tags read."""
        shaped = [r for r in rules if any(has_the_shape(r, wanted) for wanted in recorded)]
        tags = self.tags(region, [r["RuleArn"] for r in shaped])
        return {r["RuleArn"] for r in shaped if proven_ours(r, tags.get(r["RuleArn"], {}), recorded)}

    # -- before ordering -------------------------------------------------------------------------------

    def check(self, plan: ChallengePlan) -> None:
        """Raises ListenerRulesFull when an ALB has no room for the plan's rules (its quota counts the rules
        of all its listeners, the defaults aside, those a dead run of ours recorded aside: they go before
        ordering), and
        ChallengeRuleShadowed when a rule of someone else's would answer a name's challenge first and no
        priority ahead of it is free. Both before any order."""
        names_by_listener: dict[HttpListener, list[str]] = {}
        for route in plan.routes:
            if route.method is ChallengeMethod.HTTP_01:
                for listener in route.listeners:
                    names_by_listener.setdefault(listener, []).append(route.name)
        if not names_by_listener:
            return
        needed: Counter[tuple[str, str]] = Counter()
        ours: set[str] = set()  # rules a dead run of ours recorded and left (they go before the order)
        left = self._recorded(plan.owners)
        for listener, names in names_by_listener.items():
            try:
                rules = self.rules(listener)
            except ClientError as exc:
                if error_code(exc) in GONE:
                    continue
                raise
            ours |= self._proven(listener.region, rules, [r for r in left if r.listener == listener])
            others = [r for r in rules if not r.get("IsDefault") and r["RuleArn"] not in ours]
            taken = {int(r["Priority"]) for r in others}
            for name in names:
                free = lowest_free(taken, 1)
                if not free:
                    raise ListenerRulesFull(listener.load_balancer)
                first = next(iter(shadowing(others, name)), None)
                if first is not None and int(first["Priority"]) < free[0]:
                    raise ChallengeRuleShadowed(name, listener.listener_arn, describe_rule(first))
                taken.add(free[0])
            needed[(listener.region, listener.load_balancer)] += len(names)
        for (region, balancer), count in needed.items():
            quota = self._rules_quota(region)
            if quota is None:
                continue
            held = sum(
                1
                for rules in self._rules_on_balancer(region, balancer).values()
                for rule in rules
                if not rule.get("IsDefault") and rule["RuleArn"] not in ours
            )
            if held + count > quota:
                raise ListenerRulesFull(balancer)

    def tags(self, region: str, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        tags: dict[str, dict[str, str]] = {}
        for start in range(0, len(arns), TAGS_PER_DESCRIBE):
            response = self.client(region).describe_tags(
                ResourceArns=list(arns[start : start + TAGS_PER_DESCRIBE])
            )
            for description in response["TagDescriptions"]:
                tags[description["ResourceArn"]] = {t["Key"]: t["Value"] for t in description.get("Tags", [])}
        return tags
