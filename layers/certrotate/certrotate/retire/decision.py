"""Whether a replaced certificate may be deleted: only when nothing serves it, anywhere. Pure: the search of
every region is an input."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from certrotate.model import Endpoint, EndpointSurvey, ServerCertificate, Unsearched
from certrotate.model.endpoints import endpoints_serving

# --- retirement ------------------------------------------------------------------------------------------


class RetirementVerdict(StrEnum):
    NOT_REPLACED = "not-replaced"
    NOT_YET_SERVED = "replacement-not-yet-served"  # the rotation has not finished repointing
    IN_GRACE = "in-grace"
    IN_USE = "in-use"  # an endpoint serves it, or one may (a region could not be searched)
    NOT_YET_DEPLOYED = "replacement-not-yet-deployed"  # a CloudFront distribution is still deploying
    ROLLED_BACK = "rolled-back"  # an operator rolled the rotation back: it serves again, never deleted
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class RetirementDecision:
    verdict: RetirementVerdict
    reason: str
    not_before: datetime | None = None
    users: tuple[str, ...] = field(default=())  # where it is (or may be) still served


def decide_retirement(
    certificate: ServerCertificate,
    users: Sequence[Endpoint] | None,
    *,
    now: datetime,
    grace_seconds: int,
    unsearched: Sequence[Unsearched] = (),
    deploying: Sequence[Endpoint] = (),
) -> RetirementDecision:
    """Whether a replaced certificate may be deleted: only when nothing serves it, anywhere.

    `users` are the endpoints still serving it (None when they have not been looked up yet: only time-based
    verdicts are possible then); `unsearched` the regions (or CloudFront) that could not be searched, where
    an endpoint may still serve it; `deploying` the CloudFront distributions serving the replacement whose
    change is not `Deployed` yet (edge locations may still serve the old one). IAM's DeleteConflict is no
    safeguard (ELB may not notice a deleted certificate and stop accepting traffic): this is the check.
    """
    if not certificate.replaced_by:
        return RetirementDecision(RetirementVerdict.NOT_REPLACED, "it has not been replaced")
    if certificate.rolled_back_from:
        return RetirementDecision(
            RetirementVerdict.ROLLED_BACK, f"rolled back from {certificate.rolled_back_from}: kept"
        )
    served_since = certificate.replacement_served_since
    if served_since is None:
        reason = f"{certificate.replaced_by} does not serve everywhere yet"
        if unsearched:
            reason += "; not searched: " + ", ".join(str(u) for u in unsearched)
        return RetirementDecision(RetirementVerdict.NOT_YET_SERVED, reason)
    not_before = served_since + timedelta(seconds=grace_seconds)
    if now < not_before:
        return RetirementDecision(
            RetirementVerdict.IN_GRACE, f"grace period runs until {not_before.isoformat()}", not_before
        )
    if users is None:
        return RetirementDecision(RetirementVerdict.IN_USE, "its endpoints have not been looked up")
    if users or unsearched:
        where = tuple(e.where for e in users)
        parts = ["still served by " + ", ".join(where)] if where else []
        if unsearched:
            parts.append(
                "may still be served in "
                + ", ".join(str(u) for u in unsearched)
                + ", which could not be searched"
            )
        return RetirementDecision(
            RetirementVerdict.IN_USE, "; ".join(parts), users=where + tuple(u.where for u in unsearched)
        )
    if deploying:
        labels = ", ".join(e.where for e in deploying)
        return RetirementDecision(
            RetirementVerdict.NOT_YET_DEPLOYED,
            f"{certificate.replaced_by} is not deployed yet on {labels} (InProgress): edge locations may "
            "still serve the old one",
        )
    return RetirementDecision(RetirementVerdict.DELETE, "replaced, past its grace period and unused")


def decide_retirement_after_search(
    certificate: ServerCertificate,
    replacement: ServerCertificate,
    survey: EndpointSurvey,
    *,
    now: datetime,
    grace_seconds: int,
) -> RetirementDecision:
    """decide_retirement from a search of every region and CloudFront made right before the delete."""
    return decide_retirement(
        certificate,
        endpoints_serving(survey.endpoints, certificate.arn, certificate.certificate_id),
        now=now,
        grace_seconds=grace_seconds,
        unsearched=survey.unsearched,
        deploying=replacement_deploying(survey.endpoints, replacement.arn, replacement.certificate_id),
    )


def replacement_deploying(endpoints: Iterable[Endpoint], new_arn: str, new_id: str) -> list[Endpoint]:
    """The endpoints serving the replacement whose change is still deploying (CloudFront `InProgress`)."""
    return [e for e in endpoints_serving(endpoints, new_arn, new_id) if e.deploying]
