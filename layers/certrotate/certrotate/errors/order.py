"""Failures before and while ordering: names and challenges refused, the CA's answers, what it issued."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from certrotate.errors.base import CertRotateError, PermanentFailure


class UnknownChallengeMethod(PermanentFailure):
    """The tag certrotate:challenge holds a value certrotate does not know: refused before any order."""

    deterministic = True

    fix = "set the tag certrotate:challenge to dns-01 or http-01, or remove it (choose per name)"

    def __init__(self, value: str) -> None:
        super().__init__(
            f"unknown challenge method {value!r} in certrotate:challenge (allowed: dns-01, http-01)"
        )
        self.value = value


class NoChallengeMethod(PermanentFailure):
    """A name that neither DNS-01 (a public Route 53 zone) nor HTTP-01 (a port-80 listener of an ALB serving
    the certificate) can answer: refused before any order, naming each name and why."""

    fix = (
        "create a public Route 53 hosted zone for the name (DNS-01), or serve the certificate on an "
        "Application Load Balancer with an HTTP listener on port 80 that the name points at (HTTP-01; not "
        "for wildcards), or change the tag certrotate:challenge; then rotate with force=true"
    )

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems) + ": nothing was ordered")
        self.problems = list(problems)


class InvalidNames(PermanentFailure):
    """The certificate holds names that are not DNS names a CA certifies: refused before any order (the CA
    would answer `malformed` or `rejectedIdentifier`, and so would every retry)."""

    fix = (
        "replace the certificate by hand with one whose names are valid DNS names (IDNA names as their "
        "xn-- A-labels), or take it out of certrotate's hands (remove the tag certrotate:managed)"
    )

    def __init__(self, certificate: str, problems: Sequence[str]) -> None:
        super().__init__(f"{certificate}: " + "; ".join(problems) + ": nothing was ordered")
        self.problems = list(problems)


class IpAddressesNotRenewed(PermanentFailure):
    """The certificate also names IP addresses: a replacement ordered for its DNS names alone would drop them
    and break every client that connects by address, so nothing is ordered."""

    fix = (
        "renew the certificate by hand (IP address certificates need a CA and a challenge certrotate does "
        "not handle), or issue one without the IP addresses and let certrotate manage that one"
    )

    def __init__(self, certificate: str, addresses: Sequence[str]) -> None:
        super().__init__(
            f"{certificate} names IP address(es) {', '.join(addresses)} besides its DNS names: certrotate "
            "orders DNS names only and never drops a name: nothing was ordered"
        )
        self.addresses = list(addresses)


class NameNotAuthorised(PermanentFailure):
    """A name the certificate's account is not entitled to (ACCOUNT_DOMAINS, DNS_ACCOUNTS): refused before
    any order, naming each name and the rule."""

    fix = (
        "if the account owns these names, add <account>=<domain> to ACCOUNT_DOMAINS (template parameter "
        "AccountDomains) and rotate with force=true; if not, someone put names in a certificate of an "
        "account that does not own them: remove the tag certrotate:managed from it and find out who"
    )

    def __init__(self, certificate: str, problems: Sequence[str]) -> None:
        super().__init__(f"{certificate}: " + "; ".join(problems) + ": nothing was ordered")
        self.problems = list(problems)


class InvalidProfileName(PermanentFailure):
    """The tag certrotate:profile holds something that is no profile name: refused before any order."""

    fix = (
        "set the tag certrotate:profile to a profile the CA offers (1-64 of letters, digits, ._-), or "
        "remove it"
    )

    def __init__(self, value: str) -> None:
        super().__init__(
            f"certrotate:profile holds {value[:80]!r}, which is not a profile name "
            "(1-64 of letters, digits, ._-): nothing was ordered"
        )


class ListenerRulesFull(PermanentFailure):
    """An ALB holds its quota of listener rules (TooManyRules): no room for an HTTP-01 challenge rule."""

    deterministic = True

    def __init__(self, load_balancer: str) -> None:
        super().__init__(
            f"load balancer {load_balancer} holds its quota of listener rules (100 per Application Load "
            "Balancer, default rules aside): no room for the HTTP-01 challenge rule",
            fix=(
                f"remove unused rules from the listeners of {load_balancer}, raise the quota 'Rules per "
                "Application Load Balancer' in Service Quotas, or validate by DNS-01 (a public Route 53 zone "
                "and the tag certrotate:challenge=dns-01); then rotate with force=true"
            ),
        )
        self.load_balancer = load_balancer


class ChallengeRuleShadowed(PermanentFailure):
    """A rule of someone else's on the port-80 listener would answer the CA's HTTP-01 request for a name first
    (same host, a path that takes the challenge: a redirect to HTTPS, a forward), and no priority ahead of it
    is free: refused before any order, held until an operator forces (other rules are never moved)."""

    deterministic = True

    def __init__(self, name: str, listener: str, rule: str) -> None:
        super().__init__(
            f"{name}: {rule} on the port-80 listener {listener} would answer the CA's request for "
            f"http://{name}/.well-known/acme-challenge/<token> before a challenge rule could, and no "
            "priority ahead of it is free: nothing was ordered",
            fix=(
                f"free a priority lower than that rule's on {listener}, or narrow the rule (leave "
                "/.well-known/acme-challenge/* alone), or validate by DNS-01 (a public Route 53 zone and the "
                "tag certrotate:challenge=dns-01); then rotate with force=true"
            ),
        )
        self.name = name


class IssuanceFailed(CertRotateError):
    """The CA refused or failed the order; the message says which name and why."""


class CaRefused(IssuanceFailed, PermanentFailure):
    """The CA refuses the names themselves (rejectedIdentifier, caa, unauthorized): no retry helps."""

    deterministic = True

    fix = (
        "check the names against the CA's policy, the domains' CAA records and the ACME account's rights "
        "(ACME_DIRECTORY_URL, ACME_ACCOUNT_SECRET_ID)"
    )


class Http01NotReached(IssuanceFailed, PermanentFailure):
    """The CA fetched an HTTP-01 token and did not get it from our rule: the name resolves somewhere else,
    or port 80 is closed to it. A redelivery minutes later would meet the same DNS and the same network, and
    each try spends an order and one of the CA's failed validations: held instead."""

    fix = (
        "make each name resolve (at its DNS provider) to an ALB that serves the certificate and has a "
        "port-80 HTTP listener reachable from the internet (security groups, network ACLs, WAF), or give it "
        "a public Route 53 zone for DNS-01 (tag certrotate:challenge=dns-01)"
    )


class Http01NotYetServed(IssuanceFailed):
    """Our HTTP-01 rules did not answer the token within the wait, though the name reaches an HTTP server:
    ALB rule changes take effect late ("rule updates do not take effect immediately"). The CA was not told,
    so no failed validation was spent: transient, retried (redelivered), not held."""


# The longest a CA's Retry-After is kept or believed: Let's Encrypt's longest limit window is a week. Longer
# would leave a certificate unrenewed for long on one answer; a longer certrotate:retry-after is a claim no
# CA's answer made (anyone allowed to tag can write one), and is ignored.
RATE_LIMIT_MAX_WAIT = timedelta(days=7)


class RateLimited(IssuanceFailed):
    def __init__(self, detail: str, retry_at: datetime) -> None:
        retry_at = min(retry_at, datetime.now(UTC) + RATE_LIMIT_MAX_WAIT)
        super().__init__(f"the ACME CA rate-limited the order until {retry_at.isoformat()}: {detail}")
        self.retry_at = retry_at


class UnknownProfile(IssuanceFailed, PermanentFailure):
    """The certificate asks for an ACME profile the CA does not offer: refused before any order (permanent
    until the tag, the setting or the CA changes)."""

    deterministic = True

    fix = "set the tag certrotate:profile (or ACME_PROFILE) to a profile the CA offers, or remove it"

    def __init__(self, profile: str, offered: list[str]) -> None:
        choices = ", ".join(sorted(offered)) if offered else "none"
        super().__init__(f"the ACME CA offers no profile {profile!r} (profiles offered: {choices})")
        self.profile = profile


class UnknownKeyType(PermanentFailure):
    """The tag certrotate:key-type holds a value certrotate does not know: refused before any order."""

    deterministic = True

    fix = (
        "set the tag certrotate:key-type to one of the allowed values, or remove it (keep the old key's kind)"
    )

    def __init__(self, value: str, allowed: Sequence[str]) -> None:
        super().__init__(f"unknown key type {value!r} in certrotate:key-type (allowed: {', '.join(allowed)})")
        self.value = value


class KeyTypeUnsupported(PermanentFailure):
    """An endpoint serving the certificate cannot use the key type asked for: refused before any order."""

    deterministic = True

    fix = (
        "choose a key type (tag certrotate:key-type) that every endpoint serving the certificate accepts, "
        "or move the certificate off the endpoint named"
    )

    def __init__(self, key: str, refusing: Sequence[str]) -> None:
        super().__init__(f"an {key} key cannot be used by {'; '.join(refusing)}: nothing was ordered")
        self.refusing = list(refusing)


class ValidationFailed(PermanentFailure):
    """A new certificate failed a check before upload; nothing was uploaded."""

    fix = (
        "make ISSUER_TRUST_BUNDLE hold the root the CA issues under (and check ACME_DIRECTORY_URL, "
        "ACME_PROFILE), then rotate with force=true"
    )
