"""Failures no retry can fix: which errors are permanent, how long the hold-off lasts, what a rotation and a
scan decide while it stands, and the CloudFront alias check."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from certrotate import errors
from certrotate.config import load_settings
from certrotate.decide.holds import (
    UNTIL_INPUTS_CHANGE,
    active_hold,
    hold_after_failure,
    hold_duration,
    inputs_fingerprint,
    tag_value,
)
from certrotate.decide.policies import Verdict, decide_rotation
from certrotate.deploy.changes import uncovered_aliases
from certrotate.model import ServerCertificate
from certrotate.names import (
    CHALLENGE_TAG,
    FAILURES_TAG,
    HELD_INPUTS_TAG,
    HELD_REASON_TAG,
    HELD_UNTIL_TAG,
    KEY_TYPE_TAG,
    PROFILE_TAG,
    REPLACED_BY_TAG,
    RETRY_AFTER_TAG,
    MetricName,
)
from certrotate.rotate.holds import record_hold
from certrotate.scan.plan import plan_scan
from certrotate.scan.tags import reason_to_read_tags

from tests.factories import NOW, cert, tagged
from tests.factories import template as template_fixture

template = template_fixture  # the fixture, under the name tests ask for

IAM_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]*$")  # \w and \s stand in for \p{L}\p{N} and \p{Z} here


def held(base: ServerCertificate, hours: float, failures: int = 1, reason: str = "why") -> ServerCertificate:
    return tagged(
        base,
        **{
            HELD_UNTIL_TAG: (NOW + timedelta(hours=hours)).isoformat(),
            HELD_REASON_TAG: reason,
            FAILURES_TAG: str(failures),
        },
    )


# --- which failures are permanent ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        errors.ValidationFailed("the chain does not verify to the issuer trust bundle"),
        errors.UploadRefused("IAM refused the upload of 'x': MalformedCertificate"),
        errors.NameConflict("taken"),
        errors.CaRefused("the ACME CA refused the order: rejectedIdentifier"),
        errors.LoadBalancerFull("app (arn)", "listener-arn"),
        errors.AliasesNotCovered("E123", ["other.example.net"]),
        errors.EndpointsRefused("2 endpoints", fix="do this"),
    ],
)
def test_failures_no_retry_fixes_are_permanent_and_say_what_to_fix(error: errors.CertRotateError) -> None:
    assert isinstance(error, errors.PermanentFailure)
    assert error.fix and "\n" not in str(error)


@pytest.mark.parametrize(
    "error",
    [
        errors.IssuanceFailed("badNonce"),
        errors.RateLimited("rateLimited", NOW),
        errors.OutOfTime("only 3 s left"),
        errors.RotationInProgress("x"),
        errors.ListenerUpdateFailed("CertificateNotFound"),
        errors.QuotaExhausted(20, 20),
    ],
)
def test_transient_failures_are_not_permanent(error: errors.CertRotateError) -> None:
    assert not isinstance(error, errors.PermanentFailure)


def test_existing_class_names_still_catch_the_permanent_kinds() -> None:
    assert isinstance(errors.CaRefused("x"), errors.IssuanceFailed)
    assert isinstance(errors.LoadBalancerFull("lb", "l"), errors.ListenerUpdateFailed)
    assert isinstance(errors.AliasesNotCovered("E1", ["a"]), errors.ListenerUpdateFailed)


# --- the hold-off -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "hours"), [(1, 24), (2, 48), (3, 96), (4, 168), (5, 168), (40, 168), (0, 24)]
)
def test_the_hold_doubles_with_each_failure_in_a_row_up_to_seven_days(failures: int, hours: int) -> None:
    assert hold_duration(failures) == timedelta(hours=hours)


def test_a_hold_after_failure_counts_the_failures_in_a_row() -> None:
    first = hold_after_failure(cert("www"), "ValidationFailed: bad chain", NOW)
    assert (first.failures, first.until) == (1, NOW + timedelta(hours=24))
    again = hold_after_failure(held(cert("www"), -1, failures=1), "again", NOW)
    assert (again.failures, again.until) == (2, NOW + timedelta(hours=48))


@pytest.mark.parametrize(
    "text",
    [
        "UploadRefused: IAM refused the upload of 'a,b': MalformedCertificate (chain, key)",
        'ValidationFailed: the chain does not verify: <X509 ...>; "quoted" & more!',
        "é ü 日本 tabs\tand\nnewlines",
        "x" * 1000,
    ],
)
def test_reasons_are_sanitised_to_iam_tag_values(text: str) -> None:
    value = tag_value(text)
    assert IAM_TAG_VALUE.match(value), value
    assert len(value) <= 256 and "," not in value and "\n" not in value


def test_a_held_certificate_is_not_rotated_unless_forced() -> None:
    due = held(cert("www", days=3), hours=5, reason="ValidationFailed: bad chain")
    decision = decide_rotation(due, None, now=NOW, renew_before_days=30, force=False)
    assert decision.verdict is Verdict.HELD
    assert "bad chain" in decision.reason and "force=true" in decision.reason
    forced = decide_rotation(due, None, now=NOW, renew_before_days=30, force=True)
    assert forced.verdict is Verdict.ISSUE


def test_a_passed_hold_no_longer_holds() -> None:
    due = held(cert("www", days=3), hours=-1)
    decision = decide_rotation(due, None, now=NOW, renew_before_days=30, force=False)
    assert decision.verdict is Verdict.ISSUE


def test_a_held_resume_is_held_too_and_names_the_replacement() -> None:
    replaced = held(tagged(cert("www", days=3), **{REPLACED_BY_TAG: "www-cr1"}), hours=5)
    decision = decide_rotation(replaced, None, now=NOW, renew_before_days=30, force=False)
    assert (decision.verdict, decision.replacement_name) == (Verdict.HELD, "www-cr1")
    forced = decide_rotation(replaced, None, now=NOW, renew_before_days=30, force=True)
    assert forced.verdict is Verdict.RESUME


def test_force_does_not_override_the_cas_retry_after() -> None:
    limited = tagged(cert("www", days=3), **{RETRY_AFTER_TAG: (NOW + timedelta(hours=1)).isoformat()})
    decision = decide_rotation(limited, None, now=NOW, renew_before_days=30, force=True)
    assert decision.verdict is Verdict.RATE_LIMITED


def test_scan_lists_held_ones_as_expiring_and_held_but_enqueues_none() -> None:
    certificates = [
        cert("due", days=3),
        held(cert("held-due", days=3), hours=5, reason="UploadRefused: MalformedCertificate"),
        held(cert("held-fresh", days=80), hours=5),
        held(cert("hold-over", days=3), hours=-1),
        tagged(cert("limited", days=3), **{RETRY_AFTER_TAG: (NOW + timedelta(hours=1)).isoformat()}),
        held(tagged(cert("stuck", days=3), **{REPLACED_BY_TAG: "stuck-cr1"}), hours=5),
        cert("stuck-cr1", days=90),
    ]
    plan = plan_scan(certificates, now=NOW, renew_before_days=30, lease_seconds=300)
    names = lambda items: [c.name for c in items]  # noqa: E731
    assert names(plan.expiring) == ["due", "held-due", "hold-over", "limited"]
    assert names(plan.to_enqueue) == ["due", "hold-over"]
    assert names(plan.held_back) == ["held-due", "limited"]
    assert plan.stalled == (), "a held resume is not sent again either"
    by_name = {h.certificate.name: h for h in plan.held}
    assert set(by_name) == {"held-due", "held-fresh", "limited", "stuck"}
    assert (
        by_name["held-due"].permanent and by_name["held-due"].reason == "UploadRefused: MalformedCertificate"
    )
    assert not by_name["limited"].permanent


# --- deterministic refusals: held until an input changes ----------------------------------------------------

CONTEXT = "https://acme.example/directory|"


@pytest.mark.parametrize(
    ("error", "deterministic"),
    [
        (errors.CaRefused("rejectedIdentifier"), True),
        (errors.UnknownKeyType("rsa1", ["rsa2048"]), True),
        (errors.KeyTypeUnsupported("ECDSA P-384", ["cloudfront"]), True),
        (errors.UnknownProfile("premium", ["classic"]), True),
        (errors.UnknownChallengeMethod("tls-alpn-01"), True),
        (errors.ListenerRulesFull("app"), True),
        (errors.ValidationFailed("bad chain"), False),
        (errors.UploadRefused("MalformedCertificate"), False),
        (errors.LoadBalancerFull("lb", "l"), False),
        (errors.Http01NotReached("connection refused"), False),
        (errors.NoChallengeMethod(["no zone"]), False),
    ],
)
def test_which_refusals_are_deterministic(error: errors.PermanentFailure, deterministic: bool) -> None:
    assert error.deterministic is deterministic


def deterministic_hold(base: ServerCertificate, context: str = CONTEXT) -> ServerCertificate:
    hold = hold_after_failure(
        base, "KeyChangeRefused: another key", NOW, inputs=inputs_fingerprint(base, context)
    )
    return tagged(
        base,
        **{
            HELD_UNTIL_TAG: hold.until.isoformat(),
            HELD_REASON_TAG: hold.reason,
            FAILURES_TAG: str(hold.failures),
            HELD_INPUTS_TAG: hold.inputs,
        },
    )


def test_a_deterministic_refusal_is_held_with_no_end_in_time() -> None:
    base = cert("www", days=3)
    hold = hold_after_failure(base, "why", NOW, inputs="abc")
    assert (hold.until, hold.inputs, hold.failures) == (UNTIL_INPUTS_CHANGE, "abc", 1)
    held_one = deterministic_hold(base)
    inputs = inputs_fingerprint(held_one, CONTEXT)
    for later in (NOW + timedelta(days=1), NOW + timedelta(days=8), NOW + timedelta(days=400)):
        decision = decide_rotation(
            held_one, None, now=later, renew_before_days=30, force=False, inputs=inputs
        )
        assert decision.verdict is Verdict.HELD, "not retried when a hold window passes"
    assert "until its inputs change" in decision.reason and "force=true overrides" in decision.reason
    forced = decide_rotation(held_one, None, now=NOW, renew_before_days=30, force=True, inputs=inputs)
    assert forced.verdict is Verdict.ISSUE


@pytest.mark.parametrize(
    "change",
    [
        {PROFILE_TAG: "classic"},
        {KEY_TYPE_TAG: "ec256"},
        {CHALLENGE_TAG: "dns-01"},
    ],
)
def test_a_changed_input_releases_a_deterministic_hold(change: dict[str, str]) -> None:
    held_one = deterministic_hold(cert("www", days=3))
    changed = tagged(held_one, **change)
    decision = decide_rotation(
        changed,
        None,
        now=NOW,
        renew_before_days=30,
        force=False,
        inputs=inputs_fingerprint(changed, CONTEXT),
    )
    assert decision.verdict is Verdict.ISSUE


def test_a_changed_setting_or_certificate_releases_it_too_and_unknown_inputs_do_not() -> None:
    held_one = deterministic_hold(cert("www", days=3))
    other_ca = inputs_fingerprint(held_one, "https://other.example/directory|")
    assert active_hold(held_one, NOW, other_ca) is None
    other_profile = inputs_fingerprint(held_one, CONTEXT + "tlsserver")
    assert active_hold(held_one, NOW, other_profile) is None
    reimported = replace(held_one, expiration=held_one.expiration + timedelta(days=90))
    assert active_hold(reimported, NOW, inputs_fingerprint(reimported, CONTEXT)) is None
    assert active_hold(held_one, NOW) == UNTIL_INPUTS_CHANGE, "a caller that cannot tell"


def test_the_scan_holds_deterministic_refusals_until_an_input_changes_and_reads_their_tags_afresh() -> None:
    held_one = deterministic_hold(cert("held", days=3))
    released = tagged(deterministic_hold(cert("released", days=3)), **{KEY_TYPE_TAG: "ec256"})
    plan = plan_scan(
        [held_one, released], now=NOW, renew_before_days=30, lease_seconds=300, hold_context=CONTEXT
    )
    assert [c.name for c in plan.to_enqueue] == ["released"]
    assert [h.certificate.name for h in plan.held] == ["held"]
    assert (
        reason_to_read_tags(
            replace(held_one, expiration=NOW + timedelta(days=80)),
            now=NOW,
            renew_before_days=30,
            not_before=None,
        )
        == "held until its inputs change"
    ), "an operator's new tag must be seen, whatever the index kept"


def test_a_hold_that_ends_in_time_replaces_a_deterministic_one() -> None:
    recorded: list[dict[str, str]] = []
    base = deterministic_hold(cert("www", days=3))
    failure = errors.ValidationFailed("bad chain")
    record_hold(recorded.append, base, failure, NOW, inputs=inputs_fingerprint(base, CONTEXT))
    [tags] = recorded
    assert tags[HELD_INPUTS_TAG] == "" and tags[FAILURES_TAG] == "2"
    assert datetime.fromisoformat(tags[HELD_UNTIL_TAG]) == NOW + timedelta(hours=48)


# --- CloudFront aliases -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aliases", "names", "missing"),
    [
        (["www.example.com"], ["www.example.com"], []),
        (["WWW.example.com."], ["www.example.com"], []),
        (["a.example.com", "b.example.com"], ["*.example.com"], []),
        (["example.com"], ["*.example.com"], ["example.com"]),
        (["a.b.example.com"], ["*.example.com"], ["a.b.example.com"]),
        (["*.example.com"], ["*.example.com"], []),
        (["*.example.com"], ["www.example.com"], ["*.example.com"]),
        (["shop.example.com", "other.example.net"], ["shop.example.com"], ["other.example.net"]),
        ([], ["shop.example.com"], []),
    ],
)
def test_uncovered_aliases(aliases: list[str], names: list[str], missing: list[str]) -> None:
    assert uncovered_aliases(aliases, names) == missing


# --- the opt-in swap and the alarm --------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "swap"), [("", False), ("false", False), ("true", True), (" TRUE ", True)])
def test_sni_swap_when_full_is_opt_in(raw: str, swap: bool) -> None:
    assert load_settings({"AWS_REGION": "eu-west-1", "SNI_SWAP_WHEN_FULL": raw}).sni_swap_when_full is swap


def test_sni_swap_when_full_refuses_anything_else() -> None:
    with pytest.raises(
        errors.ConfigurationError, match="SNI_SWAP_WHEN_FULL must be true or false, not 'yes'"
    ):
        load_settings({"AWS_REGION": "eu-west-1", "SNI_SWAP_WHEN_FULL": "yes"})


def test_template_offers_the_swap_and_alarms_on_held_certificates(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["SniSwapWhenFull"]
    assert parameter["Default"] == "false" and parameter["AllowedValues"] == ["false", "true"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["SNI_SWAP_WHEN_FULL"] == {"Ref": "SniSwapWhenFull"}
    alarm = template["Resources"]["CertificatesHeldAlarm"]["Properties"]
    assert alarm["MetricName"] == MetricName.CERTIFICATES_HELD.value
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
