"""The trust roots' files: the bundle the operator names, the Let's Encrypt staging roots the layer ships, or
certifi's. Reading them is I/O, so it lives here; the core holds the roots as a value (ports.TrustAnchors)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

from cryptography import x509

from certrotate.errors import ValidationFailed

# Shipped in the layer (package data): Let's Encrypt's published staging roots.
LETS_ENCRYPT_STAGING_ROOTS = ("roots", "letsencrypt-staging.pem")


class TrustSource(StrEnum):
    BUNDLE = "bundle"  # ISSUER_TRUST_BUNDLE
    LETS_ENCRYPT_STAGING = "letsencrypt-staging"  # the staging roots shipped in the layer
    CERTIFI = "certifi"


@dataclass(frozen=True, slots=True)
class TrustRoots:
    """Which roots every new certificate must chain to (config.choose_trust_roots chooses them)."""

    source: TrustSource
    bundle: Path | None = None  # the file, for TrustSource.BUNDLE only

    def __str__(self) -> str:
        if self.source is TrustSource.BUNDLE:
            return f"ISSUER_TRUST_BUNDLE {self.bundle}"
        if self.source is TrustSource.LETS_ENCRYPT_STAGING:
            return "the built-in Let's Encrypt staging roots"
        return "certifi's roots"

    def roots(self) -> list[x509.Certificate]:
        """The roots, read now (raises OSError, or ValidationFailed when the file holds none)."""
        if self.source is TrustSource.BUNDLE:
            assert self.bundle is not None
            data, where = self.bundle.read_bytes(), str(self.bundle)
        elif self.source is TrustSource.LETS_ENCRYPT_STAGING:
            # resources.files("certrotate"), not this package: the roots sit beside the layer's top module.
            shipped = resources.files("certrotate").joinpath(*LETS_ENCRYPT_STAGING_ROOTS)
            data, where = shipped.read_bytes(), "/".join(LETS_ENCRYPT_STAGING_ROOTS)
        else:
            import certifi  # only where needed: it is a dependency of requests, which acme needs anyway

            data, where = Path(certifi.where()).read_bytes(), certifi.where()
        try:
            roots = x509.load_pem_x509_certificates(data) if data.strip() else []
        except ValueError as exc:
            raise ValidationFailed(f"unreadable PEM certificate: {exc}") from exc
        if not roots:
            raise ValidationFailed(f"the trust bundle {where} holds no certificate")
        return roots


def load_trust_roots(trust: TrustRoots) -> list[x509.Certificate]:
    """The roots a new certificate must chain to, as config.choose_trust_roots chose them."""
    return trust.roots()
