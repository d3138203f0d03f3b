"""Pure decisions: which certificates are due, what the replacement is called and made of, which
endpoints change and how, and when a replaced certificate may go. No I/O, no boto3; time is an argument."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from certrotate.check.claims import BOOKKEEPING_TAGS as BOOKKEEPING_TAGS
from certrotate.check.claims import NO_RECORD as NO_RECORD
from certrotate.check.claims import RECORD_KEPT_AFTER_EXPIRY as RECORD_KEPT_AFTER_EXPIRY
from certrotate.check.claims import ClaimCheck as ClaimCheck
from certrotate.check.claims import check_claim as check_claim
from certrotate.check.claims import record_kept_until as record_kept_until
from certrotate.check.claims import record_problem as record_problem
from certrotate.check.claims import trusted_view as trusted_view
from certrotate.decide.due import days_to_expiry as days_to_expiry
from certrotate.decide.due import is_due as is_due
from certrotate.decide.due import renewal_due as renewal_due
from certrotate.decide.holds import FIRST_HOLD as FIRST_HOLD
from certrotate.decide.holds import LONGEST_HOLD as LONGEST_HOLD
from certrotate.decide.holds import TAG_VALUE_LIMIT as TAG_VALUE_LIMIT
from certrotate.decide.holds import UNTIL_INPUTS_CHANGE as UNTIL_INPUTS_CHANGE
from certrotate.decide.holds import HeldCertificate as HeldCertificate
from certrotate.decide.holds import Hold as Hold
from certrotate.decide.holds import active_hold as active_hold
from certrotate.decide.holds import held_now as held_now
from certrotate.decide.holds import hold_after_failure as hold_after_failure
from certrotate.decide.holds import hold_duration as hold_duration
from certrotate.decide.holds import inputs_fingerprint as inputs_fingerprint
from certrotate.decide.holds import rate_limited_until as rate_limited_until
from certrotate.decide.holds import rollback_hold as rollback_hold
from certrotate.decide.holds import tag_value as tag_value
from certrotate.decide.naming import MAX_NAME_LENGTH as MAX_NAME_LENGTH
from certrotate.decide.naming import replacement_name as replacement_name
from certrotate.decide.policies import RotationDecision as RotationDecision
from certrotate.decide.policies import Verdict as Verdict
from certrotate.decide.policies import decide_rotation as decide_rotation
from certrotate.decide.policies import decide_with_window as decide_with_window
from certrotate.decide.renewal_time import ARI_MAX_RETRY as ARI_MAX_RETRY
from certrotate.decide.renewal_time import ARI_MIN_RETRY as ARI_MIN_RETRY
from certrotate.decide.renewal_time import LAST_RESORT_MIN as LAST_RESORT_MIN
from certrotate.decide.renewal_time import believed_schedule as believed_schedule
from certrotate.decide.renewal_time import clamp_retry as clamp_retry
from certrotate.decide.renewal_time import last_resort_time as last_resort_time
from certrotate.decide.renewal_time import lifetime_renewal_time as lifetime_renewal_time
from certrotate.decide.renewal_time import needs_renewal_info as needs_renewal_info
from certrotate.decide.renewal_time import same_pick as same_pick
from certrotate.decide.renewal_time import same_renewal_time as same_renewal_time
from certrotate.decide.renewal_time import schedule_from_lifetime as schedule_from_lifetime
from certrotate.decide.renewal_time import schedule_from_window as schedule_from_window
from certrotate.model import (
    ChallengeAnswer,
    ChallengeMethod,
    ChallengePlan,
    ChallengeRoute,
    ChangeKind,
    DnsRecord,
    Endpoint,
    EndpointChange,
    EndpointKind,
    EndpointSurvey,
    HostedZone,
    Http01Rule,
    HttpListener,
    KeyKind,
    KeySpec,
    ServerCertificate,
    Unsearched,
    parse_timestamp,
)
from certrotate.names import (
    CHALLENGE_TAG,
    KEY_TYPE_TAG,
    RENEWAL_TAG,
)

# --- renewal time: ARI (RFC 9773) and the lifetime rule ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenewalSchedule:
    """When to renew a certificate and when to ask again, as last learnt (kept in RENEWAL_TAG)."""

    source: str  # "ari": the CA's suggestedWindow; "lifetime": the CA could not answer
    window_start: datetime
    window_end: datetime
    renew_at: datetime
    next_ask: datetime
    # The certificate it was learnt for, where a tag can outlive it (an ACM re-import keeps the tags): its
    # NotAfter (learnt_for_value). Empty: IAM certificates, whose tags die with them.
    learnt_for: str = ""

    def tag_value(self) -> str:
        def iso(moment: datetime) -> str:
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

        value = (
            f"source={self.source} start={iso(self.window_start)} end={iso(self.window_end)} "
            f"at={iso(self.renew_at)} ask={iso(self.next_ask)}"
        )
        return f"{value} for={self.learnt_for}" if self.learnt_for else value

    def learnt_for_another(self, not_after: datetime) -> bool:
        """Whether it was learnt for another certificate than the one expiring at `not_after`."""
        return bool(self.learnt_for) and self.learnt_for != learnt_for_value(not_after)

    def describe(self) -> str:
        if self.source == "lifetime":
            return "the lifetime rule (the CA had no renewal window for it)"
        start, end = (f"{m:%Y-%m-%d %H:%M}Z" for m in (self.window_start, self.window_end))
        return f"the CA's renewal window {start} .. {end}"

    @classmethod
    def parse(cls, value: str | None) -> RenewalSchedule | None:
        """None when absent or unreadable (a hand-edited tag must not crash a scan: it is asked again)."""
        if not value:
            return None
        fields: Mapping[str, str] = dict(part.split("=", 1) for part in value.split() if "=" in part)
        moments = [parse_timestamp(fields.get(key)) for key in ("start", "end", "at", "ask")]
        if any(m is None for m in moments):
            return None
        start, end, at, ask = (m for m in moments if m is not None)
        source = fields.get("source", "ari")
        return cls(
            source if source in ("ari", "lifetime") else "ari",
            start,
            end,
            at,
            ask,
            learnt_for=fields.get("for", ""),
        )


def learnt_for_value(not_after: datetime) -> str:
    """What RenewalSchedule.learnt_for holds for a certificate expiring at `not_after`."""
    return not_after.strftime("%Y-%m-%dT%H:%M:%SZ")


def deduplication_id(certificate_name: str, now: datetime, purpose: str = "") -> str:
    """One rotation message per certificate per day (SQS FIFO deduplicates within its 5-minute window;
    a later duplicate finds the replacement and is skipped), and per `purpose` when one is given: a message
    for endpoints found still serving a replaced certificate is not the day's rotation message."""
    suffix = f"|{purpose}" if purpose else ""
    return hashlib.sha256(f"{certificate_name}|{now:%Y-%m-%d}{suffix}".encode()).hexdigest()


# --- keys ------------------------------------------------------------------------------------------------


# The values of the tag certrotate:key-type: the key types certrotate orders.
KEY_TYPES: dict[str, KeySpec] = {
    "rsa2048": KeySpec(KeyKind.RSA, 2048),
    "rsa3072": KeySpec(KeyKind.RSA, 3072),
    "rsa4096": KeySpec(KeyKind.RSA, 4096),
    "ec256": KeySpec(KeyKind.EC, 256),
    "ec384": KeySpec(KeyKind.EC, 384),
}

_RSA = frozenset(KeySpec(KeyKind.RSA, size) for size in (1024, 2048, 3072, 4096))
# The keys each kind of endpoint can serve from an IAM server certificate (1024-bit RSA is listed because an
# old certificate may hold one; certrotate never orders it). Sources:
# - CloudFront: "Requirements for using SSL/TLS certificates with CloudFront" (Key type, Size of the
#   certificate key) and ACM's "Prerequisites for importing ACM certificates": "CloudFront only supports
#   1024-bit RSA, 2048-bit RSA, 3072-bit RSA, 4096-bit RSA, and Elliptic Prime Curve 256-bit keys".
# - ALB/NLB: ELB's "SSL certificates for your Application Load Balancer" / "Server certificates for your
#   Network Load Balancer" (RSA 2048, 3072 and 4096 bits, and ECDSA) and the same ACM page: "Application
#   Load Balancer supports all of the algorithms available from ACM" (which include P-256 and P-384).
# - Classic Load Balancer: "SSL/TLS certificates for Classic Load Balancers" (create the key with OpenSSL:
#   RSA 2048 recommended, 1024 and 4096 supported; ECDSA on prime256v1); 3072 and P-384 are not named.
KEYS_ACCEPTED: dict[EndpointKind, frozenset[KeySpec]] = {
    EndpointKind.CLOUDFRONT: _RSA | {KeySpec(KeyKind.EC, 256)},
    EndpointKind.ELBV2_LISTENER: _RSA | {KeySpec(KeyKind.EC, 256), KeySpec(KeyKind.EC, 384)},
    EndpointKind.CLASSIC_LISTENER: _RSA - {KeySpec(KeyKind.RSA, 3072)} | {KeySpec(KeyKind.EC, 256)},
}
# A key some endpoint kind serves: what validation accepts on an issued certificate.
KEYS_ANY_ENDPOINT_ACCEPTS: frozenset[KeySpec] = frozenset().union(*KEYS_ACCEPTED.values())


def replacement_key(old: KeySpec) -> KeySpec:
    """A key of the same kind that every endpoint kind accepts: RSA 2048 unless the old one was larger;
    ECDSA P-256."""
    if old.kind is KeyKind.EC:
        return KeySpec(KeyKind.EC, 256)
    return KeySpec(KeyKind.RSA, 4096 if old.size > 2048 else 2048)


def requested_key(tags: Mapping[str, str], old: KeySpec) -> KeySpec | None:
    """The replacement's key: the tag certrotate:key-type's, else the old key's kind (replacement_key).
    None when the tag holds a value not in KEY_TYPES."""
    value = tags.get(KEY_TYPE_TAG, "").strip().lower()
    if not value:
        return replacement_key(old)
    return KEY_TYPES.get(value)


def endpoints_refusing(key: KeySpec, endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """The endpoints that cannot serve a certificate with this key."""
    return [e for e in endpoints if key not in KEYS_ACCEPTED[e.kind]]


# --- DNS-01 ----------------------------------------------------------------------------------------------


def challenge_record_name(dns_name: str) -> str:
    """`*.example.com` and `example.com` are both validated at `_acme-challenge.example.com`."""
    base = dns_name[2:] if dns_name.startswith("*.") else dns_name
    return f"_acme-challenge.{base.rstrip('.').lower()}"


def zone_for(name: str, zones: Iterable[HostedZone], *, allow_private: bool = False) -> HostedZone | None:
    """The hosted zone whose name is the longest suffix of `name` (public zones unless asked)."""
    name = name.rstrip(".").lower()
    best: HostedZone | None = None
    for zone in zones:
        if zone.private and not allow_private:
            continue
        if (name == zone.name or name.endswith("." + zone.name)) and (
            best is None or len(zone.name) > len(best.name)
        ):
            best = zone
    return best


# --- the names of a certificate: checked before any order -----------------------------------------------

MAX_DNS_NAME = 253  # RFC 1035 section 2.3.4 (255 octets on the wire: 253 characters written out)
MAX_LABEL = 63
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")  # letters, digits, inner hyphens (RFC 5890 LDH)


def dns_name_problems(names: Iterable[str]) -> list[str]:
    """Why each name a CA would refuse as a DNS name (`malformed`/`rejectedIdentifier`, which no retry
    fixes) is not one, checked before ordering: ASCII (an internationalised name is written as its
    A-labels), labels of 1-63 letters, digits and inner hyphens, at most 253 characters, no trailing dot, a
    wildcard only as the whole first label of a name with two more, IDNA A-labels that decode."""
    problems = []
    for name in names:
        why = _dns_name_problem(name)
        if why:
            problems.append(f"{name[:80]!r} {why}")
    return problems


def _dns_name_problem(name: str) -> str | None:
    if not name.isascii():
        return "is not ASCII: an internationalised name is written as its A-labels (xn--...)"
    if name.endswith("."):
        return "ends with a dot"
    if name in ("", "*") or name == "*.":
        return "is a bare wildcard" if name.startswith("*") else "is empty"
    if len(name) > MAX_DNS_NAME:
        return f"is longer than {MAX_DNS_NAME} characters"
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    if len(labels) < 2:
        return "has a single label: no public CA certifies it"
    for label in labels:
        if "*" in label:
            return "holds a wildcard that is not its whole first label"
        if not label:
            return "has an empty label"
        if len(label) > MAX_LABEL:
            return f"has a label longer than {MAX_LABEL} characters"
        if "_" in label:
            return "holds an underscore, which a certificate's DNS name may not"
        if not _LABEL.fullmatch(label):
            return f"has a label that is not letters, digits and inner hyphens: {label[:63]!r}"
        if label.startswith("xn--") and not _valid_a_label(label):
            return f"has a label that is not a valid IDNA A-label: {label!r}"
    if labels[-1].isdigit():
        return "ends in a numeric label: an IP address is not a DNS name"
    return None


def _valid_a_label(label: str) -> bool:
    import idna  # IDNA 2008 (RFC 5891); in the layer already, through requests

    try:
        return idna.encode(idna.decode(label)).decode() == label
    except (idna.IDNAError, UnicodeError, ValueError):
        return False


# --- which names an account may have renewed (ACCOUNT_DOMAINS) ------------------------------------------


@dataclass(frozen=True, slots=True)
class NamePolicy:
    """Which names a certificate of one account may be renewed for (CONTRACT.md, "Trust"). Anyone who may
    upload and tag a certificate in an account can put any name in it; certrotate orders a name only where
    the account is entitled to it. With `domains` (the account's ACCOUNT_DOMAINS entries) every name must
    equal one of them or lie under one; without, an account whose DNS-01 answers are written in another
    account's zones (`dns_account`, from DNS_ACCOUNTS) gets no name at all (fail closed); an account that
    answers in its own zones, with no entry, is not restricted (what it can answer it already controls)."""

    account: str = ""
    domains: tuple[str, ...] = ()
    dns_account: str | None = None  # None: the account's own Route 53

    def problems(self, names: Iterable[str]) -> list[str]:
        """Each refused name with the rule that refuses it (empty: every name is authorised)."""
        wanted = [n.rstrip(".").lower() for n in names]
        if self.domains:
            allowed = ", ".join(self.domains)
            return [
                f"{name} is not authorised for account {self.account}: ACCOUNT_DOMAINS gives it {allowed} "
                "(a name must equal one of them or lie under one)"
                for name in wanted
                if not any(_within(name, domain) for domain in self.domains)
            ]
        if self.dns_account is not None and wanted:
            return [
                f"{', '.join(wanted)}: account {self.account} has no ACCOUNT_DOMAINS entry and its DNS-01 "
                f"answers are written in account {self.dns_account}'s Route 53 zones (DNS_ACCOUNTS): no "
                "name is authorised for it (fail closed)"
            ]
        return []


def _within(name: str, domain: str) -> bool:
    """`name` equals `domain` or lies under it; a wildcard by the name it stands under."""
    base = name[2:] if name.startswith("*.") else name
    return base == domain or base.endswith("." + domain)


# --- choosing how each name is validated -----------------------------------------------------------------

CHALLENGE_METHODS = {method.value: method for method in ChallengeMethod}
# An ALB host-header condition value "can be up to 128 characters in length" (ALB guide, host conditions).
MAX_HOST_CONDITION = 128


def requested_challenge_method(tags: Mapping[str, str]) -> tuple[ChallengeMethod | None, str]:
    """The method the tag certrotate:challenge forces (None: choose per name), and the raw value when it
    names no method (else "")."""
    raw = tags.get(CHALLENGE_TAG, "").strip().lower()
    if not raw:
        return None, ""
    method = CHALLENGE_METHODS.get(raw)
    return (method, "") if method else (None, raw)


def challenge_zone(name: str, zones: Iterable[HostedZone]) -> HostedZone | None:
    """The zone that would hold `name`'s DNS-01 TXT record (a zone delegated for _acme-challenge.<name>
    counts), None when there is none."""
    return zone_for(challenge_record_name(name), zones)


def needs_http01(names: Iterable[str], forced: ChallengeMethod | None, zones: Sequence[HostedZone]) -> bool:
    """Whether choosing needs the port-80 listeners at all (reading them costs ELB calls)."""
    if forced is ChallengeMethod.DNS_01:
        return False
    return forced is ChallengeMethod.HTTP_01 or any(challenge_zone(n, zones) is None for n in names)


def plan_challenges(
    certificate: str,
    names: Iterable[str],
    *,
    forced: ChallengeMethod | None,
    zones: Sequence[HostedZone],
    listeners: Sequence[HttpListener],
    left_by: Sequence[str] = (),
) -> tuple[ChallengePlan, list[str]]:
    """Each name's route: DNS-01 where a public Route 53 zone holds it, else HTTP-01 on every port-80
    listener of the ALBs serving the certificate (the CA reaches whichever the name points at); `forced`
    (the tag) takes one method for all. Wildcards only by DNS-01 (RFC 8555 section 7.1.3).
    Returns the plan and, for each name no method can answer, why (then nothing may be ordered)."""
    routes: list[ChallengeRoute] = []
    problems: list[str] = []
    http_listeners = tuple(dict.fromkeys(listeners))
    for raw in names:
        name = raw.rstrip(".").lower()
        wildcard = name.startswith("*.")
        zone = challenge_zone(name, zones)
        if forced is ChallengeMethod.DNS_01 or (forced is None and zone is not None):
            if zone is None:
                problems.append(
                    f"{name}: {CHALLENGE_TAG}=dns-01 but no public Route 53 hosted zone holds "
                    f"{challenge_record_name(name)}"
                )
            else:
                routes.append(ChallengeRoute(name, ChallengeMethod.DNS_01, zone=zone))
        elif wildcard:
            why = f"{CHALLENGE_TAG}=http-01 cannot" if forced else "HTTP-01 cannot"
            problems.append(
                f"{name} is a wildcard: it needs DNS-01 ({why} validate a wildcard), and no public Route 53 "
                f"hosted zone holds {challenge_record_name(name)}"
            )
        elif http_listeners and len(name) > MAX_HOST_CONDITION:
            problems.append(
                f"{name} is longer than the {MAX_HOST_CONDITION} characters an ALB host-header condition "
                "holds: HTTP-01 on the load balancer cannot answer it, and no public Route 53 hosted zone "
                f"holds {challenge_record_name(name)}"
            )
        elif http_listeners:
            routes.append(ChallengeRoute(name, ChallengeMethod.HTTP_01, listeners=http_listeners))
        elif forced is ChallengeMethod.HTTP_01:
            problems.append(
                f"{name}: {CHALLENGE_TAG}=http-01 but no Application Load Balancer serving the certificate "
                "has an HTTP listener on port 80"
            )
        else:
            problems.append(
                f"no public Route 53 hosted zone holds {name!r} (DNS-01) and no Application Load Balancer "
                "serving the certificate has an HTTP listener on port 80 (HTTP-01)"
            )
    return ChallengePlan(certificate, tuple(routes), tuple(o for o in left_by if o != certificate)), problems


def dns_records(plan: ChallengePlan, answers: Iterable[ChallengeAnswer]) -> list[DnsRecord]:
    """The TXT record sets answering the DNS-01 answers: an apex and its wildcard share one set."""
    values: dict[str, list[str]] = {}
    zones: dict[str, str] = {}
    for answer in answers:
        route = plan.route(answer.name)
        if route.method is not ChallengeMethod.DNS_01 or route.zone is None:
            continue
        record = challenge_record_name(answer.name)
        values.setdefault(record, []).append(answer.validation)
        zones[record] = route.zone.zone_id
    return [DnsRecord(zones[r], r, tuple(dict.fromkeys(v))) for r, v in values.items()]


def http01_rules(plan: ChallengePlan, answers: Iterable[ChallengeAnswer]) -> list[Http01Rule]:
    """The listener rules answering the HTTP-01 answers: one per name on each port-80 listener of its
    route."""
    return [
        Http01Rule(plan.certificate, listener, answer.name, answer.token, answer.validation)
        for answer in answers
        if (route := plan.route(answer.name)).method is ChallengeMethod.HTTP_01
        for listener in route.listeners
    ]


# --- endpoints -------------------------------------------------------------------------------------------


def reference_for(endpoint: Endpoint, arn: str, certificate_id: str) -> str:
    """Load balancers refer to a certificate by ARN, CloudFront by its ID."""
    return certificate_id if endpoint.kind is EndpointKind.CLOUDFRONT else arn


def endpoints_serving(endpoints: Iterable[Endpoint], arn: str, certificate_id: str) -> list[Endpoint]:
    return [e for e in endpoints if e.serves(reference_for(e, arn, certificate_id))]


def plan_endpoint_changes(
    endpoints: Iterable[Endpoint], *, old_arn: str, old_id: str, new_arn: str, new_id: str
) -> list[EndpointChange]:
    """The changes that make every endpoint serve the new certificate wherever it served the old one.

    A default certificate is swapped in one call. In an SNI list the new one is added before the old one is
    removed, so a client never meets a listener without a matching certificate. Everything else on the
    endpoint stays as it is. Endpoints already converted produce no change (reruns are no-ops).
    """
    changes: list[EndpointChange] = []
    for endpoint in endpoints:
        old = reference_for(endpoint, old_arn, old_id)
        new = reference_for(endpoint, new_arn, new_id)
        if endpoint.default_certificate == old:
            changes.append(EndpointChange(endpoint, ChangeKind.SET_DEFAULT, new))
        if old in endpoint.sni_certificates:
            if new not in endpoint.sni_certificates and endpoint.default_certificate != new:
                changes.append(EndpointChange(endpoint, ChangeKind.ADD_SNI, new))
            changes.append(EndpointChange(endpoint, ChangeKind.REMOVE_SNI, old))
    return changes


def change_applied(change: EndpointChange, after: Endpoint) -> bool:
    """Whether an endpoint read back after a change shows the change took effect."""
    if change.kind is ChangeKind.SET_DEFAULT:
        return after.default_certificate == change.certificate
    if change.kind is ChangeKind.ADD_SNI:
        return change.certificate in after.sni_certificates
    return change.certificate not in after.sni_certificates


def others_unchanged(before: Endpoint, after: Endpoint, touched: Sequence[str]) -> bool:
    """Certificates that the rotation did not touch are still there, exactly as before."""
    keep = set(touched)
    before_rest = {c for c in (before.default_certificate, *before.sni_certificates) if c and c not in keep}
    after_rest = {c for c in (after.default_certificate, *after.sni_certificates) if c and c not in keep}
    return before_rest == after_rest


def uncovered_aliases(aliases: Iterable[str], dns_names: Iterable[str]) -> list[str]:
    """The aliases (CloudFront alternate domain names) that no certificate name covers; a wildcard covers
    exactly one label (`*.example.com` covers `www.example.com`, not `example.com` nor `a.b.example.com`)."""
    names = {n.rstrip(".").lower() for n in dns_names}
    missing = []
    for alias in aliases:
        wanted = alias.rstrip(".").lower()
        parent = wanted.split(".", 1)[1] if "." in wanted else ""
        if wanted in names or (parent and f"*.{parent}" in names and not wanted.startswith("*.")):
            continue
        missing.append(alias)
    return missing


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


# --- the scan's endpoint index ---------------------------------------------------------------------------

# How old the scan's list of endpoints serving a certificate may be when a rotation uses it instead of a
# search of every region. Older (a message that waited long on the queue): the rotation searches afresh.
ENDPOINT_INDEX_MAX_AGE = timedelta(hours=6)
# Beyond this the rotation searches itself: ~270 bytes an endpoint, and a SendMessageBatch of 10 messages
# must stay under 256 KiB in all.
ENDPOINT_INDEX_MAX_ENTRIES = 50


@dataclass(frozen=True, slots=True)
class KnownEndpoints:
    """The endpoints a search at `seen_at` found serving a certificate (where to look, not what they hold:
    each is read afresh right before it is changed)."""

    endpoints: tuple[Endpoint, ...]
    seen_at: datetime

    def usable(self, now: datetime) -> bool:
        return timedelta(0) <= now - self.seen_at <= ENDPOINT_INDEX_MAX_AGE

    def as_message(self) -> dict[str, object]:
        return {
            "seen_at": self.seen_at.isoformat(),
            "serving": [
                {
                    "kind": e.kind.value,
                    "region": e.region,
                    "resource_id": e.resource_id,
                    "load_balancer": e.load_balancer,
                }
                for e in self.endpoints
            ],
        }


def known_endpoints(
    survey: EndpointSurvey, arn: str, certificate_id: str, seen_at: datetime
) -> KnownEndpoints | None:
    """What a rotation of this certificate may use instead of its own search, if anything: only a complete
    survey (every region answered) and not too many endpoints to carry in a message."""
    if survey.unsearched:
        return None
    serving = endpoints_serving(survey.endpoints, arn, certificate_id)
    if len(serving) > ENDPOINT_INDEX_MAX_ENTRIES:
        return None
    return KnownEndpoints(tuple(serving), seen_at)


# How old the scan index's record of where a certificate is served (the last complete search of a scan) may
# be when a rotation handed no endpoints (a direct invocation, a message without them) checks it instead of
# searching every region: a daily schedule's interval with slack (ScanMissingHours' default). Older, or
# empty: it searches (docs/design.md, "A direct rotation reads the scan's endpoints").
ENDPOINT_RECORD_MAX_AGE = timedelta(hours=26)


def record_to_check(record: KnownEndpoints | None, now: datetime) -> KnownEndpoints | None:
    """The scan index's record, when a rotation should check it rather than search: fresh enough, and naming
    at least one endpoint (a record of none confirms nothing: it may have been attached since)."""
    if record is None or not record.endpoints:
        return None
    return record if timedelta(0) <= now - record.seen_at <= ENDPOINT_RECORD_MAX_AGE else None


def confirmed_endpoints(
    reads: Sequence[Endpoint | None], arn: str, certificate_id: str
) -> list[Endpoint] | None:
    """A record's endpoints as read afresh, when every one still serves the certificate; None when one is gone
    or serves it no more: the record is out of date, and so may be what it leaves out (search instead)."""
    confirmed: list[Endpoint] = []
    for endpoint in reads:
        if endpoint is None or not endpoint.serves(reference_for(endpoint, arn, certificate_id)):
            return None
        confirmed.append(endpoint)
    return confirmed


def endpoint_from_message(kind: str, region: str, resource_id: str, load_balancer: str) -> Endpoint:
    """A place to look, from a message: what it serves is unknown until it is read."""
    return Endpoint(EndpointKind(kind), region, resource_id, load_balancer, default_certificate=None)


# --- scan ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanPlan:
    expiring: tuple[ServerCertificate, ...]  # managed, not replaced, within the renewal window
    to_enqueue: tuple[ServerCertificate, ...]  # expiring ones neither held nor rate-limited
    held_back: tuple[ServerCertificate, ...]  # expiring, but held (a permanent failure) or rate-limited
    pending_retirement: tuple[ServerCertificate, ...]  # replaced, not deleted yet
    stalled: tuple[ServerCertificate, ...]  # replaced, but the rotation died before it finished repointing
    unmanaged: tuple[ServerCertificate, ...]
    held: tuple[HeldCertificate, ...] = ()  # every managed one held back now, due or not, and why
    # Held by a rollback until an operator forces a rotation (planning.rollback_hold says why): never sent,
    # resumed or retired, due or not.
    rolled_back: tuple[ServerCertificate, ...] = ()
    # Certificates that could not be planned (an error no parser foresaw): reported, and the others planned.
    unplanned: tuple[tuple[ServerCertificate, str], ...] = ()


def plan_scan(
    certificates: Sequence[ServerCertificate],
    *,
    now: datetime,
    renew_before_days: int | None,
    lease_seconds: int,
    not_before: Mapping[str, datetime] | None = None,
    hold_context: str | None = None,
) -> ScanPlan:
    """`not_before`: the certificates' notBefore by name, where known, for the lifetime rule of those whose
    renewal time is not learnt (the scan: out of time, or a body it could not read; it passes the upload date
    where it knows no notBefore). `hold_context`: Settings.hold_context, to
    tell whether a deterministic refusal's inputs changed (None: holds stand until their time)."""
    by_name = {c.name: c for c in certificates}
    known_not_before = not_before or {}
    expiring: list[ServerCertificate] = []
    to_enqueue: list[ServerCertificate] = []
    held_back: list[ServerCertificate] = []
    pending: list[ServerCertificate] = []
    stalled: list[ServerCertificate] = []
    unmanaged: list[ServerCertificate] = []
    held: list[HeldCertificate] = []
    rolled_back: list[ServerCertificate] = []
    unplanned: list[tuple[ServerCertificate, str]] = []
    for cert in certificates:
        if not cert.managed:
            unmanaged.append(cert)
            continue
        # One odd certificate never stops the others: whatever its tags hold, it is decided alone.
        try:
            inputs = None if hold_context is None else inputs_fingerprint(cert, hold_context)
            rollback = rollback_hold(cert)
            hold = held_now(cert, now, inputs)
            replaced = cert.replaced_by
            due = not replaced and is_due(cert, now, renew_before_days, known_not_before.get(cert.name))
        except Exception as error:  # every tag parser is total; this is the net under them
            unplanned.append((cert, f"{type(error).__name__}: {error}"))
            continue
        if rollback is not None:
            rolled_back.append(cert)
        elif hold is not None:
            held.append(hold)
        if replaced:
            pending.append(cert)
            replacement = by_name.get(replaced)
            uploaded = replacement.upload_date if replacement else None
            if (
                cert.replacement_served_since is None
                and replacement is not None
                and (uploaded is None or now - uploaded > timedelta(seconds=lease_seconds))
                and active_hold(cert, now, inputs) is None  # it failed for good: the operator fixes it first
                and rollback is None  # rolled back: resuming would undo the rollback
            ):
                stalled.append(cert)
            continue
        if not due:
            continue
        # Held ones are still expiring (the contract's `expiring`, and CertificatesExpiring, stay honest);
        # they are just not sent to the queue until the hold passes.
        expiring.append(cert)
        (held_back if hold is not None or rollback is not None else to_enqueue).append(cert)
    return ScanPlan(
        tuple(expiring),
        tuple(to_enqueue),
        tuple(held_back),
        tuple(pending),
        tuple(stalled),
        tuple(unmanaged),
        tuple(held),
        tuple(rolled_back),
        tuple(unplanned),
    )


# --- the scan's tag index: whose tags to read afresh --------------------------------------------------------


def reason_to_read_tags(
    certificate: ServerCertificate,
    *,
    now: datetime,
    renew_before_days: int | None,
    not_before: datetime | None,
) -> str | None:
    """Why a scan must read this certificate's tags afresh rather than trust the copy it kept (the certificate
    carries the kept tags), or None: it could not act now whatever its tags say today.

    A certificate can act when a rotation could be sent for it or it could be retired: due by the operator's
    floor or the lifetime rule whatever the kept managed flag says (an operator may have opted it in or out
    since), due by its kept renewal time, a hold or Retry-After that has passed, or replaced (pending
    retirement, or a rotation to resume). Everything certrotate writes on a certificate (hold, Retry-After,
    replaced-by, served-since) it writes while that certificate is due, so those changes are read afresh too.
    `not_before` is the certificate's, when known (else its upload date stands in for it)."""
    if certificate.replaced_by:
        return "replaced: pending retirement"
    if certificate.expiration <= now:
        return "expired"
    for what, until in (("hold", certificate.held_until), ("retry-after", certificate.retry_after)):
        if until is not None and until <= now:
            return f"its {what} has passed"
    if certificate.held_inputs is not None:
        # Held until its inputs change: the operator's tags are among them, so they are read afresh.
        return "held until its inputs change"
    if renew_before_days is not None and certificate.expiration - timedelta(days=renew_before_days) <= now:
        return f"within RENEW_BEFORE_DAYS={renew_before_days}"
    schedule = RenewalSchedule.parse(certificate.tags.get(RENEWAL_TAG)) if certificate.managed else None
    if schedule is not None:  # the renewal time the scan learnt decides, as it does in renewal_due
        return "its renewal time has come" if schedule.renew_at <= now else None
    start = not_before or certificate.upload_date
    if start is not None and lifetime_renewal_time(start, certificate.expiration) <= now:
        return "due by the lifetime rule"
    return None


def could_act_now(
    certificate: ServerCertificate,
    *,
    now: datetime,
    renew_before_days: int | None,
    not_before: datetime | None,
) -> bool:
    return (
        reason_to_read_tags(certificate, now=now, renew_before_days=renew_before_days, not_before=not_before)
        is not None
    )
