"""The only reader of the environment. Settings are checked once, at cold start, with one line per problem."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from certrotate.errors import ConfigurationError
from certrotate.names import METRICS_NAMESPACE_DEFAULT, SERVICE_NAME_DEFAULT

LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Settings:
    region: str
    acme_directory_url: str
    acme_account_secret_id: str | None
    acme_email: str | None
    acme_profile: str | None
    issuer_trust_bundle: Path | None  # None: certifi's bundle
    renew_before_days: int
    rotation_queue_url: str | None
    rotation_lease_seconds: int
    retirement_grace_seconds: int
    load_balancer_regions: tuple[str, ...]
    event_bus_name: str | None
    lease_secret_prefix: str
    service_name: str
    metrics_namespace: str

    def require_rotation(self) -> None:
        """What the rotate function needs beyond the common settings."""
        if not self.acme_account_secret_id:
            raise ConfigurationError(
                "ACME_ACCOUNT_SECRET_ID is required: the secret that holds the ACME account key"
            )

    def require_scan(self) -> None:
        if not self.rotation_queue_url:
            raise ConfigurationError(
                "ROTATION_QUEUE_URL is required: the FIFO queue the scan sends rotations to"
            )


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int, problems: list[str]
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name} must be a whole number, not {raw!r}")
        return default
    if not minimum <= value <= maximum:
        problems.append(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise one ConfigurationError listing each problem on its own line."""
    env = os.environ if env is None else env
    problems: list[str] = []

    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if not region:
        problems.append("AWS_REGION (or AWS_DEFAULT_REGION) is not set: the function's region is unknown")

    directory = env.get("ACME_DIRECTORY_URL", "").strip() or LETS_ENCRYPT_PRODUCTION
    if not directory.startswith("https://"):
        problems.append(f"ACME_DIRECTORY_URL must be an https:// URL, not {directory!r}")

    email = env.get("ACME_EMAIL", "").strip() or None
    if email and not _EMAIL.match(email):
        problems.append(f"ACME_EMAIL is not an e-mail address: {email!r}")

    bundle_raw = env.get("ISSUER_TRUST_BUNDLE", "").strip()
    bundle = Path(bundle_raw) if bundle_raw else None
    if bundle is not None and not bundle.is_file():
        problems.append(f"ISSUER_TRUST_BUNDLE names no readable file: {bundle_raw!r}")

    regions_raw = env.get("LOAD_BALANCER_REGIONS", "").strip()
    regions = tuple(dict.fromkeys(r.strip() for r in regions_raw.split(",") if r.strip())) or (
        (region,) if region else ()
    )
    for candidate in regions:
        if not _REGION.match(candidate):
            problems.append(f"LOAD_BALANCER_REGIONS holds {candidate!r}, which is not an AWS region name")

    renew = _int(env, "RENEW_BEFORE_DAYS", 30, 1, 365, problems)
    lease = _int(env, "ROTATION_LEASE_SECONDS", 300, 30, 43_200, problems)
    grace = _int(env, "RETIREMENT_GRACE_SECONDS", 3600, 0, 90 * 86_400, problems)

    bus = env.get("EVENT_BUS_NAME", "default").strip() or None
    prefix = env.get("LEASE_SECRET_PREFIX", "certrotate/lease/").strip()
    if not re.fullmatch(r"[A-Za-z0-9/_+=.@-]{1,200}", prefix):
        problems.append(f"LEASE_SECRET_PREFIX has characters a secret name cannot hold: {prefix!r}")

    if problems:
        raise ConfigurationError("invalid configuration: " + "; ".join(problems))

    return Settings(
        region=region,
        acme_directory_url=directory,
        acme_account_secret_id=env.get("ACME_ACCOUNT_SECRET_ID", "").strip() or None,
        acme_email=email,
        acme_profile=env.get("ACME_PROFILE", "").strip() or None,
        issuer_trust_bundle=bundle,
        renew_before_days=renew,
        rotation_queue_url=env.get("ROTATION_QUEUE_URL", "").strip() or None,
        rotation_lease_seconds=lease,
        retirement_grace_seconds=grace,
        load_balancer_regions=regions,
        event_bus_name=bus,
        lease_secret_prefix=prefix,
        service_name=env.get("POWERTOOLS_SERVICE_NAME", "").strip() or SERVICE_NAME_DEFAULT,
        metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or METRICS_NAMESPACE_DEFAULT,
    )


_RELEVANT = (
    "AWS_",
    "ACME_",
    "ISSUER_",
    "RENEW_",
    "ROTATION_",
    "RETIREMENT_",
    "LOAD_BALANCER_",
    "EVENT_BUS",
    "LEASE_",
    "POWERTOOLS_",
    "REQUESTS_CA_BUNDLE",
)


def environment_fingerprint() -> tuple[tuple[str, str], ...]:
    """What the settings depend on: when it changes (tests, the demo), the wiring is rebuilt."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_RELEVANT)))
