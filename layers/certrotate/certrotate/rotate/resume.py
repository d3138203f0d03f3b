"""What a rotation may believe before it acts: claims reported when unproven, a pre-0.3 replacement adopted
only when forced, a taken replacement name refused, and a resume only onto a proven replacement."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from certrotate.check.claims import ClaimCheck, record_kept_until, trusted_view
from certrotate.check.verifier import Claim
from certrotate.decide.policies import RotationDecision, Verdict
from certrotate.errors import NameConflict
from certrotate.model import ProgressRecord, ServerCertificate
from certrotate.ports import Clock, ProgressRecords
from certrotate.report.results import RotationResult
from certrotate.store.base import Assessment, Unproven

logger = Logger(child=True)


def report_unproven(unproven: tuple[Unproven, ...], result: RotationResult) -> None:
    """A claim that fails its proof is reported and ignored: nothing served, resumed or retired on it."""
    for claim in unproven:
        logger.warning("a claim that is not proven is ignored", extra=dict(claim.log))
        result.steps.append(claim.step)


def admit(
    assessed: Assessment,
    decision: RotationDecision,
    force: bool,
    old: ServerCertificate,
    result: RotationResult,
) -> tuple[RotationDecision, bool] | None:
    """The decision once the claims are weighed, and whether to adopt; None: stop here (reported)."""
    adopt = False
    if decision.verdict is Verdict.ISSUE and assessed.adoptable is not None:
        claimed = assessed.adoptable.check.claimed
        if not force:
            # It looks like the work of a rotation started before progress records: an operator checks it
            # and adopts it with force; no tag and no scan does.
            result.reason = (
                f"{claimed} claims to replace {old.name} and is not proven "
                f"({assessed.adoptable.check.reason}): nothing is moved or deleted on its word; if it is "
                "the replacement a rotation started before this version uploaded, force=true adopts it "
                "after these checks, else delete it"
            )
            return None
        adopt = True
        decision = RotationDecision(
            Verdict.RESUME,
            f"adopting {claimed} (forced): every check but the record holds",
            claimed,
        )
    if decision.verdict is Verdict.ISSUE and assessed.taken is not None:
        raise name_taken(old, assessed.taken)
    return decision, adopt


def readmit(
    assessed: Assessment,
    decision: RotationDecision,
    adopt: bool,
    old: ServerCertificate,
    result: RotationResult,
    *,
    progress: ProgressRecords,
    clock: Clock,
) -> tuple[RotationDecision, Claim | None, ServerCertificate]:
    """Under the lease, with what was read again: adopt (forced), resume what a concurrent run replaced,
    refuse a name taken meanwhile. Returns the decision, the proven claim and the view to act on."""
    view, claim = assessed.view, assessed.proven
    if adopt and claim is None:
        claim = adopt_replacement(
            old, assessed, decision.replacement_name, result, progress=progress, clock=clock
        )
        view = trusted_view(old, claim.check.claimed, claim.record)
    if decision.verdict is Verdict.ISSUE and claim is not None:
        decision = RotationDecision(Verdict.RESUME, "replaced by a concurrent run", claim.check.claimed)
        result.reason = decision.reason
        result.new_certificate_name = decision.replacement_name
    elif decision.verdict is Verdict.ISSUE and assessed.taken is not None:
        raise name_taken(old, assessed.taken)
    return decision, claim, view


def adopt_replacement(
    old: ServerCertificate,
    assessed: Assessment,
    claimed: str,
    result: RotationResult,
    *,
    progress: ProgressRecords,
    clock: Clock,
) -> Claim:
    """An operator forced the rotation of a certificate whose replacement a rotation started before
    progress records left (every check holds but the record): record it now, under the lease."""
    candidate = assessed.adoptable
    if candidate is None or candidate.check.claimed != claimed or candidate.replacement is None:
        raise NameConflict(f"{claimed!r} can no longer be adopted as the replacement of {old.name!r}")
    record = ProgressRecord(old.certificate_id, claimed, candidate.sha256)
    progress.save(old.name, record, keep_until=record_kept_until(old.expiration, clock.now()))
    logger.warning(
        "adopted a replacement uploaded before progress records (forced)",
        extra={"certificate_name": old.name, "replacement": claimed},
    )
    result.steps.append(
        f"adopted {claimed} as the replacement of {old.name} (forced): it names {old.name} back, is "
        "managed, covers every name and chains to the trust roots; recorded now"
    )
    return Claim(
        ClaimCheck(old.name, claimed, (), None, True),
        candidate.replacement,
        record,
        candidate.sha256,
    )


def resumed(
    claim: Claim | None, old: ServerCertificate, decision: RotationDecision
) -> tuple[ServerCertificate, ProgressRecord]:
    """The replacement to resume onto: only a proven claim resumes; its replacement may have gone since
    (never delete then)."""
    if claim is None or claim.replacement is None or claim.record is None:
        raise NameConflict(
            f"{old.name} is tagged as replaced by {decision.replacement_name!r}, which is not a "
            "proven replacement any more"
        )
    return claim.replacement, claim.record


def name_taken(old: ServerCertificate, taken: Claim) -> NameConflict:
    return NameConflict(
        f"the replacement name {taken.check.claimed!r} is taken by a certificate that is not a proven "
        f"replacement of {old.name!r} ({taken.check.reason})"
    )
