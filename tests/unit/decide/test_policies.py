"""The rotation decision: decide_rotation as a whole (the chain equals the old ifs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from certrotate.decide.holds import UNTIL_INPUTS_CHANGE, held_now, rate_limited_until
from certrotate.decide.naming import replacement_name
from certrotate.decide.policies import (
    ROTATION_POLICIES,
    Input,
    Said,
    Verdict,
    already_replaced,
    decide,
    decide_rotation,
    decide_with_window,
    due,
    forced,
    held,
    not_due,
    rate_limited,
    replacement_uploaded,
    rolled_back,
)
from certrotate.model import ServerCertificate
from certrotate.names import (
    HELD_INPUTS_TAG,
    HELD_REASON_TAG,
    HELD_UNTIL_TAG,
    REPLACED_BY_TAG,
    REPLACES_TAG,
    RETRY_AFTER_TAG,
    ROLLED_BACK_FROM_TAG,
)

from tests.factories import NOW, cert, tagged

# --- rotation decision -------------------------------------------------------------------------------------


def test_due_certificate_is_issued() -> None:
    decision = decide_rotation(cert(days=5), None, now=NOW, renew_before_days=30, force=False)
    assert decision.verdict is Verdict.ISSUE
    assert decision.replacement_name == replacement_name("www", "ASCAWWW")


def test_not_due_is_skipped_unless_forced() -> None:
    fresh = cert(days=80)
    assert decide_rotation(fresh, None, now=NOW, renew_before_days=30, force=False).verdict is (
        Verdict.NOT_DUE
    )
    assert decide_rotation(fresh, None, now=NOW, renew_before_days=30, force=True).verdict is (Verdict.ISSUE)


@pytest.mark.parametrize("force", [False, True])
def test_a_replaced_certificate_is_never_issued_again(force: bool) -> None:
    replaced = tagged(cert(days=5), **{REPLACED_BY_TAG: "www-cr12345678"})
    decision = decide_rotation(replaced, None, now=NOW, renew_before_days=30, force=force)
    assert decision.verdict is Verdict.RESUME
    assert decision.replacement_name == "www-cr12345678"


@pytest.mark.parametrize("force", [False, True])
def test_an_uploaded_replacement_found_by_name_resumes(force: bool) -> None:
    old = cert(days=80)
    replacement = cert(replacement_name("www", "ASCAWWW"), days=90, **{REPLACES_TAG: "www"})
    decision = decide_rotation(old, replacement, now=NOW, renew_before_days=30, force=force)
    assert decision.verdict is Verdict.RESUME


@pytest.mark.parametrize("force", [False, True])
def test_rate_limited_certificate_waits_even_when_forced(force: bool) -> None:
    held = tagged(cert(days=5), **{RETRY_AFTER_TAG: (NOW + timedelta(minutes=30)).isoformat()})
    decision = decide_rotation(held, None, now=NOW, renew_before_days=30, force=force)
    assert decision.verdict is Verdict.RATE_LIMITED


def test_an_elapsed_or_garbled_retry_after_does_not_hold_back() -> None:
    for value in ((NOW - timedelta(seconds=1)).isoformat(), "not-a-date", "2026-11-23T12:00:00"):
        held = tagged(cert(days=5), **{RETRY_AFTER_TAG: value})
        assert decide_rotation(held, None, now=NOW, renew_before_days=30, force=False).verdict is (
            Verdict.ISSUE
        )


def test_a_retry_after_no_ca_would_give_is_a_claim_ignored() -> None:
    """certrotate keeps at most a week of a CA's Retry-After (RateLimited clamps it): a later one was written
    by someone else, and believed it would stop renewal past the expiry, forced or not."""
    forged = tagged(cert(days=5), **{RETRY_AFTER_TAG: "2999-01-01T00:00:00+00:00"})
    assert decide_rotation(forged, None, now=NOW, renew_before_days=30, force=False).verdict is (
        Verdict.ISSUE
    )
    assert held_now(forged, NOW) is None
    week = tagged(cert(days=5), **{RETRY_AFTER_TAG: (NOW + timedelta(days=6)).isoformat()})
    assert rate_limited_until(week, NOW) == NOW + timedelta(days=6)


def test_a_cas_retry_after_is_kept_for_a_week_at_most() -> None:
    from certrotate.errors import RATE_LIMIT_MAX_WAIT, RateLimited

    now = datetime.now(UTC)
    limited = RateLimited("too many certificates", now + timedelta(days=30))
    assert now + RATE_LIMIT_MAX_WAIT <= limited.retry_at <= datetime.now(UTC) + RATE_LIMIT_MAX_WAIT
    soon = now + timedelta(hours=3)
    assert RateLimited("too many orders", soon).retry_at == soon


def test_a_window_asked_now_makes_due_only_what_was_merely_not_due() -> None:
    """A message of the renewal-info re-check (`ask_ca`) says the CA moved the window; the CA's answer,
    asked by the rotation, decides, and only a "not due" changes."""
    not_due = decide_rotation(cert(days=80), None, now=NOW, renew_before_days=30, force=False)
    begun = decide_with_window(not_due, NOW - timedelta(days=365), NOW + timedelta(days=1), NOW)
    assert begun.verdict is Verdict.ISSUE and begun.source == "ARI window"
    assert "has begun (asked now)" in begun.reason and begun.replacement_name == not_due.replacement_name
    ahead = decide_with_window(not_due, NOW + timedelta(days=1), NOW + timedelta(days=2), NOW)
    assert ahead == not_due
    limited = tagged(cert(days=80), **{RETRY_AFTER_TAG: (NOW + timedelta(minutes=30)).isoformat()})
    decision = decide_rotation(limited, None, now=NOW, renew_before_days=30, force=False)
    assert decide_with_window(decision, NOW - timedelta(days=1), NOW, NOW) == decision


# --- each policy alone, then the chain's order -------------------------------------------------------------

HELD_TAGS = {HELD_UNTIL_TAG: (NOW + timedelta(days=1)).isoformat(), HELD_REASON_TAG: "CA refused the names"}
LIMITED_TAGS = {RETRY_AFTER_TAG: (NOW + timedelta(minutes=30)).isoformat()}


def given(certificate: ServerCertificate, *, force: bool = False, uploaded: bool = False) -> Input:
    return Input(certificate, NOW, 30, force, replacement_uploaded=uploaded)


def test_rolled_back_speaks_for_a_rolled_back_certificate_unless_forced() -> None:
    back = tagged(cert(days=80), **{ROLLED_BACK_FROM_TAG: "www-cr12345678"})
    said = rolled_back(given(back))
    assert said is not None and said.verdict is Verdict.ROLLED_BACK
    assert said.replacement_name == "www-cr12345678" and "force=true" in said.reason
    assert rolled_back(given(back, force=True)) is None
    assert rolled_back(given(cert(days=5))) is None


def test_held_speaks_while_a_hold_stands_unless_forced() -> None:
    certificate = tagged(cert(days=5), **HELD_TAGS)
    said = held(given(certificate))
    assert said is not None and said.verdict is Verdict.HELD and "CA refused the names" in said.reason
    assert held(given(certificate, force=True)) is None
    assert held(given(cert(days=5))) is None
    passed = tagged(cert(days=5), **{HELD_UNTIL_TAG: (NOW - timedelta(seconds=1)).isoformat()})
    assert held(given(passed)) is None


def test_held_until_the_inputs_change_says_so() -> None:
    certificate = tagged(
        cert(days=5), **{HELD_UNTIL_TAG: UNTIL_INPUTS_CHANGE.isoformat(), HELD_INPUTS_TAG: "abc"}
    )
    said = held(Input(certificate, NOW, 30, False, inputs="abc"))
    assert said is not None and said.reason.startswith("held until its inputs change")
    assert held(Input(certificate, NOW, 30, False, inputs="changed")) is None


def test_already_replaced_resumes_onto_the_replacement() -> None:
    replaced = tagged(cert(days=80), **{REPLACED_BY_TAG: "www-cr12345678"})
    said = already_replaced(given(replaced, force=True))
    assert said == Said(
        Verdict.RESUME, "already replaced by www-cr12345678", replacement_name="www-cr12345678"
    )
    assert already_replaced(given(cert(days=5))) is None


def test_replacement_uploaded_resumes_at_the_derived_name() -> None:
    said = replacement_uploaded(given(cert(days=80), uploaded=True))
    name = replacement_name("www", "ASCAWWW")
    assert said == Said(Verdict.RESUME, f"replacement {name} was uploaded by an earlier run")
    assert replacement_uploaded(given(cert(days=80))) is None


def test_rate_limited_speaks_forced_or_not() -> None:
    limited = tagged(cert(days=5), **LIMITED_TAGS)
    for force in (False, True):
        said = rate_limited(given(limited, force=force))
        assert said is not None and said.verdict is Verdict.RATE_LIMITED
    assert rate_limited(given(cert(days=5))) is None


def test_due_speaks_with_the_rule_that_makes_it_due() -> None:
    said = due(given(cert(days=5)))
    assert said == Said(Verdict.ISSUE, "expires in 5.0 days (threshold 30)", "RENEW_BEFORE_DAYS=30")
    assert due(given(cert(days=80))) is None


def test_forced_issues_what_is_not_due() -> None:
    assert forced(given(cert(days=80), force=True)) == Said(
        Verdict.ISSUE, "forced (80.0 days to expiry)", "force"
    )
    assert forced(given(cert(days=80))) is None


def test_not_due_always_speaks_and_says_which_rule() -> None:
    said = not_due(given(cert(days=80)))
    assert said.verdict is Verdict.NOT_DUE and said.source == "RENEW_BEFORE_DAYS=30"
    assert said.reason == "expires in 80.0 days, not within 30"


def test_the_chain_runs_in_this_order() -> None:
    assert (
        rolled_back,
        held,
        already_replaced,
        replacement_uploaded,
        rate_limited,
        due,
        forced,
        not_due,
    ) == ROTATION_POLICIES


def test_the_first_policy_to_speak_decides() -> None:
    """A certificate every policy has something to say about: each earlier one wins over the later ones."""
    everything = {
        ROLLED_BACK_FROM_TAG: "www-old",
        **HELD_TAGS,
        REPLACED_BY_TAG: "www-cr12345678",
        **LIMITED_TAGS,
    }
    certificate = tagged(cert(days=5), **everything)
    verdicts = []
    for skip in range(len(ROTATION_POLICIES)):
        verdicts.append(decide(given(certificate, uploaded=True), ROTATION_POLICIES[skip:]).verdict)
    assert verdicts == [
        Verdict.ROLLED_BACK,
        Verdict.HELD,
        Verdict.RESUME,
        Verdict.RESUME,
        Verdict.RATE_LIMITED,
        Verdict.ISSUE,
        Verdict.NOT_DUE,  # forced() says nothing without force
        Verdict.NOT_DUE,
    ]


def test_a_chain_that_never_decides_is_refused() -> None:
    with pytest.raises(ValueError, match="no policy decided"):
        decide(given(cert(days=80)), (rolled_back, due))
