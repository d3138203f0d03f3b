"""IAM policy evaluation: one request (action, resource, context) against policy documents, as AWS decides it.

    decision = evaluate(identity_policies, Request("iam:TagServerCertificate", arn, {"aws:TagKeys": [...]}))
    decision.allowed, decision.reason

What AWS documents ("Policy evaluation logic", "IAM JSON policy elements: Condition operators"):
- An explicit Deny in any policy wins; otherwise an Allow in any applicable policy allows; otherwise the
  request is implicitly denied.
- Action names match case-insensitively, with `*` and `?` wildcards; resources match case-sensitively, colon
  segment by colon segment (a `*` ending a segment may run past its colons).
- Condition: every operator and every key under it must hold (AND); several values for one key are
  alternatives (OR). `...IfExists` is true when the key is absent; negated operators (`StringNotEquals`, ...)
  are true when the key is absent; `ForAllValues` is true for an absent or empty multivalued key,
  `ForAnyValue` false.
  Condition key names are case-insensitive; `StringEquals`/`StringLike`/`Arn*` values are case-sensitive,
  `StringEqualsIgnoreCase` is not. `Null: true` means the key is absent.

Not modelled (docs/design.md): policy variables (`${aws:username}`), date, IP address and binary operators,
`NotPrincipal`. A policy using them raises UnsupportedPolicy, so a test fails rather than decides wrongly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

ContextValue = str | Sequence[str]


class UnsupportedPolicy(ValueError):
    """A policy element this evaluator does not model: refuse to guess."""


class Effect(Enum):
    ALLOW = "allowed"
    EXPLICIT_DENY = "explicitly denied"
    IMPLICIT_DENY = "implicitly denied"


@dataclass(frozen=True)
class Request:
    """What is authorized: one IAM action on one resource ARN ("*" for actions that take none), with the
    request context's condition keys (names as AWS spells them; multivalued keys as sequences)."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    @functools.cached_property
    def _keys(self) -> dict[str, ContextValue]:
        return {k.lower(): v for k, v in self.context.items()}

    def value(self, key: str) -> ContextValue | None:
        return self._keys.get(key.lower())


@dataclass(frozen=True)
class Decision:
    effect: Effect
    statement: str = ""  # the Sid (or position) of the statement that decided, when one did

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


@dataclass(frozen=True)
class Caller:
    """Who sends the request, for the Principal element of resource-based policies (trust policies)."""

    arn: str  # the role ARN (not the session's), as aws:PrincipalArn
    account: str


# ------------------------------------------------------------------------------------------------
# Wildcards
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """`*` any run of characters, `?` one character, the rest literal; the whole value must match."""
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Actions: `service:Name`, both parts case-insensitive, wildcards allowed ("*" alone matches all)."""
    return glob_match(pattern, action, ignore_case=True)


def arn_matches(pattern: str, value: str) -> bool:
    """A resource ARN against a pattern: the first five colon-separated segments (arn, partition, service,
    region, account) each on their own, then the resource part (which may hold colons); a pattern whose last
    segment ends with `*` may run past the colons that follow. Case-sensitive. "*" matches everything."""
    if pattern == "*":
        return True
    if not pattern.startswith("arn:") or not value.startswith("arn:"):
        return glob_match(pattern, value)
    wanted = pattern.split(":", 5)
    given = value.split(":", 5)
    if len(wanted) < len(given):
        if not wanted[-1].endswith("*"):
            return False
        given = [*given[: len(wanted) - 1], ":".join(given[len(wanted) - 1 :])]
    if len(wanted) != len(given):
        return False
    return all(glob_match(w, g) for w, g in zip(wanted, given, strict=True))


# ------------------------------------------------------------------------------------------------
# Conditions
# ------------------------------------------------------------------------------------------------


def _string_equals(policy: str, value: str) -> bool:
    return policy == value


def _string_equals_ignore_case(policy: str, value: str) -> bool:
    return policy.lower() == value.lower()


def _string_like(policy: str, value: str) -> bool:
    return glob_match(policy, value)


def _bool(policy: str, value: str) -> bool:
    return policy.lower() == value.lower()


def _numeric(compare: str) -> Any:
    def test(policy: str, value: str) -> bool:
        try:
            p, v = float(policy), float(value)
        except ValueError:
            return False
        return {
            "Equals": v == p,
            "LessThan": v < p,
            "LessThanEquals": v <= p,
            "GreaterThan": v > p,
            "GreaterThanEquals": v >= p,
        }[compare]

    return test


# base operator -> (test of one request value against one policy value, negated?)
_OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (arn_matches, False),
    "ArnLike": (arn_matches, False),
    "ArnNotEquals": (arn_matches, True),
    "ArnNotLike": (arn_matches, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric("Equals"), False),
    "NumericNotEquals": (_numeric("Equals"), True),
    "NumericLessThan": (_numeric("LessThan"), False),
    "NumericLessThanEquals": (_numeric("LessThanEquals"), False),
    "NumericGreaterThan": (_numeric("GreaterThan"), False),
    "NumericGreaterThanEquals": (_numeric("GreaterThanEquals"), False),
}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _policy_values(raw: Any, operator: str) -> list[str]:
    values = []
    for value in _as_list(raw):
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise UnsupportedPolicy(f"{operator}: condition value {value!r} is not a string")
        text = str(value)
        if "${" in text:
            raise UnsupportedPolicy(f"{operator}: policy variables are not modelled ({text!r})")
        values.append(text)
    return values


def _one_value_matches(test: Any, negated: bool, policy_values: list[str], value: str) -> bool:
    """A single request value against the policy's values: any of them (OR); negated: none of them."""
    hit = any(test(p, value) for p in policy_values)
    return not hit if negated else hit


def condition_holds(operator: str, key: str, raw_values: Any, request: Request) -> bool:
    """One `operator: {key: values}` entry of a Condition block."""
    qualifier = ""
    name = operator
    if ":" in operator:
        qualifier, name = operator.split(":", 1)
        if qualifier not in ("ForAllValues", "ForAnyValue"):
            raise UnsupportedPolicy(f"unknown condition set operator {qualifier!r}")
    if_exists = name.endswith("IfExists")
    if if_exists:
        name = name[: -len("IfExists")]
    policy_values = _policy_values(raw_values, operator)
    value = request.value(key)
    if name == "Null":
        absent = value is None or (not isinstance(value, str) and len(value) == 0)
        return any(absent == (p.lower() == "true") for p in policy_values)
    if name not in _OPERATORS:
        raise UnsupportedPolicy(f"condition operator {operator!r} is not modelled")
    test, negated = _OPERATORS[name]
    if value is None:
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return if_exists or negated
    values = [value] if isinstance(value, str) else list(value)
    if qualifier == "ForAllValues":
        return all(_one_value_matches(test, negated, policy_values, v) for v in values)
    if qualifier == "ForAnyValue":
        return any(_one_value_matches(test, negated, policy_values, v) for v in values)
    if not values:  # an empty multivalued key without a set operator: nothing to compare
        return negated
    return any(_one_value_matches(test, negated, policy_values, v) for v in values)


def conditions_hold(block: Mapping[str, Any] | None, request: Request) -> bool:
    for operator, entries in (block or {}).items():
        if not isinstance(entries, Mapping):
            raise UnsupportedPolicy(f"condition {operator!r} must map keys to values")
        for key, values in entries.items():
            if not condition_holds(operator, key, values, request):
                return False
    return True


# ------------------------------------------------------------------------------------------------
# Statements and policies
# ------------------------------------------------------------------------------------------------


def _principal_matches(principal: Any, caller: Caller) -> bool:
    """The Principal element of a resource-based policy: "*", or {"AWS": [...]} of account ids, account
    roots (arn:...:iam::<account>:root: any principal of that account) or principal ARNs."""
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise UnsupportedPolicy(f"Principal {principal!r} is not modelled")
    for kind, names in principal.items():
        if kind != "AWS":
            continue  # Service/Federated principals are never a role's session here
        for name in _as_list(names):
            if name == "*" or name == caller.account or name == caller.arn:
                return True
            root = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):root", str(name))
            if root is not None and root.group(1) == caller.account:
                return True
    return False


def statement_applies(statement: Mapping[str, Any], request: Request, caller: Caller | None = None) -> bool:
    return statement_targets(statement, request, caller) and conditions_hold(
        statement.get("Condition"), request
    )


def statement_targets(statement: Mapping[str, Any], request: Request, caller: Caller | None = None) -> bool:
    """Whether the statement speaks of this request (principal, action, resource), its conditions aside."""
    if "NotPrincipal" in statement:
        raise UnsupportedPolicy("NotPrincipal is not modelled")
    if "Principal" in statement and (
        caller is None or not _principal_matches(statement["Principal"], caller)
    ):
        return False
    if "Action" in statement:
        if not any(action_matches(str(a), request.action) for a in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(action_matches(str(a), request.action) for a in _as_list(statement["NotAction"])):
            return False
    else:
        raise UnsupportedPolicy(f"statement {statement.get('Sid', '')!r} has no Action or NotAction")
    for element in ("Resource", "NotResource"):
        if any("${" in str(r) for r in _as_list(statement.get(element))):
            raise UnsupportedPolicy(f"policy variables are not modelled ({statement[element]!r})")
    if "Resource" in statement:
        if not any(arn_matches(str(r), request.resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(arn_matches(str(r), request.resource) for r in _as_list(statement["NotResource"])):
            return False
    elif "Principal" not in statement:  # an identity-based statement names its resources
        raise UnsupportedPolicy(f"statement {statement.get('Sid', '')!r} has no Resource or NotResource")
    return True


def statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in _as_list(policy.get("Statement")) if isinstance(s, Mapping)]


def evaluate(
    policies: Iterable[Mapping[str, Any]], request: Request, caller: Caller | None = None
) -> Decision:
    """The decision of a set of policies of one kind (the identity's, or a resource's): explicit deny, else
    allow, else implicit deny. `caller` is needed for resource-based policies (their Principal element)."""
    allowed_by = ""
    for number, policy in enumerate(policies):
        for index, statement in enumerate(statements(policy)):
            effect = statement.get("Effect")
            if effect not in ("Allow", "Deny"):
                raise UnsupportedPolicy(f"statement effect {effect!r}")
            if not statement_applies(statement, request, caller):
                continue
            sid = str(statement.get("Sid") or f"policy {number} statement {index}")
            if effect == "Deny":
                return Decision(Effect.EXPLICIT_DENY, sid)
            allowed_by = allowed_by or sid
    return Decision(Effect.ALLOW, allowed_by) if allowed_by else Decision(Effect.IMPLICIT_DENY)


def condition_keys_absent(policies: Iterable[Mapping[str, Any]], request: Request) -> list[str]:
    """The condition keys that statements speaking of this request (by action and resource) test and the
    request does not carry: what the IAM policy simulator answers as MissingContextValues."""
    absent: set[str] = set()
    for policy in policies:
        for statement in statements(policy):
            if not statement_targets(statement, request):
                continue
            for entries in (statement.get("Condition") or {}).values():
                absent.update(key for key in entries if request.value(key) is None)
    return sorted(absent)


def combine(identity: Decision, resource: Decision | None, *, same_account: bool) -> Decision:
    """Identity-based and resource-based decisions together ("Policy evaluation logic"): an explicit deny in
    either wins; within one account an allow in either is enough; across accounts both must allow."""
    for decision in (identity, resource):
        if decision is not None and decision.effect is Effect.EXPLICIT_DENY:
            return decision
    if resource is None:
        return identity
    if same_account:
        return identity if identity.allowed else resource
    if identity.allowed and resource.allowed:
        return identity
    return identity if not identity.allowed else resource
