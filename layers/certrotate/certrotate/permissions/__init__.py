"""Which AWS call needs which IAM permission, and which calls each of certrotate's principals makes.

The one map of it (COORDINATION.md; calls.py): the local stack's IAM evaluator authorises every call through
it (a call a principal makes that is not listed here is refused there, so the map stays complete);
tests/unit/permissions/test_permissions.py checks that every action the shipped policies grant is used by some
call listed here (or is one AWS itself needs, `RUNTIME_ACTIONS`/`DEPENDENT_ACTIONS`); `checks()` (checks.py)
gives `certrotate doctor` the (action, resource, context) triples to ask `iam:SimulatePrincipalPolicy` about
for a deployed role.

Calls are named as boto3 names the service (`elbv2`, `route53`) and as the API names the operation
(`ChangeResourceRecordSets`): what the devstack sees on the wire.
"""

from __future__ import annotations

from certrotate.permissions.calls import (
    CALLS,
    DEPENDENT_ACTIONS,
    RUNTIME_ACTIONS,
    UNAUTHORISED_CALLS,
    Call,
    Principal,
    actions,
    actions_for,
    calls,
    may_call,
)
from certrotate.permissions.checks import ROLE_OUTPUTS, Check, Names, checks

__all__ = [
    "CALLS",
    "DEPENDENT_ACTIONS",
    "ROLE_OUTPUTS",
    "RUNTIME_ACTIONS",
    "UNAUTHORISED_CALLS",
    "Call",
    "Check",
    "Names",
    "Principal",
    "actions",
    "actions_for",
    "calls",
    "checks",
    "may_call",
]
