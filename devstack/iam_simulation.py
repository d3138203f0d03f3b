"""`iam:SimulatePrincipalPolicy` for the moto server (moto 5.2 does not implement it: HTML 500).

It evaluates a role's (or user's) identity policies, inline and attached, as the IAM policy simulator does
for identity-based policies: an explicit Deny wins (`explicitDeny`), else a matching Allow (`allowed`), else
`implicitDeny`. Actions and resources match with IAM's wildcards (`*`, `?`; actions case-insensitively);
`NotAction`/`NotResource` are honoured. A statement with a `Condition` applies only when every condition key
it names is given in `ContextEntries` and its operators hold (StringEquals/Like and their IgnoreCase and Not
forms, ArnEquals/Like, Null, Bool, with the ForAllValues/ForAnyValue qualifiers and IfExists); a key not
given is reported in `MissingContextValues` and the statement does not apply, which is what the AWS
simulator answers ("implicitDeny" with the keys it lacked). Resource policies, permission boundaries, SCPs
and session policies are not simulated (nothing here uses them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_QUALIFIERS = ("ForAllValues:", "ForAnyValue:")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _matches_any(patterns: Iterable[str], value: str, *, case: bool) -> bool:
    return any(_wildcard(p, value, case=case) for p in patterns)


def _applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        if not _matches_any(_as_list(statement["Action"]), action, case=False):
            return False
    elif not (
        "NotAction" in statement and not _matches_any(_as_list(statement["NotAction"]), action, case=False)
    ):
        return False
    if "Resource" in statement:
        return _matches_any(_as_list(statement["Resource"]), resource, case=True)
    if "NotResource" in statement:
        return not _matches_any(_as_list(statement["NotResource"]), resource, case=True)
    return False


def _compare(operator: str, wanted: Sequence[str], given: str) -> bool:
    base = operator.removesuffix("IfExists")
    negate = base.startswith(("StringNot", "ArnNot"))
    base = base.replace("StringNot", "String").replace("ArnNot", "Arn")
    if base == "StringEquals":
        hit = given in wanted
    elif base == "StringEqualsIgnoreCase":
        hit = given.lower() in {w.lower() for w in wanted}
    elif base in ("StringLike", "ArnLike", "ArnEquals"):
        hit = _matches_any(wanted, given, case=True)
    elif base == "Bool":
        hit = given.lower() in {w.lower() for w in wanted}
    else:
        raise ValueError(f"condition operator {operator} is not simulated here")
    return not hit if negate else hit


def _condition_holds(
    conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, list[str]], missing: set[str]
) -> bool:
    holds = True
    for raw_operator, entries in conditions.items():
        qualifier = next((q for q in _QUALIFIERS if raw_operator.startswith(q)), "")
        operator = raw_operator.removeprefix(qualifier)
        for key, raw_wanted in entries.items():
            wanted = [str(w).lower() if operator == "Bool" else str(w) for w in _as_list(raw_wanted)]
            given = context.get(key.lower())
            if operator == "Null":
                holds &= (given is None) == (wanted[0].lower() == "true")
                continue
            if given is None:
                if operator.endswith("IfExists") or qualifier == "ForAllValues:":
                    continue  # ForAllValues over an absent key is true, as IAM evaluates it
                missing.add(key)
                holds = False
                continue
            if qualifier == "ForAllValues:":
                holds &= all(_compare(operator, wanted, value) for value in given)
            else:
                holds &= any(_compare(operator, wanted, value) for value in given)
    return holds


def documents(principal: Any) -> list[dict[str, Any]]:
    """The identity policies of a moto role or user: inline ones, then the default version of each
    attached managed policy."""
    found: list[dict[str, Any]] = []
    for document in getattr(principal, "policies", {}).values():
        found.append(json.loads(document) if isinstance(document, str) else dict(document))
    for policy in getattr(principal, "managed_policies", {}).values():
        default = next((v for v in policy.versions if v.is_default), None)
        if default is not None and default.document:
            text = default.document
            found.append(json.loads(text) if isinstance(text, str) else dict(text))
    return found


def evaluate(
    policies: Sequence[Mapping[str, Any]], action: str, resource: str, context: Mapping[str, list[str]]
) -> dict[str, Any]:
    """One EvaluationResult, as SimulatePrincipalPolicy returns it."""
    decision = "implicitDeny"
    matched: list[dict[str, Any]] = []
    missing: set[str] = set()
    lowered = {k.lower(): v for k, v in context.items()}
    for index, policy in enumerate(policies):
        for statement in _as_list(policy.get("Statement")):
            if not _applies(statement, action, resource):
                continue
            if not _condition_holds(statement.get("Condition") or {}, lowered, missing):
                continue
            matched.append({"SourcePolicyId": str(statement.get("Sid") or f"policy{index}")})
            if statement.get("Effect") == "Deny":
                decision = "explicitDeny"
            elif decision != "explicitDeny":
                decision = "allowed"
    return {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": decision,
        "MatchedStatements": matched,
        "MissingContextValues": sorted(missing) if decision == "implicitDeny" else [],
    }


def install() -> None:
    """Adds SimulatePrincipalPolicy to moto's IAM responses (called by moto_fixes.apply)."""
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    def simulate_principal_policy(self: Any) -> Any:
        source = self._get_param("PolicySourceArn")
        principal: Any
        if ":role/" in source:
            principal = self.backend.get_role_by_arn(source)
        else:
            principal = self.backend.get_user(source.rsplit("/", 1)[-1])
        actions = self._get_param("ActionNames", [])
        resources = self._get_param("ResourceArns", []) or ["*"]
        context = {
            str(entry["ContextKeyName"]): [str(v) for v in entry.get("ContextKeyValues", [])]
            for entry in self._get_param("ContextEntries", []) or []
        }
        policies = documents(principal)
        results = [evaluate(policies, a, r, context) for a in actions for r in resources]
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    IamResponse.simulate_principal_policy = simulate_principal_policy  # type: ignore[attr-defined]
