"""Key types: what certrotate orders and what each kind of endpoint can serve."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from certrotate.model.endpoints import EndpointKind


class KeyKind(StrEnum):
    RSA = "RSA"
    EC = "EC"


@dataclass(frozen=True, slots=True)
class KeySpec:
    kind: KeyKind
    size: int  # RSA modulus bits, or the EC curve's bits

    def __str__(self) -> str:
        return f"RSA {self.size}" if self.kind is KeyKind.RSA else f"ECDSA P-{self.size}"


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
