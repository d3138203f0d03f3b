"""IAM server certificates as a store: a new certificate beside the old one, under the name derived from the
old one's ID (decide.naming.replacement_name), uploaded with a tag naming the certificate it replaces, its
progress record written first; what a tag claims is believed only as far as that record proves it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools import Logger
from cryptography import x509

from certrotate.check.certificates import facts_of, leaf_sha256, load_pem_certificates
from certrotate.check.claims import record_kept_until, trusted_view
from certrotate.check.verifier import ClaimVerifier, proven
from certrotate.decide.naming import replacement_name
from certrotate.errors import (
    CertificateAlreadyExists,
    KeyTypeUnsupported,
    NameConflict,
    QuotaExhausted,
    UnknownCertificate,
    UnknownKeyType,
    UnmanagedCertificate,
    UploadRefused,
    ValidationFailed,
)
from certrotate.model import Endpoint, IssuedCertificate, KeySpec, ProgressRecord, ServerCertificate
from certrotate.model.keys import KEY_TYPES
from certrotate.names import (
    HOLD_TAGS,
    KEY_TYPE_TAG,
    MANAGED_TAG,
    OPERATOR_TAGS,
    REPLACES_TAG,
    RETRY_AFTER_TAG,
    ROLLBACK_TAGS,
    ROLLED_BACK_TO_TAG,
    name_tag_value,
)
from certrotate.order.issue import StashTicket, drop_stashed
from certrotate.order.keys import endpoints_refusing, requested_key
from certrotate.ports import CertificateStore, Clock, IssuedStash, ProgressRecords, StoredCertificate
from certrotate.report.results import RotationResult
from certrotate.store.base import Assessment, Current, Found, HeldLease, Placement, RotationSettings, Unproven

logger = Logger(child=True)

# Clocks of different containers differ: a run's read is trusted under its lease only this much inside the
# retirement grace period (see IamStore.reassess).
CLOCK_SKEW_MARGIN = 60.0


@dataclass(frozen=True, slots=True)
class IamRead:
    """One certificate as IAM returned it, and when it was read (Clock.monotonic(), before the call)."""

    stored: StoredCertificate
    read_at: float


class IamStore:
    placement = Placement.BESIDE
    subject_field = "certificate_name"
    refusals: tuple[type[Exception], ...] = (UploadRefused,)

    def __init__(
        self,
        *,
        iam: CertificateStore,
        progress: ProgressRecords,
        clock: Clock,
        settings: RotationSettings,
        stash: IssuedStash | None = None,
    ) -> None:
        # Adapters are held as objects and called at call time: tests patch their classes after wiring
        # built (and cached) the rotation.
        self._iam = iam
        self._progress = progress
        self._clock = clock
        self._settings = settings
        self._stash = stash
        self._claims = ClaimVerifier(
            store=iam, progress=progress, trust_roots=settings.trust_roots, clock=clock
        )

    def find(self, subject: str) -> Found[IamRead]:
        read_at = self._clock.monotonic()  # before what IAM says is read
        stored = self._iam.get(subject)
        if stored is None:
            raise UnknownCertificate(subject)
        if not stored.metadata.managed:
            raise UnmanagedCertificate(stored.metadata.name, MANAGED_TAG)
        return Found(stored.metadata.name, stored.metadata, IamRead(stored, read_at))

    def read(self, found: Found[IamRead]) -> Current[IamRead]:
        body = found.own.stored.body_pem
        facts = facts_of(body)
        return Current(found, facts, load_pem_certificates(body)[0])

    def new_result(self, current: Current[IamRead], correlation_id: str) -> RotationResult:
        return RotationResult(
            certificate_name=current.view.name,
            status="skipped",
            new_certificate_name=None,
            reason="",
            correlation_id=correlation_id,
            dns_names=list(current.facts.dns_names),
        )

    def assess(self, current: Current[IamRead]) -> Assessment:
        """What the bookkeeping tags (and the replacement's name) claim about the certificate, and what is
        proven (check.verifier.ClaimVerifier)."""
        old = current.view
        claims = self._claims.claims(old, current.facts.dns_names)
        good = proven(claims)
        unproven = [c for c in claims if not c.proven]
        view = trusted_view(old, good.check.claimed if good else None, good.record if good else None)
        deterministic = replacement_name(old.name, old.certificate_id)
        return Assessment(
            view=view,
            unproven=tuple(
                Unproven(
                    c.check.claimed,
                    c.check.reason,
                    f"ignored the claim that {c.check.claimed} replaces {old.name}: {c.check.reason}",
                    {
                        "certificate_name": old.name,
                        "claimed_replacement": c.check.claimed,
                        "reason": c.check.reason,
                    },
                )
                for c in unproven
            ),
            proven=good,
            adoptable=None if good else next((c for c in unproven if c.check.adoptable), None),
            taken=(
                None
                if good
                else next(
                    (c for c in unproven if c.check.claimed == deterministic and c.replacement is not None),
                    None,
                )
            ),
            nothing_claimed=good is None and not unproven,
        )

    def reassess(
        self, current: Current[IamRead], assessed: Assessment, result: RotationResult
    ) -> tuple[Current[IamRead], Assessment]:
        """Under the lease, read again what a run that held it before us may have changed: it may have
        uploaded the replacement, tagged the certificate, even retired it. IAM's rate is shared by every
        rotation of the fleet, so the two reads are saved when they cannot tell anything new: nothing was
        claimed before the lease (no replaced-by tag, the replacement's name free), and no progress record
        exists now (one consistent DynamoDB read). A run that puts anything at the replacement's name or tags
        the certificate writes that record first, and deletes it only when it deletes the certificate, which
        happens at least the grace period after the replacement served everywhere, so after our read: when
        less than the grace period (less a margin for clocks) has passed since our read, no run can have
        retired it meanwhile either. Else the certificate and its claims are read again (without checking
        `managed` again)."""
        name = current.subject
        if (
            assessed.nothing_claimed
            and self._clock.monotonic() - current.own.read_at
            < self._settings.grace_seconds - CLOCK_SKEW_MARGIN
            and self._progress.load(name) is None
        ):
            return current, assessed
        refreshed = self._iam.get(name)
        if refreshed is None:
            raise UnknownCertificate(name)
        found = Found(name, refreshed.metadata, IamRead(refreshed, current.own.read_at))
        current = Current(found, current.facts, current.leaf)
        return current, self.assess(current)

    def check_room(self) -> None:
        # A reading a minute old will do while there is plenty of room: the upload is the real check, and a
        # refused one keeps the issued certificate (issue_or_reuse) for a later try.
        used, quota = self._iam.room(kept=True)
        if used >= quota:
            raise QuotaExhausted(used, quota)

    def room(self) -> tuple[int, int]:
        return self._iam.room()

    def key_for(
        self, current: Current[IamRead], view: ServerCertificate, serving: Sequence[Endpoint]
    ) -> KeySpec:
        """The replacement's key (tag certrotate:key-type, else the old key's kind), checked against every
        endpoint serving the certificate. Raises, before any order, a PermanentFailure for an unknown tag
        value or a key an endpoint serving the certificate cannot use."""
        key = requested_key(view.tags, current.facts.key)
        if key is None:
            raise UnknownKeyType(view.tags.get(KEY_TYPE_TAG, ""), list(KEY_TYPES))
        refusing = endpoints_refusing(key, serving)
        if refusing:
            raise KeyTypeUnsupported(str(key), [e.where for e in refusing])
        return key

    def challenge_owners(self, view: ServerCertificate) -> tuple[str, ...]:
        return (view.replaces,) if view.replaces else ()

    def begin(self, current: Current[IamRead]) -> Current[IamRead]:
        return current  # the progress record is written right before the upload (put)

    def ticket(self, current: Current[IamRead], inputs: str) -> StashTicket:
        return StashTicket(current.subject, current.view.certificate_id, inputs)

    def check_issued(self, current: Current[IamRead], leaf: x509.Certificate, result: RotationResult) -> None:
        return None  # IAM takes any certificate that passed validate_issued

    def put(
        self,
        current: Current[IamRead],
        view: ServerCertificate,
        issued: IssuedCertificate,
        leaf: x509.Certificate,
        *,
        name: str,
        lease: HeldLease,
        deadline: float,
        result: RotationResult,
    ) -> tuple[ServerCertificate, ProgressRecord]:
        """The progress record (the proof comes first: what this rotation uploads, written where no tag
        writer reaches), then the upload under the derived name."""
        old = view
        record = ProgressRecord(old.certificate_id, name, leaf_sha256(leaf))
        self._progress.save(old.name, record, keep_until=record_kept_until(old.expiration, self._clock.now()))
        tags = {MANAGED_TAG: "true", REPLACES_TAG: name_tag_value(old.name)}
        # The operator's choices stay with the certificate across rotations.
        tags.update({key: old.tags[key] for key in OPERATOR_TAGS if old.tags.get(key)})
        try:
            uploaded = self._iam.upload(
                name=name,
                path=old.path,
                body_pem=issued.certificate_pem,
                chain_pem=issued.chain_pem,
                private_key_pem=issued.private_key_pem,
                tags=tags,
            )
        except CertificateAlreadyExists:
            # A run we cannot see (e.g. its reply was lost) uploaded it: use it if it is this very one.
            found = self._iam.get(name)
            if found is None or found.metadata.replaces != old.name or not _same_leaf(found, record):
                raise NameConflict(f"the replacement name {name!r} is taken by another certificate") from None
            uploaded = found.metadata
        # UploadRefused (IAM refuses what the certificate is: storing it again cannot help) drops the kept
        # certificate in the pipeline (`refusals`); anything else (throttling, a quota, a timeout) keeps it.
        drop_stashed(self._stash, old.name)
        if old.retry_after is not None:
            self._iam.untag(old.name, [RETRY_AFTER_TAG])
        result.steps.append(f"uploaded {uploaded.name} (path {uploaded.path})")
        result.status = "rotated"
        result.new_certificate_name = uploaded.name
        return uploaded, record

    def finish(
        self,
        current: Current[IamRead],
        view: ServerCertificate,
        stored: ServerCertificate | None,
        result: RotationResult,
    ) -> ServerCertificate:
        """After the repointing: a success ends the run of failures (the next permanent one starts again at
        24 hours), and a forced rotation after a rollback ends the rollback hold."""
        old = current.view
        if any(key in view.tags for key in HOLD_TAGS):
            self._iam.untag(old.name, list(HOLD_TAGS))
            view = replace(view, tags={k: v for k, v in view.tags.items() if k not in HOLD_TAGS})
            result.steps.append(f"cleared the hold-off tags of {old.name}")
        if stored is not None and (old.rolled_back_from or stored.rolled_back_to):
            # A forced rotation after a rollback: every endpoint serves the replacement again, the hold ends.
            if old.rolled_back_from:
                self._iam.untag(old.name, list(ROLLBACK_TAGS))
            if stored.rolled_back_to:
                self._iam.untag(stored.name, [ROLLED_BACK_TO_TAG])
            result.steps.append(f"ended the rollback hold of {old.name} (forced): {stored.name} serves again")
            view = replace(view, tags={k: v for k, v in view.tags.items() if k not in ROLLBACK_TAGS})
        return view

    def detail(
        self,
        current: Current[IamRead],
        result: RotationResult,
        stored: ServerCertificate | None = None,
        *,
        finished: bool = False,
    ) -> dict[str, Any]:
        """An event's detail: names, dates and endpoints, never key material."""
        old = current.view
        return {
            "certificate_name": old.name,
            "certificate_arn": old.arn,
            "new_certificate_name": result.new_certificate_name,
            "new_certificate_arn": stored.arn if stored else None,
            "dns_names": list(current.facts.dns_names),
            "expiration": old.expiration.isoformat(),
            "new_expiration": stored.expiration.isoformat() if stored else None,
            "endpoints_changed": list(result.endpoints_changed),
            "not_searched": list(result.not_searched),
            "retirement": result.retirement,
            "correlation_id": result.correlation_id,
        }

    def replacement(self, name: str) -> ServerCertificate | None:
        """The certificate at `name`, if any (a dry run's resume: what the endpoints would move to)."""
        found = self._iam.get(name)
        return found.metadata if found else None

    def tag(self, subject: str, tags: Mapping[str, str]) -> None:
        self._iam.tag(subject, tags)


def _same_leaf(found: StoredCertificate, record: ProgressRecord) -> bool:
    try:
        certificates = load_pem_certificates(found.body_pem)
    except ValidationFailed:
        return False
    return bool(certificates) and leaf_sha256(certificates[0]) == record.sha256
