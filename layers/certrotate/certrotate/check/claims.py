"""What a bookkeeping tag claims, and whether it is proven (pure): the claim checked, the certificate as far
as it is proven, and the reports of what is not.

`certrotate:replaced-by` (and `certrotate:replacement-served-since`) are tags: anyone allowed
iam:TagServerCertificate writes them. A claim that certificate X replaces certificate O holds only when
X names O back, is managed, covers every name of O and chains to the trust roots, and O's progress record
(the lease table is certrotate's own) names O's certificate ID, X and X's leaf. A claim that fails is reported
and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from certrotate.decide.naming import replacement_name
from certrotate.model import ProgressRecord, ServerCertificate
from certrotate.names import REPLACED_BY_TAG, SERVED_SINCE_TAG, name_tag_value

NO_RECORD = "no progress record of certrotate's names it"


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """Whether `claimed` is proven to be the replacement of a certificate. A tag is anyone's to write; the
    proof is the replacement itself (it names the old one back, is managed, covers every old name, chains to
    the trust roots) and, above all, the progress record the rotation wrote in the lease table before it
    uploaded it (same old certificate, same replacement, same leaf)."""

    old: str
    claimed: str
    facts: tuple[str, ...]  # what the replacement itself fails
    record: str | None  # why the progress record does not prove it (None: it does)
    deterministic: bool  # `claimed` is the name certrotate gives the old certificate's replacement

    @property
    def proven(self) -> bool:
        return not self.facts and self.record is None

    @property
    def adoptable(self) -> bool:
        """Everything holds but the record, which does not exist, at the name certrotate would have given
        the replacement: what a rotation started before progress records leaves. Only an operator's `force`
        adopts it (after these same checks): never a scan, never a tag."""
        return not self.facts and self.record == NO_RECORD and self.deterministic

    @property
    def reason(self) -> str:
        return "; ".join([*self.facts, *([self.record] if self.record else [])])


def check_claim(
    old: ServerCertificate,
    old_names: Sequence[str],
    claimed: str,
    replacement: ServerCertificate | None,
    replacement_names: Sequence[str] = (),
    replacement_sha256: str = "",
    chain_problem: str | None = None,
    record: ProgressRecord | None = None,
) -> ClaimCheck:
    """The pure part of proving a claim that `claimed` replaces `old` (ClaimVerifier reads the inputs)."""
    facts: list[str] = []
    if replacement is None:
        facts.append(f"{claimed} does not exist")
    else:
        if replacement.replaces != old.name:
            facts.append(f"{claimed} does not name {old.name} back (certrotate:replaces)")
        if not replacement.managed:
            facts.append(f"{claimed} is not managed")
        covered = {n.lower() for n in replacement_names}
        missing = [n for n in old_names if n.lower() not in covered]
        if missing:
            facts.append(f"{claimed} does not cover {', '.join(missing)}")
        if chain_problem:
            facts.append(f"{claimed}: {chain_problem}")
    return ClaimCheck(
        old.name,
        claimed,
        tuple(facts),
        record_problem(old, claimed, replacement_sha256, record),
        claimed == replacement_name(old.name, old.certificate_id),
    )


def record_problem(
    old: ServerCertificate, claimed: str, replacement_sha256: str, record: ProgressRecord | None
) -> str | None:
    """Why `old`'s progress record does not prove that this project's rotation of it uploaded `claimed`, with
    the leaf `replacement_sha256` (None: it does). The record is certrotate's own word; a tag is anyone's."""
    if record is None:
        return NO_RECORD
    if record.replaced_id != old.certificate_id or record.replacement != claimed:
        return f"the progress record of {old.name} names another rotation ({record.replacement})"
    if not record.sha256 or record.sha256 != replacement_sha256:
        return f"the progress record of {old.name} names another certificate than the one at {claimed}"
    return None


# How long a progress record outlives the expiry of the certificate it is about (the lease table's TTL): long
# after nothing can need it.
RECORD_KEPT_AFTER_EXPIRY = timedelta(days=30)


def record_kept_until(expiration: datetime, now: datetime) -> datetime:
    """When the table may forget a progress record about a certificate expiring at `expiration`."""
    return max(expiration, now) + RECORD_KEPT_AFTER_EXPIRY


BOOKKEEPING_TAGS = (REPLACED_BY_TAG, SERVED_SINCE_TAG)


def trusted_view(
    certificate: ServerCertificate, proven: str | None, record: ProgressRecord | None = None
) -> ServerCertificate:
    """The certificate as far as certrotate can prove it: replaced by `proven` (None: by nothing, whatever
    its tags say), served everywhere since when its own progress record says (never since a tag's word)."""
    tags = {k: v for k, v in certificate.tags.items() if k not in BOOKKEEPING_TAGS}
    if proven is not None:
        tags[REPLACED_BY_TAG] = name_tag_value(proven)
        if record is not None and record.served_since is not None:
            tags[SERVED_SINCE_TAG] = record.served_since.isoformat()
    return replace(certificate, tags=tags)


@dataclass(frozen=True, slots=True)
class Unproven:
    """A claim about a certificate's replacement that is not proven: reported, never acted on."""

    certificate_name: str
    claimed: str
    reason: str
    adoptable: bool  # ClaimCheck.adoptable: only an operator's `force` may adopt it

    @property
    def fix(self) -> str:
        """What the operator should do about it."""
        if self.adoptable:
            return (
                f"left by a rotation started before progress records (an upgrade), or forged: check "
                f"{self.claimed}, then rotate {self.certificate_name} with force=true to adopt it after the "
                f"same checks, or delete {self.claimed}"
            )
        return (
            f"nothing is moved or deleted on this claim: remove the tags certrotate:replaced-by and "
            f"certrotate:replacement-served-since from {self.certificate_name}, and find out who wrote them"
        )

    def as_dict(self) -> dict[str, object]:
        """As the scan's result lists it (`untrusted`)."""
        return {
            "certificate_name": self.certificate_name,
            "claimed_replacement": self.claimed,
            "reason": self.reason,
            "adoptable": self.adoptable,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class Believed:
    """A certificate as far as what its tags (and its replacement's name) claim is proven."""

    view: ServerCertificate  # trusted_view: replaced only by a proven replacement
    unproven: tuple[Unproven, ...] = ()
