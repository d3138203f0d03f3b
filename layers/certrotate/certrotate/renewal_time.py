"""Learning a certificate's renewal time, once for every store: the IAM scan and the ACM scan call this, so
that the two cannot drift apart (issue 22, item 7: the ACM copy re-drew the random point of the CA's window
on every ask, skewing renewals towards the window's start).

The CA's ARI window (RFC 9773) when the CA offers ARI and has one for the certificate, keeping the point
picked in the same window last time (planning.same_pick); else the lifetime rule, asked again after the
CA's Retry-After (or, without ARI at all, at the renewal time itself: nothing new can be learnt before).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from certrotate import planning
from certrotate.ports import RenewalInfoSource, RenewalInfoUnavailable

logger = Logger(child=True)

# When the CA's directory cannot be read, the lifetime rule decides meanwhile and the CA is asked again this
# soon: a revocation that moves windows into the past must not wait for the lifetime renewal time (weeks).
UNREACHABLE_CA_RETRY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Learnt:
    schedule: planning.RenewalSchedule
    note: str | None  # for the scan's notes: the CA asks for renewal now
    changed: bool  # whether the renewal time differs from the kept one (write the tag only then)


def learn(
    subject: str,
    *,
    kept_tag: str | None,
    not_before: datetime,
    not_after: datetime,
    ari_id: str | None,
    source: RenewalInfoSource | None,
    now: datetime,
    random_fraction: float,
    bind: bool = False,
    unreachable_since: datetime | None = None,
) -> Learnt:
    """The renewal time of one certificate (`subject` names it in logs and notes). `kept_tag` is the value of
    certrotate:renewal as last written; `source` None: the CA offers no ARI (or could not be read). `bind`:
    the tag names the certificate it was learnt for (its NotAfter), where tags outlive certificates (ACM
    re-imports keep them); a kept tag learnt for another certificate is then no previous answer.
    `unreachable_since`: when the CA's directory could not be read (then `source` is None too): the lifetime
    rule decides, and the CA is asked again after UNREACHABLE_CA_RETRY rather than at the renewal time."""
    learnt_for = planning.learnt_for_value(not_after) if bind else ""
    previous = planning.RenewalSchedule.parse(kept_tag)
    if previous is not None and bind and previous.learnt_for != learnt_for:
        previous = None
    note: str | None = None
    if source is None:
        renew_at = planning.lifetime_renewal_time(not_before, not_after)
        if unreachable_since is not None:
            renew_at = min(renew_at, unreachable_since + UNREACHABLE_CA_RETRY)
        schedule = planning.schedule_from_lifetime(not_before, not_after, next_ask=renew_at, now=now)
    else:
        try:
            if ari_id is None:
                raise RenewalInfoUnavailable("the certificate has no authority key identifier", now)
            window = source.window(ari_id)
            schedule = planning.schedule_from_window(
                window.start,
                window.end,
                retry_after=window.retry_after,
                now=now,
                random_fraction=random_fraction,
            )
            schedule = planning.same_pick(previous, schedule, now)
        except RenewalInfoUnavailable as unavailable:
            schedule = planning.schedule_from_lifetime(
                not_before,
                not_after,
                next_ask=planning.clamp_retry(unavailable.retry_after, now),
                now=now,
            )
            logger.info(
                "no renewal window from the CA: the lifetime rule decides",
                extra={"certificate_name": subject, "reason": str(unavailable)},
            )
        else:
            if schedule.renew_at <= now:
                note = f"{subject}: the CA asks for renewal now ({schedule.describe()})"
                if window.explanation_url:
                    note += f"; explanation: {window.explanation_url}"
                logger.warning(
                    "the CA asks for renewal",
                    extra={
                        "certificate_name": subject,
                        "window_start": schedule.window_start.isoformat(),
                        "window_end": schedule.window_end.isoformat(),
                        "explanation_url": window.explanation_url,
                    },
                )
    schedule = replace(schedule, learnt_for=learnt_for)
    # Only a new renewal time is worth writing: when to ask again changes with every answer, and the IAM
    # scan's index keeps it (the tag's `ask` is then earlier than the index's: a lost index asks sooner).
    return Learnt(schedule, note, not planning.same_renewal_time(previous, schedule))
