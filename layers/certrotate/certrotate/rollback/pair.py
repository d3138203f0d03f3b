"""The pair a rollback acts on, proved: the replacement at the name derived from the old certificate's ID,
naming it back, both managed, and above all the progress record the rotation wrote (never a tag alone)."""

from __future__ import annotations

from dataclasses import dataclass

from certrotate.check.certificates import facts_of, leaf_sha256, load_pem_certificates
from certrotate.check.claims import NO_RECORD, record_problem
from certrotate.decide.naming import replacement_name
from certrotate.deploy.changes import uncovered_aliases
from certrotate.errors import NothingToRollBack, RollbackRefused, UnknownCertificate, UnmanagedCertificate
from certrotate.model import ProgressRecord, ServerCertificate
from certrotate.names import MANAGED_TAG
from certrotate.ports import CertificateStore, Clock, ProgressRecords, StoredCertificate


@dataclass(frozen=True, slots=True)
class Pair:
    """A replaced certificate and its replacement, proved to be the pair a rotation made."""

    old: ServerCertificate
    new: ServerCertificate
    old_names: tuple[str, ...]  # what the old one covers: checked against CloudFront aliases as it goes back
    record: ProgressRecord  # the old one's progress record, which proves the pair


def find_pair(store: CertificateStore, progress: ProgressRecords, clock: Clock, name: str) -> Pair:
    """The replaced certificate and its replacement, from either name, proved from what IAM assigned, what
    the certificates say and, above all, the progress record the rotation wrote (`#progress:<lease key>`
    in the lease table): never from a bookkeeping tag, which anyone allowed to tag can write."""
    named = store.get(name)
    if named is None:
        raise UnknownCertificate(name)
    cert = named.metadata
    if not cert.managed:
        raise UnmanagedCertificate(name, MANAGED_TAG)
    derived = replacement_name(cert.name, cert.certificate_id)
    successor = store.get(derived)
    if successor is not None and successor.metadata.replaces == cert.name:
        return _proved(progress, clock, named, successor)
    if cert.replaces:
        predecessor = store.get(cert.replaces)
        if predecessor is None:
            raise NothingToRollBack(
                f"{name} replaced {cert.replaces}, which was retired (deleted): there is nothing to roll "
                "back to; nothing was changed"
            )
        return _proved(progress, clock, predecessor, named)
    raise NothingToRollBack(
        f"certificate {name!r} has no replacement (none at {derived!r} naming it back) and replaces "
        "none: there is nothing to roll back; nothing was changed"
    )


def _proved(
    progress: ProgressRecords, clock: Clock, old_stored: StoredCertificate, new_stored: StoredCertificate
) -> Pair:
    old, new = old_stored.metadata, new_stored.metadata
    expected = replacement_name(old.name, old.certificate_id)
    problems: list[str] = []
    if new.name != expected or new.replaces != old.name:
        problems.append(
            f"{new.name} is not the replacement a rotation of {old.name} makes (that is {expected!r}, "
            f"naming {old.name} back)"
        )
    if not old.managed or not new.managed:
        problems.append(f"both must be managed ({MANAGED_TAG}=true)")
    if old.path != new.path:
        problems.append(f"their paths differ ({old.path} and {new.path})")
    old_facts, new_facts = facts_of(old_stored.body_pem), facts_of(new_stored.body_pem)
    now = clock.now()
    if old_facts.not_after <= now:
        problems.append(
            f"{old.name} expired at {old_facts.not_after.isoformat()}: rolling back would serve an "
            "expired certificate"
        )
    missing = uncovered_aliases(new_facts.dns_names, old_facts.dns_names)
    if missing:
        problems.append(f"{old.name} does not cover {', '.join(missing)}, which {new.name} serves")
    if problems:
        raise RollbackRefused(f"cannot roll {new.name} back to {old.name}: " + "; ".join(problems))
    record = progress.load(old.name)
    unproven = record_problem(old, new.name, _leaf_sha256(new_stored.body_pem), record)
    if record is None or unproven is not None:
        # No record: a rotation started before progress records, or an upload made to look like one.
        way_out = (
            f"if it is certrotate's (a rotation started before 0.3.0), `certrotate rotate {old.name} "
            "--force` adopts it after a resume's checks (and serves it everywhere), then roll back"
            if record is None
            else f"find out who uploaded {new.name}"
        )
        raise RollbackRefused(
            f"cannot roll {new.name} back to {old.name}: {unproven or NO_RECORD}, so nothing "
            f"proves a rotation of certrotate's uploaded it; {way_out}; nothing was changed"
        )
    return Pair(old, new, old_facts.dns_names, record)


def _leaf_sha256(body_pem: str) -> str:
    """The SHA-256 of a certificate body's leaf ("" when it holds none: no record names that)."""
    certificates = load_pem_certificates(body_pem)
    return leaf_sha256(certificates[0]) if certificates else ""
