"""What a rotation is asked, and the settings it runs under (built by wiring from config.Settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from certrotate import planning
from certrotate.config import TrustRoots
from certrotate.model import ServerCertificate
from certrotate.names import PROFILE_TAG


@dataclass(frozen=True, slots=True)
class RotationRequest:
    subject: str  # IAM: the certificate's name; ACM: its ARN
    force: bool = False
    dry_run: bool = False
    # Where the scan saw the certificate served: used instead of a search of every region while fresh.
    known_endpoints: planning.KnownEndpoints | None = None
    # Sent by the renewal-info re-check: before "not due", ask the CA's renewal window (the CA decides, not
    # the message; the re-check writes no renewal tag, so that it makes no IAM call).
    ask_ca: bool = False


@dataclass(frozen=True, slots=True)
class RotationSettings:
    renew_before_days: int | None
    lease_seconds: int
    grace_seconds: int
    trust_roots: TrustRoots  # config.choose_trust_roots: the bundle, Let's Encrypt staging's or certifi's
    # A full ALB/NLB (TooManyCertificates): remove the old SNI certificate, then add the new one. For the
    # seconds between the two calls, SNI clients asking for those names get the listener's default.
    sni_swap_when_full: bool = False
    # The names the account of the certificates rotated may have renewed (ACCOUNT_DOMAINS, DNS_ACCOUNTS).
    names: planning.NamePolicy = field(default_factory=planning.NamePolicy)
    acme_profile: str | None = None  # ACME_PROFILE: the profile of an order whose certificate names none
    hold_context: str = ""  # Settings.hold_context: a deterministic refusal's inputs besides the certificate

    def inputs_of(self, certificate: ServerCertificate) -> str:
        """The certificate's inputs_fingerprint now: what a deterministic refusal's hold was recorded for."""
        return planning.inputs_fingerprint(certificate, self.hold_context)

    def profile_for(self, tags: Mapping[str, str]) -> str | None:
        """The ACME profile an order for a certificate with these tags is placed under (None: the CA's
        default): the tag certrotate:profile, else ACME_PROFILE."""
        return tags.get(PROFILE_TAG, "").strip() or self.acme_profile
