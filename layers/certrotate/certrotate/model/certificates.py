"""Certificates as certrotate reads and keeps them, with tag values parsed defensively. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from certrotate.model.keys import KeySpec
from certrotate.names import (
    FAILURES_TAG,
    HELD_INPUTS_TAG,
    HELD_REASON_TAG,
    HELD_UNTIL_TAG,
    MANAGED_TAG,
    REPLACED_BY_TAG,
    REPLACES_TAG,
    RETRY_AFTER_TAG,
    ROLLED_BACK_AT_TAG,
    ROLLED_BACK_FROM_TAG,
    ROLLED_BACK_TO_TAG,
    SERVED_SINCE_TAG,
    name_from_tag_value,
)

# A tag value is anyone's to write (iam:TagServerCertificate, acm:AddTagsToCertificate): every one is parsed
# here or in the rules that read it (decide/, order/), defensively, and an unreadable one reads as absent.
# Python's `\d` and str.isdigit() accept Unicode digits ("²" passes isdigit() and fails int()), so only ASCII
# patterns are used.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
# Years a timestamp of ours can hold: enough room either side that adding a grace period or a hold (at
# most a year) never overflows datetime (year 9999 would).
_YEARS = range(1970, 9000)
_COUNT = re.compile(r"[0-9]{1,6}")


def is_managed_value(value: str | None) -> bool:
    """The managed tag's rule for IAM and ACM certificates alike (the policies: StringEqualsIgnoreCase)."""
    return value is not None and value.isascii() and value.lower() == "true"


def parse_timestamp(value: str | None) -> datetime | None:
    """An ISO 8601 tag value with its offset (as certrotate writes them), in UTC; None when absent or
    unreadable: a hand-edited or forged tag must not crash a scan, nor stop any other certificate."""
    if not value or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # 2026-02-30, 25:00 and the like: the shape of a date, not a date
        return None
    if parsed.tzinfo is None or parsed.year not in _YEARS:
        return None
    return parsed.astimezone(UTC)


def parse_count(value: str | None) -> int:
    """A small whole number of ASCII digits; 0 when absent or unreadable (never an exception)."""
    raw = (value or "").strip()
    return int(raw) if _COUNT.fullmatch(raw) else 0


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """One IAM server certificate's metadata, with its tags once they have been read."""

    name: str
    arn: str
    certificate_id: str
    path: str
    expiration: datetime
    upload_date: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        """`certrotate:managed` = `true` in any letter case (`True`, `TRUE`: what operators have written),
        nothing else (no spaces, no `yes`): what the shipped policies' StringEqualsIgnoreCase also allows."""
        return is_managed_value(self.tags.get(MANAGED_TAG))

    @property
    def replaced_by(self) -> str | None:
        value = self.tags.get(REPLACED_BY_TAG)
        return name_from_tag_value(value) if value else None

    @property
    def replaces(self) -> str | None:
        value = self.tags.get(REPLACES_TAG)
        return name_from_tag_value(value) if value else None

    @property
    def replacement_served_since(self) -> datetime | None:
        return parse_timestamp(self.tags.get(SERVED_SINCE_TAG))

    @property
    def retry_after(self) -> datetime | None:
        return parse_timestamp(self.tags.get(RETRY_AFTER_TAG))

    @property
    def held_until(self) -> datetime | None:
        """End of the hold-off after a permanent failure (None: not held, or an unreadable tag)."""
        return parse_timestamp(self.tags.get(HELD_UNTIL_TAG))

    @property
    def held_inputs(self) -> str | None:
        """The fingerprint of the inputs a deterministic refusal was held for (None: a hold that ends in
        time, or no hold)."""
        return self.tags.get(HELD_INPUTS_TAG, "").strip() or None

    @property
    def held_reason(self) -> str:
        return self.tags.get(HELD_REASON_TAG, "")

    @property
    def failures(self) -> int:
        """Permanent failures in a row (0 when the tag is absent or unreadable)."""
        return parse_count(self.tags.get(FAILURES_TAG))

    @property
    def rolled_back_from(self) -> str | None:
        """On a replaced certificate served again after a rollback: the replacement rolled back from."""
        value = self.tags.get(ROLLED_BACK_FROM_TAG)
        return name_from_tag_value(value) if value else None

    @property
    def rolled_back_at(self) -> datetime | None:
        return parse_timestamp(self.tags.get(ROLLED_BACK_AT_TAG))

    @property
    def rolled_back_to(self) -> str | None:
        """On a replacement that was rolled back: the certificate served in its place again."""
        value = self.tags.get(ROLLED_BACK_TO_TAG)
        return name_from_tag_value(value) if value else None

    @property
    def for_cloudfront(self) -> bool:
        return self.path.startswith("/cloudfront/")


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What the old certificate's body says: the names to cover again and the key to match."""

    dns_names: tuple[str, ...]
    key: KeySpec
    not_after: datetime
    not_before: datetime | None = None
    ari_id: str | None = None  # RFC 9773 certificate id (None: the certificate has no AKI keyIdentifier)
    ip_addresses: tuple[str, ...] = ()  # IP address SANs: never renewed, never silently dropped


class SecretPem(bytes):
    """PEM bytes of a private key: never printed, logged or serialised by accident."""

    def __repr__(self) -> str:
        return "SecretPem(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    certificate_pem: str  # the leaf only
    chain_pem: str  # intermediates, leaf's issuer first, no root
    private_key_pem: SecretPem = field(repr=False)


@dataclass(frozen=True, slots=True)
class ProgressRecord:
    """What a rotation wrote down itself about its work, in the lease table (item `#progress:<lease key>`),
    which no one allowed only to tag or upload certificates can write: the proof behind the bookkeeping
    tags. Written before the upload (or import) and updated as the rotation goes."""

    replaced_id: str  # IAM: the replaced certificate's ServerCertificateId; ACM: its serial (lower-case hex)
    replacement: str  # IAM: the replacement's name; ACM: the certificate's ARN (re-imported in place)
    sha256: str = ""  # the replacement leaf's SHA-256 (DER, hex), once issued: what was uploaded or imported
    served_since: datetime | None = None  # IAM: since when the replacement serves everywhere


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
