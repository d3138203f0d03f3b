"""`iam:SimulatePrincipalPolicy` for the moto server (moto 5.2 does not implement it: HTML 500).

Only what is the simulator's own lives here: the API's request (PolicySourceArn, ActionNames, ResourceArns,
ContextEntries) and its answer (EvaluationResults with EvalDecision, MatchedStatements, and
MissingContextValues: the condition keys a statement speaking of the action and resource tests and the
request did not give; at the top when the resource is "*", else in ResourceSpecificResults, as the API
reference says).
The decision is the local stack's one evaluator (devstack.iam_policy, the same that authorises every call)
over the role's identity policies as moto holds them (devstack.iam_enforcement, put there from the templates):
a key not given is absent, as in a real request. Resource policies, permission boundaries, SCPs and session
policies are not simulated (nothing here uses them). Roles only: certrotate doctor simulates the functions'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from devstack.iam_policy import ContextValue, Effect, Request, condition_keys_absent, evaluate

# EvalDecision's spelling of each effect.
_DECISIONS = {
    Effect.ALLOW: "allowed",
    Effect.EXPLICIT_DENY: "explicitDeny",
    Effect.IMPLICIT_DENY: "implicitDeny",
}


def context_of(entries: Sequence[Mapping[str, Any]]) -> dict[str, ContextValue]:
    """ContextEntries as a request's context: a `...List` type is multivalued, any other holds one value."""
    context: dict[str, ContextValue] = {}
    for entry in entries:
        values = [str(v) for v in entry.get("ContextKeyValues") or []]
        listed = str(entry.get("ContextKeyType", "")).endswith("List") or len(values) != 1
        context[str(entry["ContextKeyName"])] = values if listed else values[0]
    return context


def simulate(
    policies: Sequence[Mapping[str, Any]], action: str, resource: str, context: Mapping[str, ContextValue]
) -> dict[str, Any]:
    """One EvaluationResult, as SimulatePrincipalPolicy returns it."""
    request = Request(action, resource, context)
    decision = evaluate(policies, request)
    matched = [{"SourcePolicyId": decision.statement}] if decision.statement else []
    missing = condition_keys_absent(policies, request)
    result: dict[str, Any] = {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": _DECISIONS[decision.effect],
        "MatchedStatements": matched,
        "MissingContextValues": missing if resource == "*" else [],
    }
    if resource != "*":
        result["ResourceSpecificResults"] = [
            {
                "EvalResourceName": resource,
                "EvalResourceDecision": result["EvalDecision"],
                "MatchedStatements": matched,
                "MissingContextValues": missing,
            }
        ]
    return result


def install() -> None:
    """Adds SimulatePrincipalPolicy to moto's IAM responses (called by moto_fixes.apply)."""
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NotFoundException
    from moto.iam.responses import IamResponse

    def simulate_principal_policy(self: Any) -> Any:
        from devstack.iam_enforcement import enforcement  # the deployed roles, read as enforcement reads them

        source = str(self._get_param("PolicySourceArn"))
        parts = source.split(":")
        if len(parts) < 6 or not parts[5].startswith("role/"):
            raise NotFoundException(f"PolicySourceArn {source} is not a role the devstack simulates")
        account = parts[4]
        policies = enforcement.policies_of(source, account)
        if not policies and not enforcement.role_exists(source, account):
            raise NotFoundException(f"Role {source} not found")
        actions = self._get_param("ActionNames", [])
        resources = self._get_param("ResourceArns", []) or ["*"]
        context = context_of(self._get_param("ContextEntries", []) or [])
        results = [simulate(policies, a, r, context) for a in actions for r in resources]
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    IamResponse.simulate_principal_policy = simulate_principal_policy  # type: ignore[attr-defined]
