"""What `status` and `plan` show: every IAM server certificate, what the functions would decide about it
(from `certrotate.planning`, the code the functions run), and where it is served. Read-only."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from certrotate import planning
from certrotate.adapters.addresses import Address, EndpointAddresses
from certrotate.adapters.iam import IamCertificateStore
from certrotate.config import Settings
from certrotate.model import ChangeKind, Endpoint, EndpointKind, HostedZone, ServerCertificate
from certrotate.names import CHALLENGE_TAG, KEY_TYPE_TAG
from certrotate.ports import Endpoints, Http01Listeners
from certrotate.validation import facts_of

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


@dataclass(slots=True)
class CertificateStatus:
    certificate: ServerCertificate
    dns_names: tuple[str, ...]
    days_to_expiry: float
    decision: planning.RotationDecision | None  # None: not managed
    decision_source: str
    held_back: str | None
    retirement: planning.RetirementDecision | None
    serving: list[Serving]
    endpoints: list[Endpoint]
    attention: list[str] = field(default_factory=list)

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
            "decision": None
            if self.decision is None
            else {
                "verdict": self.decision.verdict.value,
                "reason": self.decision.reason,
                "source": self.decision_source,
            },
            "held_back": self.held_back,
            "pending_retirement": None
            if self.retirement is None
            else {
                "replaced_by": cert.replaced_by,
                "verdict": self.retirement.verdict.value,
                "reason": self.retirement.reason,
            },
            "endpoints": [s.as_dict() for s in self.serving],
            "needs_attention": self.attention,
        }


@dataclass(slots=True)
class Inventory:
    now: datetime
    settings: Settings
    settings_source: str
    statuses: list[CertificateStatus]
    plan: planning.ScanPlan

    def find(self, name: str) -> CertificateStatus | None:
        return next((s for s in self.statuses if s.name == name), None)

    @property
    def needing_attention(self) -> list[CertificateStatus]:
        return [s for s in self.statuses if s.attention]


def decision_source(decision: planning.RotationDecision, settings: Settings) -> str:
    """Which rule made the decision, for people; the reason string says the details. A decision that names
    its own source (ARI window, lifetime rule, a hold-off) is taken at its word."""
    named = getattr(decision, "source", None)
    if named:
        return str(named)
    if decision.verdict is planning.Verdict.RESUME:
        return "replacement exists"
    if decision.verdict is planning.Verdict.RATE_LIMITED:
        return "CA retry-after"
    if decision.verdict in (planning.Verdict.ISSUE, planning.Verdict.NOT_DUE):
        floor = settings.renew_before_days
        return f"RENEW_BEFORE_DAYS={floor}" if floor is not None else "lifetime rule"
    return decision.verdict.value  # verdicts added later (hold-offs, ARI) name themselves


def collect(
    *,
    store: IamCertificateStore,
    endpoints: Endpoints,
    addresses: EndpointAddresses,
    settings: Settings,
    settings_source: str,
    now: datetime,
) -> Inventory:
    listed = store.list_certificates()
    tags = store.tags_of_many([c.name for c in listed])
    certificates = [
        ServerCertificate(
            c.name, c.arn, c.certificate_id, c.path, c.expiration, c.upload_date, tags.get(c.name, {})
        )
        for c in listed
    ]
    by_name = {c.name: c for c in certificates}
    with ThreadPoolExecutor(max_workers=PEM_READERS, thread_name_prefix="iam-pem") as pool:
        pems = dict(zip(by_name, pool.map(store.pem, by_name), strict=True))
    discovered = endpoints.discover(include_cloudfront=True).endpoints
    plan = planning.plan_scan(
        certificates,
        now=now,
        renew_before_days=settings.renew_before_days,
        lease_seconds=settings.rotation_lease_seconds,
    )
    stalled = {c.name for c in plan.stalled}
    statuses = []
    for cert in sorted(certificates, key=lambda c: (c.expiration, c.name)):
        pem = pems.get(cert.name)
        facts = facts_of(pem[0]) if pem else None
        dns_names = facts.dns_names if facts else ()
        users = planning.endpoints_serving(discovered, cert.arn, cert.certificate_id)
        status = CertificateStatus(
            certificate=cert,
            dns_names=dns_names,
            days_to_expiry=planning.days_to_expiry(cert.expiration, now),
            decision=None,
            decision_source="not managed",
            held_back=None,
            retirement=None,
            serving=[_serving(e, cert, addresses) for e in users],
            endpoints=users,
        )
        if cert.managed:
            replacement = by_name.get(planning.replacement_name(cert.name, cert.certificate_id))
            if replacement is not None and replacement.replaces != cert.name:
                replacement = None
            decision = planning.decide_rotation(
                cert,
                replacement,
                now=now,
                renew_before_days=settings.renew_before_days,
                force=False,
                not_before=facts.not_before
                if facts
                else None,  # the lifetime rule, as the rotation applies it
            )
            status.decision = decision
            status.decision_source = decision_source(decision, settings)
            if decision.verdict not in (
                planning.Verdict.ISSUE,
                planning.Verdict.RESUME,
                planning.Verdict.NOT_DUE,
            ):
                status.held_back = decision.reason
        if cert.replaced_by:
            status.retirement = planning.decide_retirement(
                cert, users, now=now, grace_seconds=settings.retirement_grace_seconds
            )
        status.attention = _attention(status, settings, stalled)
        statuses.append(status)
    return Inventory(now, settings, settings_source, statuses, plan)


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
    if status.held_back:
        reasons.append(f"held back: {status.held_back}")
    if cert.name in stalled:
        reasons.append("its rotation stopped after the upload; the next scan resumes it")
    if not cert.replaced_by and 0 <= days < URGENT_DAYS:
        reasons.append(f"expires in {days:g} days: its rotations have not succeeded")
    retirement = status.retirement
    if retirement is not None and retirement.verdict is planning.RetirementVerdict.IN_USE:
        reasons.append(f"replaced but {retirement.reason}")
    return reasons


def _serving(endpoint: Endpoint, cert: ServerCertificate, addresses: EndpointAddresses) -> Serving:
    reference = planning.reference_for(endpoint, cert.arn, cert.certificate_id)
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
    """What a rotation would change on each endpoint, from planning.plan_endpoint_changes."""
    cert = status.certificate
    decision = status.decision
    if decision is None:
        return []
    new_name = decision.replacement_name
    placeholder_arn = cert.arn.rsplit("/", 1)[0] + "/" + new_name
    changes = planning.plan_endpoint_changes(
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
    key = planning.requested_key(certificate.tags, facts_of(pem[0]).key)
    return str(key) if key else f"unknown key type {certificate.tags.get(KEY_TYPE_TAG)!r}"


def challenge_routes(
    status: CertificateStatus, zones: Sequence[HostedZone], http01: Http01Listeners
) -> list[str]:
    """How the rotation would validate each name (planning.plan_challenges, as the rotation chooses it), or
    why it would refuse before ordering."""
    cert = status.certificate
    forced, unknown = planning.requested_challenge_method(cert.tags)
    if unknown:
        return [f"refused before ordering: unknown challenge method {unknown!r} in {CHALLENGE_TAG}"]
    listeners = (
        http01.port80_listeners(status.endpoints)
        if planning.needs_http01(status.dns_names, forced, zones)
        else []
    )
    plan, problems = planning.plan_challenges(
        cert.name, status.dns_names, forced=forced, zones=zones, listeners=listeners
    )
    if problems:
        return [f"refused before ordering: {problem}" for problem in problems]
    return [f"{route.name} by {route.method.value} on {route.where}" for route in plan.routes]


def names_for(statuses: Sequence[CertificateStatus], name: str | None) -> list[CertificateStatus]:
    return [s for s in statuses if name is None or s.name == name]
