"""The only reader of the environment. Settings are checked once, at cold start, with one line per problem."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from certrotate.adapters.lease_table.leases import MAX_ROTATION_LEASE_SECONDS
from certrotate.adapters.net.tls_probe import ConnectTo
from certrotate.adapters.net.trust_roots import TrustRoots as TrustRoots
from certrotate.adapters.net.trust_roots import TrustSource as TrustSource
from certrotate.errors import ConfigurationError
from certrotate.names import METRICS_NAMESPACE_DEFAULT, SERVICE_NAME_DEFAULT
from certrotate.order.refusals import PROFILE_NAME as PROFILE_NAME
from certrotate.order.refusals import NamePolicy, dns_name_problems

LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
# Every pattern is ASCII and used with fullmatch: Python's `\d` and `\w` accept Unicode digits and letters,
# and `$` matches before a final newline.
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+", re.ASCII)
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_TABLE_ARN = re.compile(
    r"arn:(aws|aws-cn|aws-us-gov):dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}"
)
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_ROLE_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")  # IAM's role name characters and length
MEMBER_ROLE_NAME_DEFAULT = "certrotate-member"


def choose_trust_roots(directory_url: str, bundle: Path | None) -> TrustRoots:
    """An explicit ISSUER_TRUST_BUNDLE always wins. Without one, Let's Encrypt staging gets its own roots
    (certifi does not carry them, so every staging certificate would fail validation after it was issued);
    any other CA gets certifi's bundle."""
    if bundle is not None:
        return TrustRoots(TrustSource.BUNDLE, bundle)
    if urlsplit(directory_url).hostname == urlsplit(LETS_ENCRYPT_STAGING).hostname:
        return TrustRoots(TrustSource.LETS_ENCRYPT_STAGING)
    return TrustRoots(TrustSource.CERTIFI)


@dataclass(frozen=True, slots=True)
class Settings:
    region: str
    acme_directory_url: str
    acme_account_secret_id: str | None
    acme_email: str | None
    acme_profile: str | None
    acme_eab_secret_id: str | None  # Secrets Manager secret with the CA's EAB key id and HMAC key
    issuer_trust_bundle: Path | None  # as set; issuer_trust says which roots are used
    issuer_trust: TrustRoots
    renew_before_days: int | None  # the operator's floor; None: the CA's ARI window or the lifetime rule
    rotation_queue_url: str | None
    rotation_lease_seconds: int
    retirement_grace_seconds: int
    load_balancer_regions: tuple[str, ...]  # empty: every region enabled for the account
    event_bus_name: str | None
    lease_table_name: str | None
    sni_swap_when_full: bool
    service_name: str
    metrics_namespace: str
    # After repointing, a rotation checks over TLS what each endpoint serves (a report, never a gate). Off by
    # default: a function outside the VPC cannot reach internal load balancers and would only wait.
    check_endpoints_after_rotation: bool = False
    endpoint_check_connect_to: tuple[str, ...] = ()  # curl-style HOST1:PORT1:HOST2:PORT2 rules
    # Many accounts: empty = the function's own account only, exactly as a single-account stack.
    managed_accounts: tuple[str, ...] = ()
    member_role_name: str = MEMBER_ROLE_NAME_DEFAULT
    # Whose Route 53 answers DNS-01 for a managed account: {account: dns account}; "*" for every other one.
    dns_accounts: Mapping[str, str] = field(default_factory=dict)
    # The names each account may have renewed (ACCOUNT_DOMAINS): {account: (domain, ...)}.
    account_domains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def many_accounts(self) -> bool:
        return bool(self.managed_accounts)

    @property
    def hold_context(self) -> str:
        """The settings a deterministic refusal depends on besides the certificate and its tags (the CA and
        the default profile): part of decide.holds.inputs_fingerprint, so changing one releases such holds."""
        return f"{self.acme_directory_url}|{self.acme_profile or ''}"

    def dns_account_for(self, account_id: str) -> str:
        """The account whose Route 53 hosted zones answer DNS-01 for certificates of `account_id`."""
        return self.dns_accounts.get(account_id) or self.dns_accounts.get("*") or account_id

    @property
    def restricts_names(self) -> bool:
        """Whether any account's names are restricted (else no account id is needed to decide)."""
        return bool(self.account_domains or self.dns_accounts)

    def name_policy(self, account_id: str) -> NamePolicy:
        """The names `account_id` may have renewed: its ACCOUNT_DOMAINS, or none at all when its DNS-01
        answers are written in another account's zones and it has no entry (fail closed)."""
        dns = self.dns_account_for(account_id)
        return NamePolicy(
            account_id, tuple(self.account_domains.get(account_id, ())), dns if dns != account_id else None
        )

    def require_rotation(self) -> None:
        """What the rotate function needs beyond the common settings."""
        missing = []
        if not self.acme_account_secret_id:
            missing.append("ACME_ACCOUNT_SECRET_ID is required: the secret that holds the ACME account key")
        if not self.lease_table_name:
            missing.append("LEASE_TABLE_NAME is required: the DynamoDB table that holds the rotation leases")
        if missing:
            raise ConfigurationError("; ".join(missing))

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
    if email and not (email.isascii() and _EMAIL.fullmatch(email)):
        problems.append(f"ACME_EMAIL is not an e-mail address: {email!r}")

    bundle_raw = env.get("ISSUER_TRUST_BUNDLE", "").strip()
    bundle = Path(bundle_raw) if bundle_raw else None
    if bundle is not None and not bundle.is_file():
        problems.append(f"ISSUER_TRUST_BUNDLE names no readable file: {bundle_raw!r}")

    # Empty: every region enabled for the account is searched (discovered at run time).
    regions_raw = env.get("LOAD_BALANCER_REGIONS", "").strip()
    regions = tuple(dict.fromkeys(r.strip() for r in regions_raw.split(",") if r.strip()))
    for candidate in regions:
        if not _REGION.fullmatch(candidate):
            problems.append(f"LOAD_BALANCER_REGIONS holds {candidate!r}, which is not an AWS region name")

    renew = _int(env, "RENEW_BEFORE_DAYS", 0, 1, 365, problems) or None
    lease = _int(env, "ROTATION_LEASE_SECONDS", 300, 30, MAX_ROTATION_LEASE_SECONDS, problems)
    grace = _int(env, "RETIREMENT_GRACE_SECONDS", 3600, 0, 90 * 86_400, problems)

    bus = env.get("EVENT_BUS_NAME", "default").strip() or None
    lease_table = env.get("LEASE_TABLE_NAME", "").strip() or None
    # A table name, or its ARN (DynamoDB accepts either as TableName).
    if lease_table and not (_TABLE_NAME.fullmatch(lease_table) or _TABLE_ARN.fullmatch(lease_table)):
        problems.append(
            f"LEASE_TABLE_NAME is not a DynamoDB table name (3-255 of letters, digits, _.-) nor its ARN: "
            f"{lease_table!r}"
        )

    swap_raw = env.get("SNI_SWAP_WHEN_FULL", "").strip().lower()
    if swap_raw not in ("", "true", "false"):
        problems.append(f"SNI_SWAP_WHEN_FULL must be true or false, not {swap_raw!r}")

    check_raw = env.get("CHECK_ENDPOINTS_AFTER_ROTATION", "").strip().lower()
    if check_raw not in ("", "true", "false"):
        problems.append(f"CHECK_ENDPOINTS_AFTER_ROTATION must be true or false, not {check_raw!r}")
    connect_to = tuple(env.get("ENDPOINT_CHECK_CONNECT_TO", "").replace(",", " ").split())
    for rule in connect_to:
        try:
            ConnectTo.parse(rule)
        except ValueError:
            problems.append(f"ENDPOINT_CHECK_CONNECT_TO holds {rule!r}, not HOST1:PORT1:HOST2:PORT2")

    managed = _account_list(env.get("MANAGED_ACCOUNTS", ""), problems)
    role_name = env.get("MEMBER_ROLE_NAME", "").strip() or MEMBER_ROLE_NAME_DEFAULT
    if not _ROLE_NAME.fullmatch(role_name):
        problems.append(
            f"MEMBER_ROLE_NAME is not an IAM role name (1-64 of letters, digits, +=,.@_-): {role_name!r}"
        )
    dns_accounts = _dns_accounts(env.get("DNS_ACCOUNTS", ""), problems)
    account_domains = _account_domains(env.get("ACCOUNT_DOMAINS", ""), problems)
    profile = env.get("ACME_PROFILE", "").strip() or None
    if profile and not PROFILE_NAME.fullmatch(profile):
        problems.append(
            f"ACME_PROFILE is not a profile name (1-64 of letters, digits, ._-): {profile[:80]!r}"
        )

    if problems:
        raise ConfigurationError("invalid configuration: " + "; ".join(problems))

    return Settings(
        region=region,
        acme_directory_url=directory,
        acme_account_secret_id=env.get("ACME_ACCOUNT_SECRET_ID", "").strip() or None,
        acme_email=email,
        acme_profile=profile,
        acme_eab_secret_id=env.get("ACME_EAB_SECRET_ID", "").strip() or None,
        issuer_trust_bundle=bundle,
        issuer_trust=choose_trust_roots(directory, bundle),
        renew_before_days=renew,
        rotation_queue_url=env.get("ROTATION_QUEUE_URL", "").strip() or None,
        rotation_lease_seconds=lease,
        retirement_grace_seconds=grace,
        load_balancer_regions=regions,
        event_bus_name=bus,
        lease_table_name=lease_table,
        sni_swap_when_full=swap_raw == "true",
        service_name=env.get("POWERTOOLS_SERVICE_NAME", "").strip() or SERVICE_NAME_DEFAULT,
        metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or METRICS_NAMESPACE_DEFAULT,
        check_endpoints_after_rotation=check_raw == "true",
        endpoint_check_connect_to=connect_to,
        managed_accounts=managed,
        member_role_name=role_name,
        dns_accounts=dns_accounts,
        account_domains=account_domains,
    )


def _account_list(raw: str, problems: list[str]) -> tuple[str, ...]:
    accounts = tuple(dict.fromkeys(a.strip() for a in raw.split(",") if a.strip()))
    for account in accounts:
        if not _ACCOUNT_ID.fullmatch(account):
            problems.append(f"MANAGED_ACCOUNTS holds {account!r}, which is not a 12-digit AWS account id")
    return accounts


def _dns_accounts(raw: str, problems: list[str]) -> dict[str, str]:
    """`DNS_ACCOUNTS`: comma-separated `<account>=<dns account>`; `*=<dns account>` for all the others."""
    mapping: dict[str, str] = {}
    for entry in (e.strip() for e in raw.split(",") if e.strip()):
        member, sep, dns = (part.strip() for part in entry.partition("="))
        if not sep or not (member == "*" or _ACCOUNT_ID.fullmatch(member)) or not _ACCOUNT_ID.fullmatch(dns):
            problems.append(
                f"DNS_ACCOUNTS holds {entry!r}, not <12-digit account>=<12-digit account> (or *=<account>)"
            )
            continue
        if member in mapping and mapping[member] != dns:
            problems.append(f"DNS_ACCOUNTS names two DNS accounts for {member}")
        mapping[member] = dns
    return mapping


def _account_domains(raw: str, problems: list[str]) -> dict[str, tuple[str, ...]]:
    """`ACCOUNT_DOMAINS`: comma-separated `<account>=<domain>`; an account may appear more than once."""
    domains: dict[str, tuple[str, ...]] = {}
    for entry in (e.strip() for e in raw.split(",") if e.strip()):
        account, sep, domain = (part.strip() for part in entry.partition("="))
        domain = domain.lower()
        if not sep or not _ACCOUNT_ID.fullmatch(account) or domain.startswith("*"):
            problems.append(f"ACCOUNT_DOMAINS holds {entry[:120]!r}, not <12-digit account>=<domain>")
            continue
        bad = dns_name_problems([domain])
        if bad:
            problems.append(f"ACCOUNT_DOMAINS: {bad[0]}")
            continue
        domains[account] = tuple(dict.fromkeys((*domains.get(account, ()), domain)))
    return domains


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
    "SNI_",
    "POWERTOOLS_",
    "REQUESTS_CA_BUNDLE",
    "CHECK_ENDPOINTS",
    "ENDPOINT_CHECK",
    "MANAGED_ACCOUNTS",
    "MEMBER_ROLE_NAME",
    "DNS_ACCOUNTS",
    "ACCOUNT_DOMAINS",
)


def environment_fingerprint() -> tuple[tuple[str, str], ...]:
    """What the settings depend on: when it changes (tests, the demo), the wiring is rebuilt."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_RELEVANT)))
