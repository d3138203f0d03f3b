"""Pure decisions: which certificates are due, what the replacement is called and made of, which
endpoints change and how, and when a replaced certificate may go. No I/O, no boto3; time is an argument."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from certrotate.errors import RATE_LIMIT_MAX_WAIT
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
    ProgressRecord,
    ServerCertificate,
    Unsearched,
    parse_timestamp,
)
from certrotate.names import (
    CHALLENGE_TAG,
    KEY_TYPE_TAG,
    OPERATOR_TAGS,
    RENEWAL_TAG,
    REPLACED_BY_TAG,
    SERVED_SINCE_TAG,
    name_tag_value,
)
from certrotate.scan.messages import deduplication_id as deduplication_id
from certrotate.scan.plan import ScanPlan as ScanPlan
from certrotate.scan.plan import plan_scan as plan_scan
from certrotate.scan.tags import could_act_now as could_act_now
from certrotate.scan.tags import reason_to_read_tags as reason_to_read_tags

MAX_NAME_LENGTH = 128  # IAM's limit on server certificate names
_SUFFIX = re.compile(r"-cr[0-9a-f]{8}$")


def days_to_expiry(expiration: datetime, now: datetime) -> float:
    return round((expiration - now).total_seconds() / 86_400, 2)


def is_due(
    certificate: ServerCertificate,
    now: datetime,
    renew_before_days: int | None,
    not_before: datetime | None = None,
) -> bool:
    return renewal_due(certificate, now, renew_before_days, not_before)[0]


def renewal_due(
    certificate: ServerCertificate,
    now: datetime,
    renew_before_days: int | None,
    not_before: datetime | None = None,
) -> tuple[bool, str, str]:
    """Whether a certificate is due, why, and which rule says so: "RENEW_BEFORE_DAYS=N", "ARI window",
    "lifetime rule" or "last resort". Each applicable rule gives a time; the earliest decides.
    `RENEW_BEFORE_DAYS` is the operator's floor (within it a certificate is always due); the renewal time the
    scan learnt (the CA's ARI window, or the lifetime rule; kept in RENEWAL_TAG) may come earlier; without
    one, the lifetime rule when `not_before` is known; under all of them the last resort (last_resort_time),
    which no tag can move."""
    days = days_to_expiry(certificate.expiration, now)
    candidates: list[tuple[datetime, str, str, str]] = []  # (time, rule, reason when due, reason when not)
    if renew_before_days is not None:
        candidates.append(
            (
                certificate.expiration - timedelta(days=renew_before_days),
                f"RENEW_BEFORE_DAYS={renew_before_days}",
                f"expires in {days} days (threshold {renew_before_days})",
                f"expires in {days} days, not within {renew_before_days}",
            )
        )
    schedule = believed_schedule(certificate)
    if schedule is not None:
        at = f"{schedule.renew_at:%Y-%m-%d %H:%M}Z"
        candidates.append(
            (
                schedule.renew_at,
                "ARI window" if schedule.source == "ari" else "lifetime rule",
                f"{schedule.describe()} says renew from {at}",
                f"{schedule.describe()} says renew at {at} ({days} days to expiry)",
            )
        )
    elif not_before is not None:
        renew_at = lifetime_renewal_time(not_before, certificate.expiration)
        at = f"{renew_at:%Y-%m-%d %H:%M}Z"
        candidates.append(
            (
                renew_at,
                "lifetime rule",
                f"the lifetime rule says renew from {at} ({days} days to expiry)",
                f"the lifetime rule says renew at {at} ({days} days to expiry)",
            )
        )
    last_resort = last_resort_time(not_before or certificate.upload_date, certificate.expiration)
    candidates.append(
        (
            last_resort,
            "last resort",
            f"expires in {days} days: in the last tenth of its lifetime, due whatever its renewal tag says",
            f"expires in {days} days, no renewal time known yet (the next scan learns it)",
        )
    )
    when, rule, due_reason, not_due_reason = min(candidates, key=lambda c: c[0])
    # The floor is "fewer than N days left": due strictly after its time; a renewal time is due from it on.
    due = now > when if rule.startswith("RENEW_BEFORE_DAYS") else now >= when
    return (True, due_reason, rule) if due else (False, not_due_reason, rule)


# --- renewal time: ARI (RFC 9773) and the lifetime rule ---------------------------------------------------

ARI_MIN_RETRY = timedelta(minutes=1)  # RFC 9773 section 4.3: clients clamp Retry-After to sane bounds
ARI_MAX_RETRY = timedelta(days=1)


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


def clamp_retry(next_ask: datetime, now: datetime) -> datetime:
    return min(max(next_ask, now + ARI_MIN_RETRY), now + ARI_MAX_RETRY)


def schedule_from_window(
    start: datetime, end: datetime, *, retry_after: datetime, now: datetime, random_fraction: float
) -> RenewalSchedule:
    """RFC 9773 section 4.2: a random point in the suggested window, or now when the window has begun (or
    lies wholly in the past: what a CA does when it must revoke). Ask again after Retry-After, clamped."""
    renew_at = now if start <= now else start + (end - start) * min(max(random_fraction, 0.0), 1.0)
    return RenewalSchedule("ari", start, end, renew_at, clamp_retry(retry_after, now))


# Whatever a renewal tag says, a certificate is due in the last tenth of its lifetime, and at least this long
# before it expires (the daily scan must see it in time), but never before half its lifetime: the tag is a
# claim anyone allowed to tag can write.
LAST_RESORT_MIN = timedelta(days=2)
_UNKNOWN_LIFETIME = timedelta(days=90)


def last_resort_time(not_before: datetime | None, not_after: datetime) -> datetime:
    """The backstop under every other rule (renewal_due): it decides only when nothing says earlier, e.g. a
    forged `certrotate:renewal` with a time in the far future."""
    lifetime = not_after - not_before if not_before is not None else _UNKNOWN_LIFETIME
    # Never before half the lifetime (the lifetime rule's earliest): a very short certificate is not born due.
    return not_after - min(max(lifetime / 10, LAST_RESORT_MIN), lifetime / 2)


def believed_schedule(certificate: ServerCertificate) -> RenewalSchedule | None:
    """The kept renewal time, unless it cannot be this certificate's: a renewal at or after its expiry (no CA
    window nor the lifetime rule gives one) is asked again, as an unreadable tag is."""
    schedule = RenewalSchedule.parse(certificate.tags.get(RENEWAL_TAG))
    if schedule is None or schedule.renew_at >= certificate.expiration:
        return None
    return schedule


def lifetime_renewal_time(not_before: datetime, not_after: datetime) -> datetime:
    """Without ARI: renew with a third of the lifetime left, half of it for lifetimes under 10 days
    (certbot 4's rule: a 6-day certificate renews after 3 days, a 90-day one after 60)."""
    lifetime = not_after - not_before
    return not_after - (lifetime / 2 if lifetime < timedelta(days=10) else lifetime / 3)


def schedule_from_lifetime(
    not_before: datetime, not_after: datetime, *, next_ask: datetime, now: datetime
) -> RenewalSchedule:
    """The lifetime rule, learnt again at `next_ask`: after the CA's Retry-After when it offers ARI but had no
    window for the certificate, or at the renewal time itself when the CA offers no ARI (nothing to learn)."""
    renew_at = lifetime_renewal_time(not_before, not_after)
    return RenewalSchedule("lifetime", renew_at, not_after, renew_at, max(next_ask, now + ARI_MIN_RETRY))


def same_pick(previous: RenewalSchedule | None, learnt: RenewalSchedule, now: datetime) -> RenewalSchedule:
    """The CA's answer, keeping the time picked in its window last time when the window is the same (the
    random point is picked once per window, so asking again does not move it; a moved window is picked
    afresh). A window that has begun is renewed in now, as schedule_from_window says."""
    if (
        previous is None
        or previous.source != "ari"
        or (previous.window_start, previous.window_end) != (learnt.window_start, learnt.window_end)
        or learnt.renew_at == now
    ):
        return learnt
    return replace(learnt, renew_at=previous.renew_at)


def same_renewal_time(previous: RenewalSchedule | None, learnt: RenewalSchedule) -> bool:
    """Whether a schedule says what the kept one says, but for when to ask again."""
    return previous is not None and (
        previous.source,
        previous.window_start,
        previous.window_end,
        previous.renew_at,
        previous.learnt_for,
    ) == (learnt.source, learnt.window_start, learnt.window_end, learnt.renew_at, learnt.learnt_for)


def needs_renewal_info(certificate: ServerCertificate, now: datetime, renew_before_days: int | None) -> bool:
    """Whether the scan should learn this certificate's renewal time now: never learnt, unreadable, or the
    CA's Retry-After has passed. Not for expired certificates (RFC 9773 section 4.3: never asked) nor for
    those the operator's floor already makes due."""
    if not certificate.managed or certificate.replaced_by or certificate.expiration <= now:
        return False
    if renew_before_days is not None and certificate.expiration - now < timedelta(days=renew_before_days):
        return False
    schedule = believed_schedule(certificate)
    return schedule is None or now >= schedule.next_ask


# --- naming ----------------------------------------------------------------------------------------------


def replacement_name(old_name: str, old_certificate_id: str) -> str:
    """The replacement's name: the old name's stem plus a suffix derived from the old certificate's ID.

    Deterministic, so a rerun after a crash finds the replacement it already uploaded; unique per old
    certificate, so rotating the replacement later yields a different name; within IAM's 128 characters.
    """
    stem = _SUFFIX.sub("", old_name)
    digest = hashlib.sha256(old_certificate_id.encode()).hexdigest()[:8]
    suffix = f"-cr{digest}"
    return stem[: MAX_NAME_LENGTH - len(suffix)] + suffix


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


# --- hold-off after a permanent failure ------------------------------------------------------------------

FIRST_HOLD = timedelta(hours=24)
LONGEST_HOLD = timedelta(days=7)  # Let's Encrypt's duplicate-certificate window
TAG_VALUE_LIMIT = 256
_TAG_VALUE_EXTRA = frozenset("_.:/=+-@")


def hold_duration(failures: int) -> timedelta:
    """24 hours after the first permanent failure in a row, doubling with each further one, at most 7 days."""
    doublings = min(max(failures - 1, 0), 8)  # 2**8 days is past the cap already
    return min(FIRST_HOLD * (1 << doublings), LONGEST_HOLD)


# The end of a hold after a deterministic refusal: none in time. It ends when the inputs change (its
# fingerprint, HELD_INPUTS_TAG, no longer matches) or with force.
# No end in time, yet a date every reader parses (model.parse_timestamp refuses years from 9000: a grace
# period added to them would overflow).
UNTIL_INPUTS_CHANGE = datetime(8999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Hold:
    until: datetime
    reason: str
    failures: int
    inputs: str = ""  # the inputs' fingerprint of a deterministic refusal ("": the hold ends in time)


def hold_after_failure(
    certificate: ServerCertificate, reason: str, now: datetime, *, inputs: str | None = None
) -> Hold:
    """The hold to record after a permanent failure: one failure in a row more than the certificate has.
    `inputs` (inputs_fingerprint) for a deterministic refusal: held until they change, not for a time."""
    failures = certificate.failures + 1
    if inputs:
        return Hold(UNTIL_INPUTS_CHANGE, tag_value(reason), failures, inputs)
    return Hold(now + hold_duration(failures), tag_value(reason), failures)


def inputs_fingerprint(certificate: ServerCertificate, context: str) -> str:
    """What a deterministic refusal depends on, hashed: the certificate (its ID and expiry: an ACM re-import
    keeps the ID, not the expiry), the operator's tags (profile, key type, challenge method) and `context`
    (the CA and ACME_PROFILE: Settings.hold_context). Any change may change the outcome: the hold ends."""
    parts = [
        certificate.certificate_id,
        certificate.expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        *(certificate.tags.get(tag, "").strip().lower() for tag in OPERATOR_TAGS),
        context,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def tag_value(text: str) -> str:
    """`text` in IAM's tag-value characters ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*), at most 256 of them: anything
    else becomes a space (IAM refuses the whole call otherwise; `,` is the usual culprit)."""
    kept = "".join(c if unicodedata.category(c)[0] in "LZN" or c in _TAG_VALUE_EXTRA else " " for c in text)
    return " ".join(kept.split())[:TAG_VALUE_LIMIT].rstrip()


def rollback_hold(certificate: ServerCertificate) -> str | None:
    """Why a certificate is held by a rollback, if it is: the replaced one served again (until an operator
    rotates it with force: back onto its replacement, or a new one if that was deleted), or the replacement
    that was rolled back (held with it)."""
    if certificate.rolled_back_from:
        at = certificate.rolled_back_at
        when = f" at {at.isoformat()}" if at else ""
        return (
            f"rolled back from {certificate.rolled_back_from}{when}: held until rotated with force=true "
            f"(serves {certificate.rolled_back_from} again, or a new certificate once that one is deleted)"
        )
    if certificate.rolled_back_to:
        return (
            f"rolled back to {certificate.rolled_back_to}: held until {certificate.rolled_back_to} is "
            "rotated with force=true"
        )
    return None


def active_hold(certificate: ServerCertificate, now: datetime, inputs: str | None = None) -> datetime | None:
    """When the hold after a permanent failure ends, if it has not yet. `inputs`: the certificate's
    inputs_fingerprint now; a deterministic refusal's hold ends once they differ from those it was held for
    (None: not known to the caller; the hold then stands until its time)."""
    until = certificate.held_until
    if until is None or until <= now:
        return None
    held_for = certificate.held_inputs
    if held_for is not None and inputs is not None and held_for != inputs:
        return None  # an input changed: the refusal is no longer certain
    return until


# --- rotation decision -----------------------------------------------------------------------------------


class Verdict(StrEnum):
    ISSUE = "issue"  # order a replacement
    RESUME = "resume"  # a replacement exists: finish repointing and retirement, never order again
    NOT_DUE = "not-due"
    RATE_LIMITED = "rate-limited"
    HELD = "held"  # a permanent failure's hold-off has not passed (force overrides it)
    ROLLED_BACK = "rolled-back"  # an operator rolled its rotation back: nothing until force


@dataclass(frozen=True, slots=True)
class RotationDecision:
    verdict: Verdict
    reason: str
    replacement_name: str
    source: str | None = (
        None  # the renewal rule that decided (RENEW_BEFORE_DAYS=N, ARI window, lifetime rule)
    )


def decide_rotation(
    certificate: ServerCertificate,
    existing_replacement: ServerCertificate | None,
    *,
    now: datetime,
    renew_before_days: int | None,
    force: bool,
    not_before: datetime | None = None,
    inputs: str | None = None,
) -> RotationDecision:
    """What a rotation of a managed certificate should do. `existing_replacement` is the certificate at the
    deterministic replacement name, if one exists (the caller checks it replaces this one). `inputs`: the
    certificate's inputs_fingerprint now (see active_hold)."""
    name = replacement_name(certificate.name, certificate.certificate_id)
    rollback = rollback_hold(certificate)
    if rollback is not None and not force:
        # Before everything else: a rolled-back certificate may still carry replaced-by (a rollback that
        # died half way), and a resume would put the rejected replacement back on the endpoints.
        return RotationDecision(Verdict.ROLLED_BACK, rollback, certificate.rolled_back_from or name)
    held_until = active_hold(certificate, now, inputs)
    if held_until is not None and not force:
        until = (
            "its inputs change (the certificate, its tags certrotate:profile, key-type, challenge, the CA, "
            "ACME_PROFILE)"
            if held_until == UNTIL_INPUTS_CHANGE
            else held_until.isoformat()
        )
        return RotationDecision(
            Verdict.HELD,
            f"held until {until} after a failure no retry fixes "
            f"({certificate.held_reason or 'no reason recorded'}); force=true overrides",
            certificate.replaced_by or name,
        )
    if certificate.replaced_by:
        return RotationDecision(
            Verdict.RESUME, f"already replaced by {certificate.replaced_by}", certificate.replaced_by
        )
    if existing_replacement is not None:
        return RotationDecision(Verdict.RESUME, f"replacement {name} was uploaded by an earlier run", name)
    retry_after = rate_limited_until(certificate, now)
    if retry_after is not None:
        return RotationDecision(
            Verdict.RATE_LIMITED,
            f"the ACME CA asked not to order again before {retry_after.isoformat()}",
            name,
        )
    days = days_to_expiry(certificate.expiration, now)
    due, why, source = renewal_due(certificate, now, renew_before_days, not_before)
    if due:
        return RotationDecision(Verdict.ISSUE, why, name, source)
    if force:
        return RotationDecision(Verdict.ISSUE, f"forced ({days} days to expiry)", name, "force")
    return RotationDecision(Verdict.NOT_DUE, why, name, source)


def decide_with_window(
    decision: RotationDecision, window_start: datetime, window_end: datetime, now: datetime
) -> RotationDecision:
    """A decision of "not due" revisited with the CA's renewal window as asked just now (a message of the
    renewal-info re-check says the CA moved it): due when the window has begun, as schedule_from_window says.
    Only "not due" changes: a hold, the CA's Retry-After or a replacement decide as before."""
    if decision.verdict is not Verdict.NOT_DUE or window_start > now:
        return decision
    start, end = (f"{m:%Y-%m-%d %H:%M}Z" for m in (window_start, window_end))
    return RotationDecision(
        Verdict.ISSUE,
        f"the CA's renewal window {start} .. {end} has begun (asked now)",
        decision.replacement_name,
        "ARI window",
    )


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


# --- claims: what a bookkeeping tag says, and whether it is proven ---------------------------------------

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
class HeldCertificate:
    certificate: ServerCertificate
    until: datetime
    reason: str
    permanent: bool  # a permanent failure's hold; False: the CA's Retry-After


def rate_limited_until(certificate: ServerCertificate, now: datetime) -> datetime | None:
    """Until when the CA asked not to order again for this certificate, if it still does, believably."""
    retry_after = certificate.retry_after
    if retry_after is None or retry_after <= now or retry_after > now + RATE_LIMIT_MAX_WAIT:
        return None
    return retry_after


def held_now(
    certificate: ServerCertificate, now: datetime, inputs: str | None = None
) -> HeldCertificate | None:
    """Why and until when nothing may be ordered (or resumed) for a certificate, if so (`inputs`: see
    active_hold)."""
    hold = active_hold(certificate, now, inputs)
    limited = rate_limited_until(certificate, now)
    if hold is not None and (limited is None or hold >= limited):
        return HeldCertificate(certificate, hold, certificate.held_reason, True)
    if limited is not None:
        return HeldCertificate(certificate, limited, "the ACME CA rate-limited the order", False)
    return None
