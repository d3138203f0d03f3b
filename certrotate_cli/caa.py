"""Does a name's CAA allow the CA to issue for it? RFC 8659 (with RFC 8657's `accounturi` and
`validationmethods` parameters), as a CA checks it right before issuing: a CAA record that forbids the CA is a
failed order (`caa`), held for a day by the rotation, so `certrotate doctor` says it first.

- The relevant record set: the CAA records at the name, else at its parent, and so on up to (not including)
  the root; the first non-empty set wins (section 3). A wildcard is looked up at its base name.
- A non-wildcard name obeys the `issue` properties; a wildcard the `issuewild` ones, or `issue` when there is
  no `issuewild` (section 4.3). None of the relevant kind: any CA may issue.
- A property's value is the issuer's domain name (compared case-insensitively with the CA's identities, its
  directory's `caaIdentities`: `letsencrypt.org` for Let's Encrypt) and `;`-separated `key=value` parameters;
  an empty domain (`";"`) allows no CA.
- An unknown property with the critical flag (128) forbids issuance (section 4.1).
- `accounturi` must be the ACME account's URI; `validationmethods` must name the method the rotation will use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

KNOWN_TAGS = frozenset(
    {"issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc"}
)
CRITICAL = 128


@dataclass(frozen=True, slots=True)
class Property:
    flags: int
    tag: str
    value: str


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str
    where: str = ""  # the domain whose record set decided ("" when none applies)
    unsure: bool = False  # allowed only if something doctor cannot see holds (the account's URI)


Lookup = Callable[[str], Sequence[Property]]  # CAA records at exactly this domain (no climbing)


def relevant(name: str, lookup: Lookup) -> tuple[str, Sequence[Property]]:
    """The relevant record set for `name` and where it was found (section 3): climb to the first non-empty."""
    labels = name.rstrip(".").lower().removeprefix("*.").split(".")
    for start in range(len(labels)):
        domain = ".".join(labels[start:])
        found = lookup(domain)
        if found:
            return domain, found
    return "", ()


def parse_value(value: str) -> tuple[str, dict[str, str]]:
    """(issuer domain name, parameters) of an issue/issuewild value."""
    issuer, _, rest = value.partition(";")
    parameters: dict[str, str] = {}
    for part in rest.split(";"):
        key, sep, val = part.strip().partition("=")
        if sep and key.strip():
            parameters[key.strip().lower()] = val.strip()
    return issuer.strip().rstrip(".").lower(), parameters


def evaluate(
    name: str,
    lookup: Lookup,
    *,
    identities: Sequence[str],
    method: str | None,
    account_uri: str | None,
) -> Verdict:
    where, records = relevant(name, lookup)
    if not records:
        return Verdict(True, "no CAA record on the name or any parent: any CA may issue")
    for record in records:
        if record.flags & CRITICAL and record.tag.lower() not in KNOWN_TAGS:
            unknown = f"CAA at {where} has a critical property {record.tag!r} unknown here"
            return Verdict(False, unknown, where)
    wildcard = name.startswith("*.")
    issue = [r for r in records if r.tag.lower() == "issue"]
    issuewild = [r for r in records if r.tag.lower() == "issuewild"]
    chosen, kind = (issuewild, "issuewild") if wildcard and issuewild else (issue, "issue")
    if not chosen:
        return Verdict(True, f"CAA at {where} has no {kind} property: any CA may issue", where)
    ours = {i.rstrip(".").lower() for i in identities}
    refused: list[str] = []
    for record in chosen:
        issuer, parameters = parse_value(record.value)
        if not issuer or issuer not in ours:
            continue
        methods = [m.strip() for m in parameters.get("validationmethods", "").split(",") if m.strip()]
        if methods and method and method not in methods:
            allowed = ", ".join(methods)
            refused.append(f"{kind} {record.value!r} allows validation by {allowed} only, not {method}")
            continue
        uri = parameters.get("accounturi")
        if uri and account_uri is None:
            return Verdict(
                True,
                f"CAA at {where} allows {issuer} only for the ACME account {uri}: check it is this stack's "
                "(doctor does not read the account secret, which holds its private key)",
                where,
                unsure=True,
            )
        if uri and uri != account_uri:
            refused.append(f"{kind} {record.value!r} allows the ACME account {uri} only, not {account_uri}")
            continue
        return Verdict(True, f"CAA at {where} allows {issuer} ({kind} {record.value!r})", where)
    values = ", ".join(repr(r.value) for r in chosen)
    why = "; ".join(refused) if refused else f"its {kind} properties ({values}) name another CA"
    return Verdict(False, f"CAA at {where} forbids {' or '.join(sorted(ours)) or 'the CA'}: {why}", where)
