"""What is refused before any order, because no retry could make the CA accept it: names that are not DNS
names, names the account is not entitled to (ACCOUNT_DOMAINS), profile names no CA could know."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# An ACME profile name (draft-ietf-acme-profiles gives no grammar; Let's Encrypt's are short lower-case
# words): certrotate's own limit, so that a typo or a forged tag value is refused before any order.
PROFILE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")

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
