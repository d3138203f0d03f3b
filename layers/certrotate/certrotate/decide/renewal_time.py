"""When to renew a certificate: the CA's ARI window (RFC 9773), the lifetime rule, the last resort."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from certrotate.model import ServerCertificate
from certrotate.model.certificates import RenewalSchedule
from certrotate.names import RENEWAL_TAG

ARI_MIN_RETRY = timedelta(minutes=1)  # RFC 9773 section 4.3: clients clamp Retry-After to sane bounds
ARI_MAX_RETRY = timedelta(days=1)


def clamp_retry(next_ask: datetime, now: datetime) -> datetime:
    return min(max(next_ask, now + ARI_MIN_RETRY), now + ARI_MAX_RETRY)


def schedule_from_window(
    start: datetime, end: datetime, *, retry_after: datetime, now: datetime, random_fraction: float
) -> RenewalSchedule:
    """RFC 9773 section 4.2: a random point in the suggested window, or now when the window has begun (or
    lies wholly in the past: what a CA does when it must revoke). Ask again after Retry-After, clamped."""
    renew_at = now if start <= now else start + (end - start) * min(max(random_fraction, 0.0), 1.0)
    return RenewalSchedule("ari", start, end, renew_at, clamp_retry(retry_after, now))


# Whatever a renewal tag says, a certificate is due in the last tenth of its lifetime, and at least this long
# before it expires (the daily scan must see it in time), but never before half its lifetime: the tag is a
# claim anyone allowed to tag can write.
LAST_RESORT_MIN = timedelta(days=2)
_UNKNOWN_LIFETIME = timedelta(days=90)


def last_resort_time(not_before: datetime | None, not_after: datetime) -> datetime:
    """The backstop under every other rule (renewal_due): it decides only when nothing says earlier, e.g. a
    forged `certrotate:renewal` with a time in the far future."""
    lifetime = not_after - not_before if not_before is not None else _UNKNOWN_LIFETIME
    # Never before half the lifetime (the lifetime rule's earliest): a very short certificate is not born due.
    return not_after - min(max(lifetime / 10, LAST_RESORT_MIN), lifetime / 2)


def believed_schedule(certificate: ServerCertificate) -> RenewalSchedule | None:
    """The kept renewal time, unless it cannot be this certificate's: a renewal at or after its expiry (no CA
    window nor the lifetime rule gives one) is asked again, as an unreadable tag is."""
    schedule = RenewalSchedule.parse(certificate.tags.get(RENEWAL_TAG))
    if schedule is None or schedule.renew_at >= certificate.expiration:
        return None
    return schedule


def lifetime_renewal_time(not_before: datetime, not_after: datetime) -> datetime:
    """Without ARI: renew with a third of the lifetime left, half of it for lifetimes under 10 days
    (certbot 4's rule: a 6-day certificate renews after 3 days, a 90-day one after 60)."""
    lifetime = not_after - not_before
    return not_after - (lifetime / 2 if lifetime < timedelta(days=10) else lifetime / 3)


def schedule_from_lifetime(
    not_before: datetime, not_after: datetime, *, next_ask: datetime, now: datetime
) -> RenewalSchedule:
    """The lifetime rule, learnt again at `next_ask`: after the CA's Retry-After when it offers ARI but had no
    window for the certificate, or at the renewal time itself when the CA offers no ARI (nothing to learn)."""
    renew_at = lifetime_renewal_time(not_before, not_after)
    return RenewalSchedule("lifetime", renew_at, not_after, renew_at, max(next_ask, now + ARI_MIN_RETRY))


def same_pick(previous: RenewalSchedule | None, learnt: RenewalSchedule, now: datetime) -> RenewalSchedule:
    """The CA's answer, keeping the time picked in its window last time when the window is the same (the
    random point is picked once per window, so asking again does not move it; a moved window is picked
    afresh). A window that has begun is renewed in now, as schedule_from_window says."""
    if (
        previous is None
        or previous.source != "ari"
        or (previous.window_start, previous.window_end) != (learnt.window_start, learnt.window_end)
        or learnt.renew_at == now
    ):
        return learnt
    return replace(learnt, renew_at=previous.renew_at)


def same_renewal_time(previous: RenewalSchedule | None, learnt: RenewalSchedule) -> bool:
    """Whether a schedule says what the kept one says, but for when to ask again."""
    return previous is not None and (
        previous.source,
        previous.window_start,
        previous.window_end,
        previous.renew_at,
        previous.learnt_for,
    ) == (learnt.source, learnt.window_start, learnt.window_end, learnt.renew_at, learnt.learnt_for)


def needs_renewal_info(certificate: ServerCertificate, now: datetime, renew_before_days: int | None) -> bool:
    """Whether the scan should learn this certificate's renewal time now: never learnt, unreadable, or the
    CA's Retry-After has passed. Not for expired certificates (RFC 9773 section 4.3: never asked) nor for
    those the operator's floor already makes due."""
    if not certificate.managed or certificate.replaced_by or certificate.expiration <= now:
        return False
    if renew_before_days is not None and certificate.expiration - now < timedelta(days=renew_before_days):
        return False
    schedule = believed_schedule(certificate)
    return schedule is None or now >= schedule.next_ask


# --- naming ----------------------------------------------------------------------------------------------
