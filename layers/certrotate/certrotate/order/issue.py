"""Placing an order and keeping what it issued: the checks before any order, one ACME order validated,
and the stash (an issued certificate kept encrypted until it is stored, so that a failed store costs no
second order). IAM and ACM rotations alike."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aws_lambda_powertools import Logger
from cryptography import x509

from certrotate.check.issued import validate_issued
from certrotate.errors import (
    InvalidNames,
    InvalidProfileName,
    IpAddressesNotRenewed,
    NameNotAuthorised,
    RateLimited,
    ValidationFailed,
)
from certrotate.model import CertificateFacts, IssuedCertificate, KeySpec
from certrotate.names import PROFILE_TAG, RETRY_AFTER_TAG
from certrotate.order.challenges import PlannedChallenges
from certrotate.order.refusals import PROFILE_NAME, NamePolicy, dns_name_problems
from certrotate.ports import CertificateAuthority, Clock, IssuedStash, Stashed, TrustAnchors

logger = Logger(child=True)

# Seconds of Lambda time an order needs at least; below that it is not started (a rerun continues).
TIME_TO_ORDER = 90.0


class OrderSettings(Protocol):
    """What an order reads of the rotation's settings (store.base.RotationSettings)."""

    @property
    def trust_roots(self) -> TrustAnchors: ...

    def profile_for(self, tags: Mapping[str, str]) -> str | None: ...


def refuse_before_ordering(
    subject: str,
    facts: CertificateFacts,
    tags: Mapping[str, str],
    names: NamePolicy | None = None,
) -> None:
    """What must not be ordered, or what the CA would refuse whatever the retry, checked before any order
    (IAM and ACM rotations, and their dry runs): names that are not DNS names, IP addresses a replacement
    would drop, names the account is not entitled to (`names`: ACCOUNT_DOMAINS), a profile tag that names no
    profile. Raises the PermanentFailure that says which and why."""
    problems = dns_name_problems(facts.dns_names)
    if problems:
        raise InvalidNames(subject, problems)
    if facts.ip_addresses:
        raise IpAddressesNotRenewed(subject, facts.ip_addresses)
    refused = names.problems(facts.dns_names) if names is not None else []
    if refused:
        raise NameNotAuthorised(subject, refused)
    profile = tags.get(PROFILE_TAG)
    if profile and not PROFILE_NAME.fullmatch(profile):
        raise InvalidProfileName(profile)


def order_and_validate(
    authority: CertificateAuthority,
    names: Sequence[str],
    challenges: PlannedChallenges,
    key: KeySpec,
    *,
    tags: Mapping[str, str],
    ari_id: str | None,
    remember: Callable[[Mapping[str, str]], None],
    settings: OrderSettings,
    clock: Clock,
    deadline: float,
    steps: list[str],
) -> tuple[IssuedCertificate, x509.Certificate]:
    """One ACME order for the plan's names (`replaces` the old certificate's ARI id, the profile its tag asks
    for), then its chain, key, names and validity checked; returns it and its leaf. A CA's rate limit is
    remembered on the certificate (`remember` tags it) so that neither scans nor retries hammer the CA."""
    # What a run of this certificate that died left (the DNS-01 values and HTTP-01 rules it recorded); what
    # only claims to be ours (a tagged rule nobody recorded) stays, and is reported.
    steps.extend(challenges.remove_left_behind())
    try:
        issued = authority.issue(
            names,
            key,
            challenges,
            deadline=deadline,
            replaces=ari_id,
            profile=settings.profile_for(tags),
        )
    except RateLimited as exc:
        remember({RETRY_AFTER_TAG: exc.retry_at.isoformat()})
        raise
    steps.append(f"issued a certificate for {', '.join(names)} with an {key} key")
    steps.extend(f"validated {r.name} by {r.method.value} on {r.where}" for r in challenges.plan.routes)
    leaf = validate_issued(
        issued,
        required_names=names,
        expected_key=key,
        trust_roots=settings.trust_roots.roots(),
        trust_name=str(settings.trust_roots),
        now=clock.now(),
    )
    steps.append(f"validated chain (to {settings.trust_roots}), key, names and validity")
    return issued, leaf


@dataclass(frozen=True, slots=True)
class StashTicket:
    """Where an order's certificate is kept until it is stored, and what it is for: `certificate` names the
    stash item (as the lease: the IAM name or the ACM ARN), `replaces` the certificate being replaced (IAM:
    its ID; ACM: ARN and serial), `inputs` what the order is placed under (stash_inputs)."""

    certificate: str
    replaces: str
    inputs: str


def stash_inputs(names: Sequence[str], key: KeySpec, profile: str | None, context: str) -> str:
    """A fingerprint of what an order is placed under: names, key, profile and the CA (`context`, Settings.
    hold_context). A kept certificate is stored only for the same (an operator who changed one of them wants
    a certificate that follows the change)."""
    parts = [",".join(sorted(n.lower() for n in names)), str(key), profile or "", context]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def issue_or_reuse(
    stash: IssuedStash | None,
    ticket: StashTicket,
    order: Callable[[], tuple[IssuedCertificate, x509.Certificate]],
    *,
    names: Sequence[str],
    key: KeySpec,
    settings: OrderSettings,
    clock: Clock,
    steps: list[str],
) -> tuple[IssuedCertificate, x509.Certificate]:
    """The certificate to store: one an earlier try was issued and could not store (kept encrypted: the
    stash), when it is for the same certificate and inputs and still passes every check; else a new order
    (`order`: order_and_validate), kept before the caller stores it, so that a store refused or cut short
    (a quota, a conflict, throttling, a timeout, a crash) costs no second order. IAM and ACM alike.

    The stash is a help, never a gate: a stash that cannot be read or written means ordering as before."""
    if stash is not None:
        try:
            kept = stash.take(ticket.certificate)
        except Exception as error:  # unreadable now: order (what happened before there was a stash)
            logger.warning("the issued-certificate stash could not be read", extra={"error": str(error)})
            kept = None
        if kept is not None:
            reused = _reusable(
                kept, ticket, names=names, key=key, settings=settings, clock=clock, steps=steps
            )
            if reused is not None:
                return kept.issued, reused
            drop_stashed(stash, ticket.certificate)
    issued, leaf = order()
    if stash is not None:
        try:
            if stash.keep(
                ticket.certificate,
                Stashed(issued, ticket.replaces, ticket.inputs),
                expires=leaf.not_valid_after_utc,
            ):
                steps.append("kept the new certificate encrypted until it is stored (lease table)")
        except Exception as error:
            logger.warning(
                "the issued certificate could not be kept: a store that fails now costs another order",
                extra={"error": str(error)},
            )
    return issued, leaf


def _reusable(
    kept: Stashed,
    ticket: StashTicket,
    *,
    names: Sequence[str],
    key: KeySpec,
    settings: OrderSettings,
    clock: Clock,
    steps: list[str],
) -> x509.Certificate | None:
    """The kept certificate's leaf when it may be stored now, else None (with the reason in `steps`). A kept
    certificate is a claim (anyone allowed to write the table could have written it, had they the key): it
    is checked as a new one is."""
    if (kept.replaces, kept.inputs) != (ticket.replaces, ticket.inputs):
        steps.append("dropped a kept certificate ordered for another certificate or under other settings")
        return None
    try:
        leaf = validate_issued(
            kept.issued,
            required_names=names,
            expected_key=key,
            trust_roots=settings.trust_roots.roots(),
            trust_name=str(settings.trust_roots),
            now=clock.now(),
        )
    except ValidationFailed as failure:
        steps.append(f"dropped a kept certificate that no longer passes the checks: {failure}")
        return None
    steps.append(
        "stored the certificate an earlier try was issued and could not store (kept encrypted): no new order"
    )
    return leaf


def drop_stashed(stash: IssuedStash | None, certificate: str) -> None:
    """Forget a kept certificate (stored now, or refused for what it is). A failure is logged: the item's TTL
    (the certificate's NotAfter) removes it in the end, and a later take checks it again anyway."""
    if stash is None:
        return
    try:
        stash.drop(certificate)
    except Exception as error:
        logger.warning("a kept certificate could not be dropped", extra={"error": str(error)})
