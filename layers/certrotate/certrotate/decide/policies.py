"""Should a rotation order, resume, or leave a certificate alone: a chain of small pure policies.

As cert-manager's trigger policies: what every policy reads is gathered once (`Input`); each policy either
says something (a verdict and why) or passes to the next; the first to speak decides. `not_due` ends every
chain, so a chain always decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from certrotate.decide.due import days_to_expiry, renewal_due
from certrotate.decide.holds import UNTIL_INPUTS_CHANGE, active_hold, rate_limited_until, rollback_hold
from certrotate.decide.naming import replacement_name
from certrotate.model import ServerCertificate


class Verdict(StrEnum):
    ISSUE = "issue"  # order a replacement
    RESUME = "resume"  # a replacement exists: finish repointing and retirement, never order again
    NOT_DUE = "not-due"
    RATE_LIMITED = "rate-limited"
    HELD = "held"  # a permanent failure's hold-off has not passed (force overrides it)
    ROLLED_BACK = "rolled-back"  # an operator rolled its rotation back: nothing until force


@dataclass(frozen=True, slots=True)
class RotationDecision:
    verdict: Verdict
    reason: str
    replacement_name: str
    source: str | None = (
        None  # the renewal rule that decided (RENEW_BEFORE_DAYS=N, ARI window, lifetime rule)
    )


@dataclass(frozen=True, slots=True)
class Input:
    """What every policy reads, gathered once by the caller."""

    certificate: ServerCertificate  # the trusted view: bookkeeping tags only as far as proven
    now: datetime
    renew_before_days: int | None
    force: bool
    not_before: datetime | None = None
    inputs: str | None = None  # inputs_fingerprint now (None: unknown, a deterministic hold stands)
    replacement_uploaded: bool = False  # a certificate sits at the derived name (the caller checked it)


@dataclass(frozen=True, slots=True)
class Said:
    """What a policy says: its verdict, why, and the renewal rule behind ISSUE / NOT_DUE."""

    verdict: Verdict
    reason: str
    source: str | None = None
    replacement_name: str | None = None  # None: the name derived from the old certificate's ID


Policy = Callable[[Input], Said | None]  # None: nothing to say, the next policy speaks


def rolled_back(i: Input) -> Said | None:
    """A rolled-back certificate waits for force. First of all: it may still carry replaced-by (a rollback
    that died half way), and a resume would put the rejected replacement back on the endpoints."""
    why = rollback_hold(i.certificate)
    if why is None or i.force:
        return None
    return Said(Verdict.ROLLED_BACK, why, replacement_name=i.certificate.rolled_back_from)


def held(i: Input) -> Said | None:
    """A permanent failure's hold that has not passed (or whose inputs have not changed), unless forced."""
    held_until = active_hold(i.certificate, i.now, i.inputs)
    if held_until is None or i.force:
        return None
    until = (
        "its inputs change (the certificate, its tags certrotate:profile, key-type, challenge, the CA, "
        "ACME_PROFILE)"
        if held_until == UNTIL_INPUTS_CHANGE
        else held_until.isoformat()
    )
    return Said(
        Verdict.HELD,
        f"held until {until} after a failure no retry fixes "
        f"({i.certificate.held_reason or 'no reason recorded'}); force=true overrides",
        replacement_name=i.certificate.replaced_by,
    )


def already_replaced(i: Input) -> Said | None:
    """Replaced (a proven replaced-by): finish repointing and retirement, never order again."""
    replaced_by = i.certificate.replaced_by
    if not replaced_by:
        return None
    return Said(Verdict.RESUME, f"already replaced by {replaced_by}", replacement_name=replaced_by)


def replacement_uploaded(i: Input) -> Said | None:
    """A replacement sits at the derived name: an earlier run uploaded it and died before tagging."""
    if not i.replacement_uploaded:
        return None
    name = replacement_name(i.certificate.name, i.certificate.certificate_id)
    return Said(Verdict.RESUME, f"replacement {name} was uploaded by an earlier run")


def rate_limited(i: Input) -> Said | None:
    """The CA's Retry-After, believably near, stands whether forced or not."""
    retry_after = rate_limited_until(i.certificate, i.now)
    if retry_after is None:
        return None
    return Said(
        Verdict.RATE_LIMITED, f"the ACME CA asked not to order again before {retry_after.isoformat()}"
    )


def due(i: Input) -> Said | None:
    """Due by the earliest renewal rule that applies (renewal_due)."""
    is_due, why, source = renewal_due(i.certificate, i.now, i.renew_before_days, i.not_before)
    return Said(Verdict.ISSUE, why, source) if is_due else None


def forced(i: Input) -> Said | None:
    """Not due, but forced by the operator."""
    if not i.force:
        return None
    return Said(
        Verdict.ISSUE, f"forced ({days_to_expiry(i.certificate.expiration, i.now)} days to expiry)", "force"
    )


def not_due(i: Input) -> Said:
    """The end of every chain: not due, and which rule says when it will be."""
    _, why, source = renewal_due(i.certificate, i.now, i.renew_before_days, i.not_before)
    return Said(Verdict.NOT_DUE, why, source)


ROTATION_POLICIES: tuple[Policy, ...] = (
    rolled_back,
    held,
    already_replaced,
    replacement_uploaded,
    rate_limited,
    due,
    forced,
    not_due,
)


def decide(i: Input, policies: Sequence[Policy] = ROTATION_POLICIES) -> RotationDecision:
    """The first policy that speaks decides; its replacement name, else the derived one."""
    for policy in policies:
        said = policy(i)
        if said is not None:
            name = said.replacement_name or replacement_name(i.certificate.name, i.certificate.certificate_id)
            return RotationDecision(said.verdict, said.reason, name, said.source)
    raise ValueError("no policy decided: a chain must end with one that always speaks (not_due)")


def decide_rotation(
    certificate: ServerCertificate,
    existing_replacement: ServerCertificate | None,
    *,
    now: datetime,
    renew_before_days: int | None,
    force: bool,
    not_before: datetime | None = None,
    inputs: str | None = None,
) -> RotationDecision:
    """What a rotation of a managed certificate should do. `existing_replacement` is the certificate at the
    deterministic replacement name, if one exists (the caller checks it replaces this one). `inputs`: the
    certificate's inputs_fingerprint now (see active_hold)."""
    return decide(
        Input(
            certificate,
            now,
            renew_before_days,
            force,
            not_before=not_before,
            inputs=inputs,
            replacement_uploaded=existing_replacement is not None,
        )
    )


def decide_with_window(
    decision: RotationDecision, window_start: datetime, window_end: datetime, now: datetime
) -> RotationDecision:
    """A decision of "not due" revisited with the CA's renewal window as asked just now (a message of the
    renewal-info re-check says the CA moved it): due when the window has begun, as schedule_from_window says.
    Only "not due" changes: a hold, the CA's Retry-After or a replacement decide as before."""
    if decision.verdict is not Verdict.NOT_DUE or window_start > now:
        return decision
    start, end = (f"{m:%Y-%m-%d %H:%M}Z" for m in (window_start, window_end))
    return RotationDecision(
        Verdict.ISSUE,
        f"the CA's renewal window {start} .. {end} has begun (asked now)",
        decision.replacement_name,
        "ARI window",
    )
