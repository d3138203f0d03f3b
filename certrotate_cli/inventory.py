"""What `status` and `plan` show: every IAM server certificate and ACM imported certificate, what the
functions would decide about it (the layer's own code: decide, check, order), and where it is served.
Read-only.

The functions decide on what they can prove, and so does this: a bookkeeping tag's claim counts only when the
rotation's own progress record (lease table) proves it (`check.claims`), a hold after a deterministic
refusal ends when its inputs change (`holds.inputs_fingerprint`), and a name the account is not entitled to
(`ACCOUNT_DOMAINS`) is refused before ordering, by the rotation's own check."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from certrotate.adapters.aws.acm import AcmCertificateStore
from certrotate.adapters.aws.addresses import Address, EndpointAddresses
from certrotate.adapters.aws.iam import IamCertificateStore
from certrotate.adapters.clock import SystemClock
from certrotate.check.certificates import facts_of
from certrotate.check.claims import Unproven
from certrotate.check.verifier import ClaimVerifier, believe
from certrotate.config import Settings
from certrotate.decide.due import days_to_expiry, is_due
from certrotate.decide.holds import held_now, inputs_fingerprint
from certrotate.decide.naming import replacement_name
from certrotate.decide.policies import RotationDecision, Verdict, decide_rotation
from certrotate.deploy.changes import plan_endpoint_changes
from certrotate.errors import PermanentFailure, RegionDiscoveryFailed
from certrotate.model import (
    CertificateFacts,
    ChallengePlan,
    ChangeKind,
    Endpoint,
    EndpointKind,
    HostedZone,
    ServerCertificate,
)
from certrotate.model.endpoints import endpoints_serving, reference_for
from certrotate.names import CHALLENGE_TAG, KEY_TYPE_TAG
from certrotate.order.challenge_plan import needs_http01, plan_challenges, requested_challenge_method
from certrotate.order.issue import refuse_before_ordering
from certrotate.order.keys import requested_key
from certrotate.order.refusals import NamePolicy
from certrotate.ports import AcmCertificate, Endpoints, Http01Listeners, ProgressRecords, StoredCertificate
from certrotate.retire.decision import RetirementDecision, RetirementVerdict, decide_retirement
from certrotate.scan.plan import ScanPlan, plan_scan

URGENT_DAYS = 7.0  # a managed certificate this close to expiry has missed its rotations: a person looks
UNMANAGED_WARN_DAYS = (
    30  # an unmanaged certificate this close to expiry (without RENEW_BEFORE_DAYS) is flagged
)
PEM_READERS = 8


@dataclass(frozen=True, slots=True)
class Serving:
    """One endpoint serving a certificate, as an operator names it."""

    kind: str  # alb | nlb | classic | cloudfront
    region: str
    load_balancer: str  # name; the distribution ID for CloudFront
    listener: str  # listener ID, "<name>:<port>", or the distribution ID
    role: str  # default | sni
    address: str  # DNS name:port ("" when the endpoint vanished meanwhile)

    @property
    def label(self) -> str:
        if self.kind == "cloudfront":
            return f"cloudfront {self.listener}"
        return f"{self.kind} {self.load_balancer} {self.listener} ({self.region})"

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "region": self.region,
            "load_balancer": self.load_balancer,
            "listener": self.listener,
            "role": self.role,
            "address": self.address,
        }


def _decision_dict(decision: RotationDecision | None, source: str) -> dict[str, str] | None:
    if decision is None:
        return None
    return {"verdict": decision.verdict.value, "reason": decision.reason, "source": source}


@dataclass(slots=True)
class CertificateStatus:
    certificate: ServerCertificate
    dns_names: tuple[str, ...]
    days_to_expiry: float
    decision: RotationDecision | None  # None: not managed
    decision_source: str
    held_back: str | None
    retirement: RetirementDecision | None
    serving: list[Serving]
    endpoints: list[Endpoint]
    attention: list[str] = field(default_factory=list)
    # What its tags claim and no progress record proves (`certificate` is then not replaced, as the functions
    # see it), and why a rotation would refuse before ordering (a name outside ACCOUNT_DOMAINS, ...).
    unproven: tuple[Unproven, ...] = ()
    refused: str | None = None
    facts: CertificateFacts | None = None

    @property
    def name(self) -> str:
        return self.certificate.name

    def as_dict(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "name": cert.name,
            "arn": cert.arn,
            "path": cert.path,
            "dns_names": list(self.dns_names),
            "expiration": cert.expiration.isoformat(),
            "days_to_expiry": self.days_to_expiry,
            "managed": cert.managed,
            "decision": _decision_dict(self.decision, self.decision_source),
            "held_back": self.held_back,
            "pending_retirement": None
            if self.retirement is None
            else {
                "replaced_by": cert.replaced_by,
                "verdict": self.retirement.verdict.value,
                "reason": self.retirement.reason,
            },
            "endpoints": [s.as_dict() for s in self.serving],
            "claims_not_proven": [u.as_dict() for u in self.unproven],
            "refused_before_ordering": self.refused,
            "needs_attention": self.attention,
        }


@dataclass(slots=True)
class AcmStatus:
    """One ACM imported certificate: what the functions would decide about it (it is re-imported in place:
    nothing is repointed or retired)."""

    certificate: AcmCertificate
    dns_names: tuple[str, ...]
    days_to_expiry: float
    decision: RotationDecision | None  # None: not managed
    decision_source: str
    held_back: str | None
    scan_would_send: bool
    attention: list[str] = field(default_factory=list)
    refused: str | None = None  # why a rotation would refuse before ordering

    @property
    def arn(self) -> str:
        return self.certificate.arn

    @property
    def key_algorithm(self) -> str:
        return self.certificate.key_algorithm

    def as_dict(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "arn": cert.arn,
            "region": cert.region,
            "dns_names": list(self.dns_names),
            "expiration": cert.not_after.isoformat() if cert.not_after else None,
            "days_to_expiry": self.days_to_expiry,
            "managed": self.decision is not None,
            "key_algorithm": cert.key_algorithm,
            "decision": _decision_dict(self.decision, self.decision_source),
            "held_back": self.held_back,
            "refused_before_ordering": self.refused,
            "needs_attention": self.attention,
        }


@dataclass(slots=True)
class Inventory:
    now: datetime
    settings: Settings
    settings_source: str
    statuses: list[CertificateStatus]
    plan: ScanPlan
    acm: list[AcmStatus] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be read (an ACM region, ...)
    endpoints: list[Endpoint] = field(default_factory=list)  # every endpoint the search found
    room: tuple[int, int] | None = None  # IAM server certificates held, and the quota (doctor reads it)

    def find(self, name: str) -> CertificateStatus | AcmStatus | None:
        found = next((s for s in self.statuses if s.name == name), None)
        return found or next((a for a in self.acm if a.arn == name), None)

    @property
    def needing_attention(self) -> list[CertificateStatus | AcmStatus]:
        return [s for s in self.statuses if s.attention] + [a for a in self.acm if a.attention]


class _Progress(Protocol):
    def counting(self, what: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...
    def waiting(self, what: str) -> AbstractContextManager[None]: ...


class _Silent:
    @contextmanager
    def counting(self, what: str, total: int) -> Iterator[Callable[[int], None]]:
        def advance(steps: int = 1) -> None:
            pass

        yield advance

    @contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        yield


def decision_source(decision: RotationDecision, settings: Settings) -> str:
    """Which rule made the decision, for people; the reason string says the details. A decision that names
    its own source (ARI window, lifetime rule, a hold-off) is taken at its word."""
    named = getattr(decision, "source", None)
    if named:
        return str(named)
    if decision.verdict is Verdict.RESUME:
        return "replacement exists"
    if decision.verdict is Verdict.RATE_LIMITED:
        return "CA retry-after"
    if decision.verdict in (Verdict.ISSUE, Verdict.NOT_DUE):
        floor = settings.renew_before_days
        return f"RENEW_BEFORE_DAYS={floor}" if floor is not None else "lifetime rule"
    return decision.verdict.value  # verdicts added later (hold-offs, ARI) name themselves


def _read_all(
    store: IamCertificateStore, names: Sequence[str], progress: _Progress
) -> dict[str, tuple[StoredCertificate, str | None]]:
    """Every certificate with its tags, body and chain: one GetServerCertificate each (it carries the tags),
    several at once, with a progress bar."""
    read: dict[str, tuple[StoredCertificate, str | None]] = {}
    with (
        progress.counting(f"reading {len(names)} IAM server certificates", len(names)) as advance,
        ThreadPoolExecutor(max_workers=PEM_READERS, thread_name_prefix="iam-read") as pool,
    ):

        def one(name: str) -> tuple[StoredCertificate, str | None] | None:
            try:
                return store.read(name)
            finally:
                advance(1)

        for name, found in zip(names, pool.map(one, names), strict=True):
            if found is not None:  # deleted since it was listed
                read[name] = found
    return read


class _AlreadyRead:
    """The certificates `_read_all` read, for proving claims without reading them again; a name it did not
    read is asked of IAM."""

    def __init__(self, read: dict[str, tuple[StoredCertificate, str | None]], store: IamCertificateStore):
        self._read = read
        self._store = store

    def get(self, name: str) -> StoredCertificate | None:
        found = self._read.get(name)
        if found is None:
            return self._store.get(name)
        stored, chain = found
        return replace(stored, chain_pem=chain or "")


def collect(
    *,
    store: IamCertificateStore,
    endpoints: Endpoints,
    addresses: EndpointAddresses,
    settings: Settings,
    settings_source: str,
    now: datetime,
    acm: AcmCertificateStore | None = None,
    progress: _Progress | None = None,
    records: ProgressRecords | None = None,
    names: NamePolicy | None = None,
) -> Inventory:
    """`records`: the rotations' progress records of this account (None: none readable, so no bookkeeping
    claim is proven); `names`: the names this account may have renewed (ACCOUNT_DOMAINS)."""
    progress = progress or _Silent()
    names = names or NamePolicy()
    with progress.waiting("listing IAM server certificates"):
        listed = store.list_certificates()
    read = _read_all(store, [c.name for c in listed], progress)
    as_listed = [read[c.name][0].metadata for c in listed if c.name in read]
    facts_by_name = {name: facts_of(stored.body_pem) for name, (stored, _) in read.items()}
    verifier = (
        ClaimVerifier(
            store=_AlreadyRead(read, store),
            progress=records,
            trust_roots=settings.issuer_trust,
            clock=SystemClock(),
        )
        if records is not None
        else None
    )
    believed = {
        cert.name: believe(
            verifier,
            cert,
            facts_by_name[cert.name].dns_names,
            replacement_listed=replacement_name(cert.name, cert.certificate_id) in read,
        )
        for cert in as_listed
    }
    # From here on, as the functions see them: replaced only as far as a progress record proves it.
    certificates = [believed[c.name].view for c in as_listed]
    with progress.waiting("searching every region and CloudFront for endpoints"):
        discovered = endpoints.discover(include_cloudfront=True).endpoints
    plan = plan_scan(
        certificates,
        now=now,
        renew_before_days=settings.renew_before_days,
        lease_seconds=settings.rotation_lease_seconds,
        # What the next scan would learn first for a certificate without a renewal time: the lifetime rule.
        not_before={n: f.not_before for n, f in facts_by_name.items() if f.not_before is not None},
        hold_context=settings.hold_context,
    )
    adoptable = {n for n, b in believed.items() if any(u.adoptable for u in b.unproven)}
    if adoptable:  # the scan sends none of these: only an operator's force adopts what they claim
        plan = replace(plan, to_enqueue=tuple(c for c in plan.to_enqueue if c.name not in adoptable))
    stalled = {c.name for c in plan.stalled}
    statuses = []
    for cert in sorted(certificates, key=lambda c: (c.expiration, c.name)):
        facts = facts_by_name.get(cert.name)
        dns_names = facts.dns_names if facts else ()
        users = endpoints_serving(discovered, cert.arn, cert.certificate_id)
        status = CertificateStatus(
            certificate=cert,
            dns_names=dns_names,
            days_to_expiry=days_to_expiry(cert.expiration, now),
            decision=None,
            decision_source="not managed",
            held_back=None,
            retirement=None,
            serving=[_serving(e, cert, addresses) for e in users],
            endpoints=users,
            unproven=believed[cert.name].unproven,
            facts=facts,
        )
        if cert.managed:
            decision = decide_rotation(
                cert,
                None,  # a replacement counts as far as its claim is proven (`cert` says so)
                now=now,
                renew_before_days=settings.renew_before_days,
                force=False,
                not_before=facts.not_before if facts else None,  # the lifetime rule, as the rotation has it
                inputs=inputs_fingerprint(cert, settings.hold_context),
            )
            status.decision = decision
            status.decision_source = decision_source(decision, settings)
            if decision.verdict not in (
                Verdict.ISSUE,
                Verdict.RESUME,
                Verdict.NOT_DUE,
            ):
                status.held_back = decision.reason
            if not cert.replaced_by and facts is not None:  # whenever it is due, its rotation would refuse
                status.refused = refusal(cert.name, facts, cert.tags, names)
        if cert.replaced_by:
            status.retirement = decide_retirement(
                cert, users, now=now, grace_seconds=settings.retirement_grace_seconds
            )
        status.attention = _attention(status, settings, stalled)
        statuses.append(status)
    notes: list[str] = []
    acm_statuses = _collect_acm(acm, settings, now, progress, notes, names) if acm is not None else []
    return Inventory(now, settings, settings_source, statuses, plan, acm_statuses, notes, list(discovered))


def refusal(subject: str, facts: CertificateFacts, tags: Mapping[str, str], names: NamePolicy) -> str | None:
    """Why a rotation would refuse before ordering (the rotation's own check: names that are not DNS names, IP
    addresses, names outside ACCOUNT_DOMAINS, ...), or None."""
    try:
        refuse_before_ordering(subject, facts, tags, names)
    except PermanentFailure as refused:
        return str(refused)
    return None


def _collect_acm(
    acm: AcmCertificateStore,
    settings: Settings,
    now: datetime,
    progress: _Progress,
    notes: list[str],
    names: NamePolicy,
) -> list[AcmStatus]:
    """The ACM imported certificates of every region looked at, decided as the ACM scan and rotation decide:
    two calls each (its tags, and its body for the names)."""
    try:
        regions = acm.regions()
    except RegionDiscoveryFailed as exc:
        notes.append(f"ACM certificates not listed: {exc}")
        return []
    listed: list[AcmCertificate] = []
    with progress.waiting(f"listing ACM imported certificates in {len(regions)} region(s)"):
        for region in regions:
            try:
                listed.extend(acm.list_imported(region))
            except Exception as exc:  # one region's refusal must not hide the others
                notes.append(f"ACM certificates in {region} not listed: {exc}")
    floor = settings.renew_before_days
    found: list[AcmStatus] = []
    with progress.counting(f"reading {len(listed)} ACM imported certificates", len(listed)) as advance:
        for cert in listed:
            cert = replace(cert, tags=acm.tags_of(cert.arn))
            facts = facts_of(acm.body(cert.arn))
            advance(1)
            if cert.not_after is None:
                cert = replace(cert, not_after=facts.not_after)
            view = cert.as_certificate()
            not_before = cert.not_before or facts.not_before
            status = AcmStatus(
                certificate=cert,
                dns_names=facts.dns_names,
                days_to_expiry=days_to_expiry(view.expiration, now),
                decision=None,
                decision_source="not managed",
                held_back=None,
                scan_would_send=False,
            )
            if view.managed:
                inputs = inputs_fingerprint(view, settings.hold_context)
                decision = decide_rotation(
                    view,
                    None,
                    now=now,
                    renew_before_days=floor,
                    force=False,
                    not_before=not_before,
                    inputs=inputs,
                )
                status.decision = decision
                status.decision_source = decision_source(decision, settings)
                if decision.verdict not in (Verdict.ISSUE, Verdict.NOT_DUE):
                    status.held_back = decision.reason
                status.refused = refusal(cert.arn, facts, view.tags, names)
                status.scan_would_send = (
                    is_due(view, now, floor, not_before) and held_now(view, now, inputs) is None
                )
            status.attention = _acm_attention(status, settings)
            found.append(status)
    return sorted(found, key=lambda a: (a.days_to_expiry, a.arn))


def _acm_attention(status: AcmStatus, settings: Settings) -> list[str]:
    days, in_use = status.days_to_expiry, bool(status.certificate.in_use_by)
    reasons: list[str] = []
    if days < 0:
        reasons.append("expired")
    if status.decision is None:
        if 0 <= days < (settings.renew_before_days or UNMANAGED_WARN_DAYS) and in_use:
            reasons.append(f"expires in {days:g} days and is not managed")
        return reasons
    if status.held_back:
        reasons.append(f"held back: {status.held_back}")
    if status.refused:
        reasons.append(f"its rotation would be refused before ordering: {status.refused}")
    if 0 <= days < URGENT_DAYS:
        reasons.append(f"expires in {days:g} days: its rotations have not succeeded")
    return reasons


def _attention(status: CertificateStatus, settings: Settings, stalled: set[str]) -> list[str]:
    """Why a person should look, if they should (each reason makes `status` exit non-zero)."""
    cert, days = status.certificate, status.days_to_expiry
    reasons: list[str] = []
    if days < 0 and status.serving:
        reasons.append("expired and still served")
    if not cert.managed:
        if days < (settings.renew_before_days or UNMANAGED_WARN_DAYS) and status.serving:
            reasons.append(f"expires in {days:g} days and is not managed")
        return reasons
    if status.decision is not None and status.decision.verdict is Verdict.ROLLED_BACK:
        reasons.append(f"held: {status.decision.reason}")  # a rollback's hold: a person lifts it
    elif status.held_back:
        reasons.append(f"held back: {status.held_back}")
    for claim in status.unproven:  # a forged or stale bookkeeping tag, or a rotation left by 0.2.0
        reasons.append(
            f"the claim that {claim.claimed or '?'} replaces it is not proven ({claim.reason}): {claim.fix}"
        )
    if status.refused:
        reasons.append(f"its rotation would be refused before ordering: {status.refused}")
    if cert.name in stalled:
        reasons.append("its rotation stopped after the upload; the next scan resumes it")
    if not cert.replaced_by and 0 <= days < URGENT_DAYS:
        reasons.append(f"expires in {days:g} days: its rotations have not succeeded")
    retirement = status.retirement
    if retirement is not None and retirement.verdict is RetirementVerdict.IN_USE:
        reasons.append(f"replaced but {retirement.reason}")
    return reasons


def _serving(endpoint: Endpoint, cert: ServerCertificate, addresses: EndpointAddresses) -> Serving:
    reference = reference_for(endpoint, cert.arn, cert.certificate_id)
    role = "default" if endpoint.default_certificate == reference else "sni"
    address: Address | None = addresses.address_of(endpoint)
    where = str(address) if address else ""
    if endpoint.kind is EndpointKind.CLOUDFRONT:
        return Serving("cloudfront", "global", endpoint.resource_id, endpoint.resource_id, role, where)
    if endpoint.kind is EndpointKind.CLASSIC_LISTENER:
        name = endpoint.load_balancer
        return Serving("classic", endpoint.region, name, endpoint.resource_id, role, where)
    kind = address.kind if address else "alb"
    name = address.load_balancer_name if address else endpoint.load_balancer.rsplit("/", 2)[-2]
    listener = endpoint.resource_id.rsplit("/", 1)[-1]
    return Serving(kind, endpoint.region, name, listener, role, where)


def planned_changes(status: CertificateStatus) -> list[str]:
    """What a rotation would change on each endpoint, from deploy.changes.plan_endpoint_changes."""
    cert = status.certificate
    decision = status.decision
    if decision is None:
        return []
    new_name = decision.replacement_name
    placeholder_arn = cert.arn.rsplit("/", 1)[0] + "/" + new_name
    changes = plan_endpoint_changes(
        status.endpoints,
        old_arn=cert.arn,
        old_id=cert.certificate_id,
        new_arn=placeholder_arn,
        new_id=f"<id of {new_name}>",
    )
    labels = {e.resource_id: s.label for e, s in zip(status.endpoints, status.serving, strict=True)}
    lines = []
    for change in changes:
        subject = cert.name if change.kind is ChangeKind.REMOVE_SNI else new_name
        lines.append(f"{labels[change.endpoint.resource_id]}: {change.kind.value} {subject}")
    return lines


def key_of(store: IamCertificateStore, certificate: ServerCertificate) -> str | None:
    """The key the rotation would order (the tag certrotate:key-type's, else the old key's kind)."""
    pem = store.pem(certificate.name)
    if not pem:
        return None
    key = requested_key(certificate.tags, facts_of(pem[0]).key)
    return str(key) if key else f"unknown key type {certificate.tags.get(KEY_TYPE_TAG)!r}"


def challenge_plan(
    status: CertificateStatus, zones: Sequence[HostedZone], http01: Http01Listeners
) -> tuple[ChallengePlan | None, list[str]]:
    """How the rotation would validate each name (plan_challenges, as the rotation chooses it), and
    why it would refuse before ordering (then no plan)."""
    cert = status.certificate
    forced, unknown = requested_challenge_method(cert.tags)
    if unknown:
        return None, [f"unknown challenge method {unknown!r} in {CHALLENGE_TAG}"]
    listeners = (
        http01.port80_listeners(status.endpoints) if needs_http01(status.dns_names, forced, zones) else []
    )
    plan, problems = plan_challenges(
        cert.name, status.dns_names, forced=forced, zones=zones, listeners=listeners
    )
    return (None, problems) if problems else (plan, [])


def challenge_routes(
    status: CertificateStatus, zones: Sequence[HostedZone], http01: Http01Listeners
) -> list[str]:
    plan, problems = challenge_plan(status, zones, http01)
    if plan is None:
        return [f"refused before ordering: {problem}" for problem in problems]
    return [f"{route.name} by {route.method.value} on {route.where}" for route in plan.routes]


def names_for(statuses: Sequence[CertificateStatus], name: str | None) -> list[CertificateStatus]:
    return [s for s in statuses if name is None or s.name == name]
