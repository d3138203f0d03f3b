"""The dry run: what a rotation would do, refused where the real run would refuse, changing nothing."""

from __future__ import annotations

from typing import Any

from certrotate.decide.policies import RotationDecision, Verdict
from certrotate.deploy.changes import plan_endpoint_changes
from certrotate.deploy.locate import Locator
from certrotate.errors import ConfigurationError, PermanentFailure
from certrotate.model import ServerCertificate
from certrotate.order.issue import refuse_before_ordering
from certrotate.order.ordering import Ordering
from certrotate.report.results import RotationResult
from certrotate.store.base import BesideStore, Current, RotationSettings, Store


def dry_run_beside(
    store: BesideStore[Any],
    current: Current[Any],
    view: ServerCertificate,
    decision: RotationDecision,
    result: RotationResult,
    *,
    locator: Locator,
    ordering: Ordering,
    settings: RotationSettings,
) -> RotationResult:
    """A store renewing beside: the search, the refusals, key and plan, the room, the steps, the endpoint
    changes and the retirement."""
    old, facts = view, current.facts
    result.status = "planned"
    dns_names = facts.dns_names
    located = locator.search(old)  # a dry run is never queued
    survey, serving = located.survey, located.serving
    if decision.verdict is Verdict.ISSUE:
        try:
            refuse_before_ordering(old.name, facts, old.tags, settings.names)
            key = store.key_for(current, old, serving)
            plan = ordering.prepare(
                old.name, old.tags, dns_names, serving, fresh_zones=True, left_by=store.challenge_owners(old)
            )
        except PermanentFailure as refusal:
            result.reason = str(refusal)  # reported; a dry run holds nothing
            result.steps.append(f"refuse before ordering: {refusal}")
            return result
        used, quota = store.room()
        result.steps.append(f"check room: {used} of {quota} server certificates used")
        result.steps.append(f"order a certificate for {', '.join(dns_names)} with an {key} key")
        for route in plan.routes:
            result.steps.append(f"answer {route.name} by {route.method.value} on {route.where}")
        trust_roots_readable(settings)  # what the real run would need: a missing file fails now
        result.steps.append(f"validate its chain to {settings.trust_roots}")
        result.steps.append(f"upload it as {decision.replacement_name} (path {old.path})")
        new_arn, new_id = "<replacement>", "<replacement>"
    else:
        result.steps.append(f"resume: {decision.reason}")
        found = store.replacement(decision.replacement_name)
        new_arn = found.arn if found else "<replacement>"
        new_id = found.certificate_id if found else "<replacement>"
    for change in plan_endpoint_changes(
        serving, old_arn=old.arn, old_id=old.certificate_id, new_arn=new_arn, new_id=new_id
    ):
        result.steps.append(f"{change.kind.value} on {change.endpoint.label}")
    if survey.unsearched:
        result.not_searched = [str(u) for u in survey.unsearched]
        result.steps.append(f"not searched: {', '.join(result.not_searched)}")
    result.steps.append(
        f"retire {old.name} once nothing serves it in any region or on CloudFront and "
        f"{settings.grace_seconds} s have passed"
    )
    return result


def dry_run_in_place(
    store: Store[Any],
    current: Current[Any],
    view: ServerCertificate,
    result: RotationResult,
    *,
    settings: RotationSettings,
) -> RotationResult:
    """A store renewing in place: the refusals and the key, then the steps (nothing to search or move)."""
    result.status = "planned"
    try:
        refuse_before_ordering(current.subject, current.facts, view.tags, settings.names)
        key = store.key_for(current, view, ())
    except PermanentFailure as refusal:  # reported; a dry run holds nothing
        result.reason = str(refusal)
        result.steps.append(f"refuse before ordering: {refusal}")
        return result
    result.steps += [
        f"order a certificate for {', '.join(current.facts.dns_names)} with an {key} key (DNS-01)",
        f"validate its chain to {settings.trust_roots}",
        "check it against the old certificate: key type and size, Key Usage, Extended Key Usage, "
        "names, validity",
        f"re-import it in place into {current.subject} (ARN and associations stay)",
    ]
    return result


def trust_roots_readable(settings: RotationSettings) -> None:
    try:
        settings.trust_roots.roots()
    except OSError as exc:
        raise ConfigurationError(
            f"the trust roots ({settings.trust_roots}) cannot be read: {exc.strerror or exc}; an "
            "installed package without its data files? (certrotate/roots/*.pem)"
        ) from None
