"""Holds: after a permanent failure (in time, or until the inputs change), after a rollback, and the CA's
Retry-After. Whether one stands now, and why."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from certrotate.errors import RATE_LIMIT_MAX_WAIT
from certrotate.model import ServerCertificate
from certrotate.names import OPERATOR_TAGS

FIRST_HOLD = timedelta(hours=24)
LONGEST_HOLD = timedelta(days=7)  # Let's Encrypt's duplicate-certificate window
TAG_VALUE_LIMIT = 256
_TAG_VALUE_EXTRA = frozenset("_.:/=+-@")


def hold_duration(failures: int) -> timedelta:
    """24 hours after the first permanent failure in a row, doubling with each further one, at most 7 days."""
    doublings = min(max(failures - 1, 0), 8)  # 2**8 days is past the cap already
    return min(FIRST_HOLD * (1 << doublings), LONGEST_HOLD)


# The end of a hold after a deterministic refusal: none in time. It ends when the inputs change (its
# fingerprint, HELD_INPUTS_TAG, no longer matches) or with force.
# No end in time, yet a date every reader parses (model.parse_timestamp refuses years from 9000: a grace
# period added to them would overflow).
UNTIL_INPUTS_CHANGE = datetime(8999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Hold:
    until: datetime
    reason: str
    failures: int
    inputs: str = ""  # the inputs' fingerprint of a deterministic refusal ("": the hold ends in time)


def hold_after_failure(
    certificate: ServerCertificate, reason: str, now: datetime, *, inputs: str | None = None
) -> Hold:
    """The hold to record after a permanent failure: one failure in a row more than the certificate has.
    `inputs` (inputs_fingerprint) for a deterministic refusal: held until they change, not for a time."""
    failures = certificate.failures + 1
    if inputs:
        return Hold(UNTIL_INPUTS_CHANGE, tag_value(reason), failures, inputs)
    return Hold(now + hold_duration(failures), tag_value(reason), failures)


def inputs_fingerprint(certificate: ServerCertificate, context: str) -> str:
    """What a deterministic refusal depends on, hashed: the certificate (its ID and expiry: an ACM re-import
    keeps the ID, not the expiry), the operator's tags (profile, key type, challenge method) and `context`
    (the CA and ACME_PROFILE: Settings.hold_context). Any change may change the outcome: the hold ends."""
    parts = [
        certificate.certificate_id,
        certificate.expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        *(certificate.tags.get(tag, "").strip().lower() for tag in OPERATOR_TAGS),
        context,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def tag_value(text: str) -> str:
    """`text` in IAM's tag-value characters ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*), at most 256 of them: anything
    else becomes a space (IAM refuses the whole call otherwise; `,` is the usual culprit)."""
    kept = "".join(c if unicodedata.category(c)[0] in "LZN" or c in _TAG_VALUE_EXTRA else " " for c in text)
    return " ".join(kept.split())[:TAG_VALUE_LIMIT].rstrip()


def rollback_hold(certificate: ServerCertificate) -> str | None:
    """Why a certificate is held by a rollback, if it is: the replaced one served again (until an operator
    rotates it with force: back onto its replacement, or a new one if that was deleted), or the replacement
    that was rolled back (held with it)."""
    if certificate.rolled_back_from:
        at = certificate.rolled_back_at
        when = f" at {at.isoformat()}" if at else ""
        return (
            f"rolled back from {certificate.rolled_back_from}{when}: held until rotated with force=true "
            f"(serves {certificate.rolled_back_from} again, or a new certificate once that one is deleted)"
        )
    if certificate.rolled_back_to:
        return (
            f"rolled back to {certificate.rolled_back_to}: held until {certificate.rolled_back_to} is "
            "rotated with force=true"
        )
    return None


def active_hold(certificate: ServerCertificate, now: datetime, inputs: str | None = None) -> datetime | None:
    """When the hold after a permanent failure ends, if it has not yet. `inputs`: the certificate's
    inputs_fingerprint now; a deterministic refusal's hold ends once they differ from those it was held for
    (None: not known to the caller; the hold then stands until its time)."""
    until = certificate.held_until
    if until is None or until <= now:
        return None
    held_for = certificate.held_inputs
    if held_for is not None and inputs is not None and held_for != inputs:
        return None  # an input changed: the refusal is no longer certain
    return until


# --- rotation decision -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldCertificate:
    certificate: ServerCertificate
    until: datetime
    reason: str
    permanent: bool  # a permanent failure's hold; False: the CA's Retry-After


def rate_limited_until(certificate: ServerCertificate, now: datetime) -> datetime | None:
    """Until when the CA asked not to order again for this certificate, if it still does, believably."""
    retry_after = certificate.retry_after
    if retry_after is None or retry_after <= now or retry_after > now + RATE_LIMIT_MAX_WAIT:
        return None
    return retry_after


def held_now(
    certificate: ServerCertificate, now: datetime, inputs: str | None = None
) -> HeldCertificate | None:
    """Why and until when nothing may be ordered (or resumed) for a certificate, if so (`inputs`: see
    active_hold)."""
    hold = active_hold(certificate, now, inputs)
    limited = rate_limited_until(certificate, now)
    if hold is not None and (limited is None or hold >= limited):
        return HeldCertificate(certificate, hold, certificate.held_reason, True)
    if limited is not None:
        return HeldCertificate(certificate, limited, "the ACME CA rate-limited the order", False)
    return None
