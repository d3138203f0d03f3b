"""The hold a rollback leaves, as the pure decisions honour it: no rotation (resume included) without force,
no scan message, no resume of a "stalled" rotation, no retirement; force lifts it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from certrotate.decide.policies import RotationDecision, Verdict, decide_rotation
from certrotate.model import ServerCertificate
from certrotate.names import (
    REPLACED_BY_TAG,
    ROLLED_BACK_AT_TAG,
    ROLLED_BACK_FROM_TAG,
    ROLLED_BACK_TO_TAG,
    SERVED_SINCE_TAG,
)
from certrotate.retire.decision import RetirementVerdict, decide_retirement
from certrotate.scan.plan import plan_scan

from tests.factories import NOW, cert, tagged

AT = (NOW - timedelta(hours=2)).isoformat()


def rolled_back(days: float = 5, **tags: str) -> ServerCertificate:
    return tagged(
        cert("www", days=days), **{ROLLED_BACK_FROM_TAG: "www-cr0badbad", ROLLED_BACK_AT_TAG: AT}, **tags
    )


def decide(certificate: ServerCertificate, *, force: bool) -> RotationDecision:
    return decide_rotation(certificate, None, now=NOW, renew_before_days=30, force=force)


def test_a_rolled_back_certificate_is_not_rotated_nor_resumed_without_force() -> None:
    decision = decide(rolled_back(), force=False)
    assert decision.verdict is Verdict.ROLLED_BACK
    assert "rolled back from www-cr0badbad" in decision.reason and "force" in decision.reason
    # A rollback that died before removing replaced-by: still no resume.
    half_done = rolled_back(**{REPLACED_BY_TAG: "www-cr0badbad"})
    assert decide(half_done, force=False).verdict is Verdict.ROLLED_BACK


def test_force_lifts_the_hold_and_resumes_onto_the_replacement() -> None:
    assert decide(rolled_back(), force=True).verdict is Verdict.ISSUE  # the replacement was deleted
    half_done = rolled_back(**{REPLACED_BY_TAG: "www-cr0badbad"})
    assert decide(half_done, force=True).verdict is Verdict.RESUME


def test_the_rolled_back_replacement_is_held_with_it() -> None:
    replacement = tagged(cert("www-cr0badbad", days=2), **{ROLLED_BACK_TO_TAG: "www"})
    assert decide(replacement, force=False).verdict is Verdict.ROLLED_BACK


def test_a_scan_sends_nothing_for_a_rolled_back_pair_and_lists_them() -> None:
    old = rolled_back(days=5)
    replacement = tagged(cert("www-cr0badbad", days=2), **{ROLLED_BACK_TO_TAG: "www"})
    plan = plan_scan([old, replacement], now=NOW, renew_before_days=30, lease_seconds=300)
    assert plan.to_enqueue == ()
    assert {c.name for c in plan.held_back} == {"www", "www-cr0badbad"}  # due, held
    assert {c.name for c in plan.rolled_back} == {"www", "www-cr0badbad"}


def test_a_half_done_rollback_is_not_a_stalled_rotation_and_is_never_retired() -> None:
    """The rollback died after its hold, before it removed replaced-by and served-since."""
    old = rolled_back(
        **{REPLACED_BY_TAG: "www-cr0badbad", SERVED_SINCE_TAG: (NOW - timedelta(days=3)).isoformat()}
    )
    replacement = tagged(cert("www-cr0badbad", days=80), **{ROLLED_BACK_TO_TAG: "www"})
    replacement = replace(replacement, upload_date=NOW - timedelta(days=3))
    plan = plan_scan([old, replacement], now=NOW, renew_before_days=30, lease_seconds=300)
    assert plan.stalled == ()
    retirement = decide_retirement(old, [], now=NOW, grace_seconds=0)
    assert retirement.verdict is RetirementVerdict.ROLLED_BACK
    without_hold = tagged(old, **{ROLLED_BACK_FROM_TAG: ""})
    assert decide_retirement(without_hold, [], now=NOW, grace_seconds=0).verdict is (RetirementVerdict.DELETE)
