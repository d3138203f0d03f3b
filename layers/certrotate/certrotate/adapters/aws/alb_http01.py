"""HTTP-01 answered by the Application Load Balancer itself: a listener rule on its port-80 listener.

For each name, on each port-80 HTTP listener of the ALBs serving the certificate, one rule: conditions
host-header = the name and path-pattern = /.well-known/acme-challenge/<token>, action fixed-response 200
text/plain with the key authorization as body (87 characters: far below the 1,024 allowed). Its conditions
are so narrow that it shadows nothing else.

Before ordering (`check`): room for the rules under the ALB's quota of rules (DescribeAccountLimits: 100 by
default, the listeners' default rules aside), and no rule of someone else's that would answer the CA's
request first (same host, a path pattern that takes the token's path: a redirect to HTTPS, a forward) with no
free priority ahead of it. Ours takes the lowest free priority, which is then ahead of every such rule; when
none is free ahead of one, the rotation is refused before any order, the rule named (ChallengeRuleShadowed).

After creating the rules and before the CA is told (`publish`): each token is fetched the way the CA will,
http://<name>/.well-known/acme-challenge/<token> through the name's DNS (ENDPOINT_CHECK_CONNECT_TO may send
it through a tunnel), until it answers the key authorization. AWS warns that "rule updates do not take effect
immediately": an answer that is not yet ours is waited for with backoff, bounded (PROPAGATION_WAIT and the
invocation's deadline), and if it does not come, the rotation fails without telling the CA (no failed
validation spent) as a transient failure, retried, not held. A name that reaches nothing at all (refused, no
such host) is Http01NotReached, held: the CA would not reach it either.

Other rules are never touched. The tag `certrotate:challenge` = `<certificate>/<token>` that our rules
carry is a claim, not a proof: anyone allowed elasticloadbalancing:AddTags can write it on any rule (a
blocking rule, a redirect), and the IAM policy's tag condition on DeleteRule cannot tell the difference. So
a rule is deleted only when certrotate can prove it created it: every rule is recorded (ChallengeRecords, the
lease table's `#challenges:<lease key>`) before CreateRule, and a rule is removed only when it is recorded
for the certificate AND still has exactly the shape certrotate creates (model.Http01Rule: the host and
token-path conditions and nothing else, the one fixed-response 200 text/plain action with the key
authorization, the tag). In the same run the answers in memory are that record. A rule that carries our tag
but is not recorded, or no longer has our shape, is left in place and reported (a WARNING, and the
rotation's steps). A run that died after CreateRule left its rules behind, recorded: the next run of the
same certificate removes them before it orders (`remove_left_behind`), and every run removes its own after
validation, whatever happened. Priorities are shared with people and other rotations: a taken one
(PriorityInUse) is read again and another picked; the ALB's quota of rules (TooManyRules) is a permanent
failure, named.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from certrotate.adapters.aws.alb_rules import (
    GONE,
    HTTP_PORT,
    AlbListenerRules,
    describe_rule,
    has_the_shape,
    lowest_free,
    proven_ours,
    rule_tag_value,
    shadowing,
)
from certrotate.adapters.aws.errors import error_code
from certrotate.errors import (
    CertRotateError,
    ChallengeRuleShadowed,
    Http01NotReached,
    Http01NotYetServed,
    ListenerRulesFull,
)
from certrotate.model import (
    ChallengeAnswer,
    ChallengeMethod,
    ChallengePlan,
    Endpoint,
    Http01Rule,
    HttpListener,
)
from certrotate.model.challenges import http01_rules
from certrotate.names import CHALLENGE_TAG, name_tag_value

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

    from certrotate.ports import ChallengeRecords

logger = Logger(child=True)

PRIORITY_ATTEMPTS = 8  # PriorityInUse: another writer took the priority we read as free
# Waiting for our rules to answer (fetched as the CA will): "rule updates do not take effect immediately".
PROPAGATION_WAIT = 60.0  # seconds at most, within the invocation's deadline
FIRST_PAUSE = 0.25  # seconds between fetches, doubled each time up to MAX_PAUSE
MAX_PAUSE = 4.0
UNREACHABLE_FETCHES = 4  # fetches in a row that reach nothing at all (~2 s): the name leads nowhere
FETCH_TIMEOUT = 5.0
DEADLINE_MARGIN = 20.0  # seconds kept for the CA's validation after the wait
USER_AGENT = "certrotate (HTTP-01 self-check)"

# A fetch: (name, path, timeout) -> (HTTP status, body). Raises OSError when nothing answers.
Fetch = Callable[[str, str, float], tuple[int, bytes]]
Connect = Callable[[str, int, float], socket.socket]


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the self-check saw of one name: whether anything answered, and the last answer."""

    answered: bool = False
    unreachable_in_a_row: int = 0
    last: str = "nothing yet"


def fetch_over_http(connect: Connect) -> Fetch:
    """A Fetch that connects through `connect` (tls_probe.connector: DNS, or curl-style --connect-to rules)
    and sends the CA's request; redirects are not followed (an answer that is not ours is not ours)."""

    def fetch(name: str, path: str, timeout: float) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(name, HTTP_PORT, timeout=timeout)
        connection.sock = connect(name, HTTP_PORT, timeout)
        try:
            connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
            response = connection.getresponse()
            return response.status, response.read(4096)
        except http.client.HTTPException as exc:
            raise ConnectionError(f"no HTTP answer: {type(exc).__name__}") from None
        finally:
            connection.close()

    return fetch


class AlbHttp01:
    """Implements ports.Http01Listeners over the ELBv2 API of each region (clients built on first use).
    `fetch`: how the self-check fetches a token (fetch_over_http); None: no self-check (tools, tests).
    `records`: where each rule is written down before it is created (the lease table); None: a rule is
    removed only by the run that created it (nothing a dead run left is removed, only reported)."""

    def __init__(
        self,
        elbv2: Callable[[str], ElasticLoadBalancingv2Client],
        *,
        fetch: Fetch | None = None,
        records: ChallengeRecords | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._listeners = AlbListenerRules(elbv2, records=records)
        self._records = records
        self._fetch = fetch
        self._sleep = sleep
        self._monotonic = monotonic

    # -- before ordering (alb_rules reads the listeners) -----------------------------------------------

    def port80_listeners(self, serving: Sequence[Endpoint]) -> list[HttpListener]:
        return self._listeners.port80_listeners(serving)

    def check(self, plan: ChallengePlan) -> None:
        """Raises ListenerRulesFull or ChallengeRuleShadowed before any order (AlbListenerRules.check)."""
        self._listeners.check(plan)

    def _rules(self, listener: HttpListener) -> list[Any]:
        return self._listeners.rules(listener)

    # -- the responder ---------------------------------------------------------------------------------

    def publish(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer], *, deadline: float) -> None:
        """Record the rules, create them, then wait until each name answers its token as the CA will fetch
        it. Recorded first: a run that dies after CreateRule left only rules its rerun can prove are ours."""
        rules = http01_rules(plan, answers)
        if not rules:
            return
        if self._records is not None:
            self._records.record_rules(plan.certificate, rules)
        for listener, listener_rules in _grouped(rules).items():
            self._create(listener, listener_rules, deadline)
        if self._fetch is not None:
            served = {a.name: a for a in answers if plan.route(a.name).method is ChallengeMethod.HTTP_01}
            self._await_served(list(served.values()), deadline)

    def _await_served(self, answers: Sequence[ChallengeAnswer], deadline: float) -> None:
        """Fetch each token as the CA will until every one answers its key authorization: bounded by
        PROPAGATION_WAIT and the deadline, with backoff. Raises Http01NotReached when a name reached nothing
        at all UNREACHABLE_FETCHES times in a row, Http01NotYetServed when something answered but not ours."""
        assert self._fetch is not None
        limit = min(self._monotonic() + PROPAGATION_WAIT, deadline - DEADLINE_MARGIN)
        seen = {answer.name: _Seen() for answer in answers}
        pending = list(answers)
        pause = FIRST_PAUSE
        while True:
            still: list[ChallengeAnswer] = []
            for answer in pending:
                try:
                    status, body = self._fetch(answer.name, answer.path, FETCH_TIMEOUT)
                except OSError as exc:
                    before = seen[answer.name]
                    seen[answer.name] = _Seen(
                        before.answered, before.unreachable_in_a_row + 1, f"no answer ({exc})"
                    )
                    if seen[answer.name].unreachable_in_a_row >= UNREACHABLE_FETCHES:
                        raise Http01NotReached(
                            f"http://{answer.name}{answer.path} reached nothing ({exc}): the name does not "
                            "lead to a port-80 listener of an ALB serving the certificate; the CA was not "
                            "asked to validate"
                        ) from None
                    still.append(answer)
                    continue
                if status == 200 and body.strip() == answer.validation.encode():
                    logger.info("the ALB answers the HTTP-01 token", extra={"dns_name": answer.name})
                    continue
                seen[answer.name] = _Seen(True, 0, f"HTTP {status}")
                still.append(answer)
            pending = still
            if not pending:
                return
            if self._monotonic() + pause > limit:
                break
            self._sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)
        names = ", ".join(f"{a.name} ({seen[a.name].last})" for a in pending)
        raise Http01NotYetServed(
            f"the ALB did not answer the HTTP-01 token yet for {names} after {PROPAGATION_WAIT:.0f} s: the "
            "rule has not taken effect (ALB rule updates propagate with a delay); the CA was not asked to "
            "validate, and a retry orders again"
        )

    def remove_left_behind(self, plan: ChallengePlan) -> list[str]:
        """Rules a dead run of this certificate (or of the one it replaced) recorded and left: gone before
        ordering, before new ones take priorities and quota. Rules on the plan's listeners that carry the tag
        of one of them but are not recorded, or no longer have our shape, are left in place; returned (and
        logged) to be reported."""
        listeners = {
            listener: None
            for route in plan.routes
            if route.method is ChallengeMethod.HTTP_01
            for listener in route.listeners
        }
        if not listeners:
            # An order without HTTP-01 reads nothing here (its records wait for the next HTTP-01 order).
            return []
        recorded: dict[str, list[Http01Rule]] = {owner: [] for owner in plan.owners}
        if self._records is not None:
            for owner in plan.owners:
                recorded[owner] = self._records.recorded_rules(owner)
        claimed = tuple(f"{name_tag_value(owner)}/" for owner in plan.owners)
        swept = self._sweep([r for rules in recorded.values() for r in rules], listeners, claimed)
        if self._records is not None:
            for owner, rules in recorded.items():
                self._records.forget_rules(owner, [r for r in rules if r.listener in swept.read])
        for arn, value in swept.unproven:
            logger.warning(
                "a listener rule carries certrotate's challenge tag but certrotate did not record creating "
                "it (or it no longer has the shape certrotate creates): left in place",
                extra={"rule": arn, "tag": value},
            )
        swept.raise_problems()
        return [
            f"left in place rule {arn} tagged {CHALLENGE_TAG}={value}: not a rule certrotate recorded "
            "creating in this shape (a tag alone proves nothing)"
            for arn, value in swept.unproven
        ]

    def remove(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer]) -> None:
        """This run's rules, known from its answers: exactly those, then forgotten."""
        rules = http01_rules(plan, answers)
        swept = self._sweep(rules)
        if self._records is not None:
            self._records.forget_rules(plan.certificate, [r for r in rules if r.listener in swept.read])
        swept.raise_problems()

    def _sweep(
        self,
        ours: Sequence[Http01Rule],
        also: Iterable[HttpListener] = (),
        claimed: tuple[str, ...] = (),
    ) -> _Swept:
        """Delete, on each listener of `ours` (and `also`), the rules that are exactly one of `ours` (shape
        and tag); nothing else. With `claimed` (tag prefixes), the other rules whose tag starts with one are
        returned as unproven. Every listener is tried; the failures are gathered."""
        swept = _Swept()
        for listener in dict.fromkeys([*(r.listener for r in ours), *also]):
            wanted = [r for r in ours if r.listener == listener]
            try:
                rules = [r for r in self._rules(listener) if not r.get("IsDefault")]
                # Tags read only where they matter: rules of our shape, or every rule when reporting claims.
                looked_at = (
                    rules if claimed else [r for r in rules if any(has_the_shape(r, w) for w in wanted)]
                )
                tags = self._listeners.tags(listener.region, [r["RuleArn"] for r in looked_at])
                for rule in looked_at:
                    arn = rule["RuleArn"]
                    rule_tags = tags.get(arn, {})
                    if proven_ours(rule, rule_tags, wanted):
                        try:
                            self._listeners.client(listener.region).delete_rule(RuleArn=arn)
                        except ClientError as exc:
                            if error_code(exc) != "RuleNotFound":  # removed meanwhile: that is the goal
                                raise
                        logger.info("removed an HTTP-01 challenge rule", extra={"rule": arn})
                    elif claimed and rule_tags.get(CHALLENGE_TAG, "").startswith(claimed):
                        swept.unproven.append((arn, rule_tags[CHALLENGE_TAG]))
                swept.read.add(listener)
            except ClientError as exc:
                if error_code(exc) in GONE:  # the listener and its rules are gone
                    swept.read.add(listener)
                    continue
                swept.problems.append(f"{listener.listener_arn}: {error_code(exc)}: {exc}")
        return swept

    def _create(self, listener: HttpListener, wanted: Sequence[Http01Rule], deadline: float) -> None:
        client = self._listeners.client(listener.region)
        rules = self._rules(listener)
        taken = {int(r["Priority"]) for r in rules if not r.get("IsDefault")}
        for challenge in wanted:
            for attempt in range(1, PRIORITY_ATTEMPTS + 1):
                free = lowest_free(taken, 1)
                if not free:
                    raise ListenerRulesFull(listener.load_balancer)
                priority = free[0]
                # Ahead of every rule that would answer the CA first (check() found room; someone may have
                # taken it since).
                first = next(iter(shadowing(rules, challenge.name)), None)
                if first is not None and int(first["Priority"]) < priority:
                    raise ChallengeRuleShadowed(challenge.name, listener.listener_arn, describe_rule(first))
                try:
                    client.create_rule(
                        ListenerArn=listener.listener_arn,
                        Priority=priority,
                        Conditions=[
                            {"Field": "host-header", "HostHeaderConfig": {"Values": [challenge.name]}},
                            {"Field": "path-pattern", "PathPatternConfig": {"Values": [challenge.path]}},
                        ],
                        Actions=[
                            {
                                "Type": "fixed-response",
                                "FixedResponseConfig": {
                                    "StatusCode": "200",
                                    "ContentType": "text/plain",
                                    "MessageBody": challenge.body,
                                },
                            }
                        ],
                        Tags=[
                            {
                                "Key": CHALLENGE_TAG,
                                "Value": rule_tag_value(challenge.certificate, challenge.token),
                            }
                        ],
                    )
                except ClientError as exc:
                    code = error_code(exc)
                    if code == "TooManyRules":
                        raise ListenerRulesFull(listener.load_balancer) from None
                    if code != "PriorityInUse" or attempt == PRIORITY_ATTEMPTS or time.monotonic() > deadline:
                        raise
                    # Someone took it since we read: read again rather than guess the next one.
                    rules = self._rules(listener)
                    taken = {int(r["Priority"]) for r in rules if not r.get("IsDefault")}
                    continue
                taken.add(priority)
                break


@dataclass(slots=True)
class _Swept:
    read: set[HttpListener] = field(default_factory=set)  # listeners read to the end (or gone)
    unproven: list[tuple[str, str]] = field(default_factory=list)  # (rule ARN, tag value) left in place
    problems: list[str] = field(default_factory=list)

    def raise_problems(self) -> None:
        if self.problems:
            raise CertRotateError("could not remove HTTP-01 challenge rules: " + "; ".join(self.problems))


def _grouped(rules: Sequence[Http01Rule]) -> dict[HttpListener, list[Http01Rule]]:
    grouped: dict[HttpListener, list[Http01Rule]] = {}
    for rule in rules:
        grouped.setdefault(rule.listener, []).append(rule)
    return grouped
