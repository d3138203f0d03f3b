"""Is a certificate due for renewal, why, and by which rule: the earliest of the rules that apply."""

from __future__ import annotations

from datetime import datetime, timedelta

from certrotate.decide.renewal_time import believed_schedule, last_resort_time, lifetime_renewal_time
from certrotate.model import ServerCertificate


def days_to_expiry(expiration: datetime, now: datetime) -> float:
    return round((expiration - now).total_seconds() / 86_400, 2)


def is_due(
    certificate: ServerCertificate,
    now: datetime,
    renew_before_days: int | None,
    not_before: datetime | None = None,
) -> bool:
    return renewal_due(certificate, now, renew_before_days, not_before)[0]


def renewal_due(
    certificate: ServerCertificate,
    now: datetime,
    renew_before_days: int | None,
    not_before: datetime | None = None,
) -> tuple[bool, str, str]:
    """Whether a certificate is due, why, and which rule says so: "RENEW_BEFORE_DAYS=N", "ARI window",
    "lifetime rule" or "last resort". Each applicable rule gives a time; the earliest decides.
    `RENEW_BEFORE_DAYS` is the operator's floor (within it a certificate is always due); the renewal time the
    scan learnt (the CA's ARI window, or the lifetime rule; kept in RENEWAL_TAG) may come earlier; without
    one, the lifetime rule when `not_before` is known; under all of them the last resort (last_resort_time),
    which no tag can move."""
    days = days_to_expiry(certificate.expiration, now)
    candidates: list[tuple[datetime, str, str, str]] = []  # (time, rule, reason when due, reason when not)
    if renew_before_days is not None:
        candidates.append(
            (
                certificate.expiration - timedelta(days=renew_before_days),
                f"RENEW_BEFORE_DAYS={renew_before_days}",
                f"expires in {days} days (threshold {renew_before_days})",
                f"expires in {days} days, not within {renew_before_days}",
            )
        )
    schedule = believed_schedule(certificate)
    if schedule is not None:
        at = f"{schedule.renew_at:%Y-%m-%d %H:%M}Z"
        candidates.append(
            (
                schedule.renew_at,
                "ARI window" if schedule.source == "ari" else "lifetime rule",
                f"{schedule.describe()} says renew from {at}",
                f"{schedule.describe()} says renew at {at} ({days} days to expiry)",
            )
        )
    elif not_before is not None:
        renew_at = lifetime_renewal_time(not_before, certificate.expiration)
        at = f"{renew_at:%Y-%m-%d %H:%M}Z"
        candidates.append(
            (
                renew_at,
                "lifetime rule",
                f"the lifetime rule says renew from {at} ({days} days to expiry)",
                f"the lifetime rule says renew at {at} ({days} days to expiry)",
            )
        )
    last_resort = last_resort_time(not_before or certificate.upload_date, certificate.expiration)
    candidates.append(
        (
            last_resort,
            "last resort",
            f"expires in {days} days: in the last tenth of its lifetime, due whatever its renewal tag says",
            f"expires in {days} days, no renewal time known yet (the next scan learns it)",
        )
    )
    when, rule, due_reason, not_due_reason = min(candidates, key=lambda c: c[0])
    # The floor is "fewer than N days left": due strictly after its time; a renewal time is due from it on.
    due = now > when if rule.startswith("RENEW_BEFORE_DAYS") else now >= when
    return (True, due_reason, rule) if due else (False, not_due_reason, rule)
