"""`certrotate doctor`: a read-only preflight of a deployed stack and its account, one line per finding.
A *problem* is something that would stop a rotation (exit 1); a *warning* something to look at; *ok* and
*notes* say what was checked. Nothing is changed: it reads, simulates IAM policies and asks DNS.

- permissions: the deployed functions' roles (the stack's outputs) may make every call the code needs
  (`iam:SimulatePrincipalPolicy` of what `certrotate.permissions.checks` lists for each function's principal,
  on the resources the deployment names);
- the CA: its directory answers; terms of service; External Account Binding when required; the profiles asked
  for (ACME_PROFILE, tags `certrotate:profile`) exist;
- each managed certificate: every name has a public Route 53 zone (DNS-01) or an ALB port-80 path (HTTP-01);
  the name's CAA records allow the CA (RFC 8659);
- quota headroom: IAM server certificates, certificates per ALB/NLB, listener rules per ALB for HTTP-01;
- member accounts (MANAGED_ACCOUNTS): reachable by the scan function (a dry-run scan, which changes nothing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError
from certrotate.adapters.aws.errors import error_code
from certrotate.config import Settings
from certrotate.model import ChallengeMethod, Endpoint, EndpointKind, HostedZone
from certrotate.names import PROFILE_TAG
from certrotate.order.challenge_plan import plan_challenges, requested_challenge_method
from certrotate.permissions import ROLE_OUTPUTS, Check, Names, Principal, checks
from certrotate.ports import Http01Listeners

from certrotate_cli import caa
from certrotate_cli.inventory import CertificateStatus, Inventory, challenge_plan

# "Certificates per Application (or Network) Load Balancer": 25 besides the listeners' defaults; "Rules per
# Application Load Balancer": 100 besides the defaults (Elastic Load Balancing quotas; raised quotas are not
# read, as Service Quotas would need another permission).
CERTIFICATES_PER_LOAD_BALANCER = 25
RULES_PER_LOAD_BALANCER = 100
# Let's Encrypt's CAA identity, when its directory (or another CA's) does not list caaIdentities.
KNOWN_CAA_IDENTITIES = {
    "acme-v02.api.letsencrypt.org": ("letsencrypt.org",),
    "acme-staging-v02.api.letsencrypt.org": ("letsencrypt.org",),
}


class Severity(StrEnum):
    OK = "ok"
    NOTE = "note"
    WARNING = "warning"
    PROBLEM = "problem"  # would stop a rotation


SYMBOLS = {Severity.OK: "✓", Severity.NOTE: "·", Severity.WARNING: "!", Severity.PROBLEM: "✗"}


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "severity": self.severity.value, "message": self.message}

    @property
    def line(self) -> str:
        return f"{SYMBOLS[self.severity]} {self.check:<12} {self.message}"


ActionMap = Mapping[str, Sequence[Check]]  # role ARN -> the calls it must be allowed to make


# -- permissions --------------------------------------------------------------------------------------------


def required_checks(
    outputs: Mapping[str, str],
    settings: Settings,
    member_role_names: Mapping[Principal, str],
    *,
    partition: str,
    account: str,
) -> tuple[dict[str, list[Check]], dict[str, str]]:
    """What each deployed function's role must be allowed (certrotate.permissions.checks, on the resources
    this deployment names), for the roles the stack's outputs name (`ROLE_OUTPUTS`); and a label for each role
    (its function). `settings` are the scan's (the queue is in its environment only), `member_role_names` each
    function's own MEMBER_ROLE_NAME (the scan's is <MemberRoleName>-scan)."""
    required: dict[str, list[Check]] = {}
    labels: dict[str, str] = {}
    for output, principal in ROLE_OUTPUTS.items():
        role = outputs.get(output)
        if not role:
            continue
        names = Names(
            partition=partition,
            account=account,
            region=settings.region,
            lease_table=_name_of(settings.lease_table_name, "table/"),
            queue_name=(settings.rotation_queue_url or "").rstrip("/").rsplit("/", 1)[-1],
            secret_name=_secret_name(settings.acme_account_secret_id),
            event_bus=_name_of(settings.event_bus_name, "event-bus/"),
            eab_secret_name=_secret_name(settings.acme_eab_secret_id),
            member_role_name=member_role_names.get(principal, ""),
            managed_accounts=settings.managed_accounts,
            dns_accounts=tuple(sorted(set(settings.dns_accounts.values()))),
        )
        required[role] = checks(principal, names)
        labels[role] = output.removesuffix("RoleArn")
    return required, labels


def _name_of(value: str | None, resource_prefix: str) -> str:
    """A name given as a name or as an ARN (`...:table/<name>`, `...:event-bus/<name>`)."""
    return (value or "").rsplit(resource_prefix, 1)[-1] if value and value.startswith("arn:") else value or ""


def _secret_name(value: str | None) -> str:
    # A secret's ARN ends with "secret:<name>-<6 random characters>"; its name is what policies match.
    if value and value.startswith("arn:"):
        return value.split(":secret:", 1)[-1][:-7]
    return value or ""


def check_permissions(iam: Any, required: ActionMap, labels: Mapping[str, str]) -> list[Finding]:
    """Simulate each role's identity policies for every call it needs (one SimulatePrincipalPolicy per role,
    resource and context). An `implicitDeny` whose statements wanted context keys doctor did not give is a
    warning (granted only under conditions not evaluated here), any other denial a problem."""
    findings: list[Finding] = []
    for role, requirements in required.items():
        label = labels.get(role, role)
        groups: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], list[str]] = defaultdict(list)
        for requirement in requirements:
            key = tuple(sorted((k, tuple(v)) for k, v in requirement.context.items()))
            groups[(requirement.resource, key)].append(requirement.action)
        denied = 0
        for (resource, context_key), actions in groups.items():
            try:
                results = _simulate(iam, role, actions, resource, dict(context_key))
            except ClientError as exc:
                refused = (
                    f"cannot check what the {label} role may do: iam:SimulatePrincipalPolicy on {role} "
                    f"was refused ({error_code(exc)})"
                )
                return [*findings, Finding("permissions", Severity.WARNING, refused)]
            for result in results:
                decision = result.get("EvalDecision")
                if decision == "allowed":
                    continue
                denied += 1
                missing = list(result.get("MissingContextValues") or [])
                for specific in result.get("ResourceSpecificResults") or []:
                    missing += specific.get("MissingContextValues") or []
                what = f"{result.get('EvalActionName')} on {result.get('EvalResourceName')}"
                if decision == "implicitDeny" and missing:
                    findings.append(
                        Finding(
                            "permissions",
                            Severity.WARNING,
                            f"the {label} role may {what} only under conditions on "
                            f"{', '.join(sorted(set(missing)))} (not evaluated here)",
                        )
                    )
                else:
                    findings.append(
                        Finding(
                            "permissions",
                            Severity.PROBLEM,
                            f"the {label} role ({role}) may not {what} ({decision}): a rotation needs it",
                        )
                    )
        if not denied:
            findings.append(
                Finding(
                    "permissions", Severity.OK, f"the {label} role may make all {len(requirements)} calls"
                )
            )
    return findings


def _simulate(
    iam: Any, role: str, actions: Sequence[str], resource: str, context: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    entries = [
        {"ContextKeyName": key, "ContextKeyValues": list(values), "ContextKeyType": "stringList"}
        for key, values in context.items()
    ]
    results: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "PolicySourceArn": role,
        "ActionNames": list(actions),
        "ResourceArns": [resource],
    }
    if entries:
        kwargs["ContextEntries"] = entries
    while True:
        page = iam.simulate_principal_policy(**kwargs)
        results.extend(page.get("EvaluationResults", []))
        if not page.get("IsTruncated"):
            return results
        kwargs["Marker"] = page["Marker"]


# -- the CA ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Directory:
    url: str
    meta: Mapping[str, Any]

    @property
    def caa_identities(self) -> tuple[str, ...]:
        listed = self.meta.get("caaIdentities")
        if isinstance(listed, list) and listed:
            return tuple(str(i) for i in listed)
        host = self.url.split("/")[2] if "//" in self.url else ""
        return KNOWN_CAA_IDENTITIES.get(host, ())


def check_directory(
    url: str,
    settings: Settings,
    profiles_asked: Mapping[str, Sequence[str]],
    eab_secret_exists: Callable[[str], bool],
) -> tuple[list[Finding], Directory | None]:
    """The CA's directory: it answers, its terms, EAB when it requires it, the profiles asked for exist.
    `profiles_asked`: profile -> the certificates asking for it (ACME_PROFILE counts as every one)."""
    try:
        response = requests.get(url, timeout=10, headers={"User-Agent": "certrotate-doctor"})
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        return [Finding("ca", Severity.PROBLEM, f"the ACME directory {url} does not answer: {exc}")], None
    meta = document.get("meta") or {} if isinstance(document, dict) else {}
    directory = Directory(url, meta)
    findings = [Finding("ca", Severity.OK, f"the ACME directory {url} answers")]
    terms = meta.get("termsOfService")
    if terms:
        findings.append(
            Finding("ca", Severity.NOTE, f"terms of service: {terms} (agreed to at registration)")
        )
    if meta.get("externalAccountRequired"):
        if not settings.acme_eab_secret_id:
            findings.append(
                Finding(
                    "ca",
                    Severity.PROBLEM,
                    "the CA requires External Account Binding and ACME_EAB_SECRET_ID is not set: deploy with "
                    "AcmeEabSecretName naming a secret with the CA's kid and hmac_key",
                )
            )
        elif not eab_secret_exists(settings.acme_eab_secret_id):
            findings.append(
                Finding(
                    "ca", Severity.PROBLEM, f"the EAB secret {settings.acme_eab_secret_id!r} does not exist"
                )
            )
        else:
            findings.append(
                Finding("ca", Severity.OK, "External Account Binding: required, and its secret exists")
            )
    offered = meta.get("profiles")
    for profile, asking in sorted(profiles_asked.items()):
        who = ", ".join(asking)
        if not isinstance(offered, dict):
            findings.append(
                Finding(
                    "ca", Severity.PROBLEM, f"profile {profile!r} is asked for ({who}) but the CA offers none"
                )
            )
        elif profile not in offered:
            choices = ", ".join(sorted(offered)) or "none"
            findings.append(
                Finding(
                    "ca",
                    Severity.PROBLEM,
                    f"the CA offers no profile {profile!r} (asked for by {who}; offered: {choices})",
                )
            )
        else:
            findings.append(Finding("ca", Severity.OK, f"profile {profile!r} is offered"))
    return findings, directory


def profiles_asked(settings: Settings, inventory: Inventory) -> dict[str, list[str]]:
    asked: dict[str, list[str]] = defaultdict(list)
    if settings.acme_profile:
        asked[settings.acme_profile].append("ACME_PROFILE")
    for status in inventory.statuses:
        profile = status.certificate.tags.get(PROFILE_TAG, "").strip()
        if profile and status.decision is not None:
            asked[profile].append(status.name)
    for acm in inventory.acm:
        profile = (acm.certificate.tags or {}).get(PROFILE_TAG, "").strip()
        if profile and acm.decision is not None:
            asked[profile].append(acm.arn)
    return dict(asked)


# -- names: validation and CAA ------------------------------------------------------------------------------


def _active(status: CertificateStatus) -> bool:
    """Managed, and not waiting to be retired (its replacement's names are the ones that matter)."""
    return status.decision is not None and not status.certificate.replaced_by


def check_names(
    inventory: Inventory,
    zones: Sequence[HostedZone],
    http01: Http01Listeners,
    *,
    caa_lookup: caa.Lookup | None,
    identities: Sequence[str],
) -> tuple[list[Finding], dict[str, list[tuple[Endpoint, str]]]]:
    """Every name of every managed certificate: how it would be validated (or why it cannot be), and whether
    its CAA allows the CA. Returns the findings and, per ALB, the HTTP-01 names it would answer."""
    findings: list[Finding] = []
    http01_names: dict[str, list[tuple[Endpoint, str]]] = defaultdict(list)
    for status in inventory.statuses:
        if not _active(status):
            continue
        if status.refused:  # a name outside ACCOUNT_DOMAINS, an IP address, ...: no order at all
            findings.append(Finding("names", Severity.PROBLEM, f"{status.name}: {status.refused}"))
            continue
        plan, problems = challenge_plan(status, zones, http01)
        if plan is None:
            findings.extend(
                Finding("names", Severity.PROBLEM, f"{status.name}: {problem}") for problem in problems
            )
            continue
        methods = sorted({route.method.value for route in plan.routes})
        findings.append(
            Finding(
                "names",
                Severity.OK,
                f"{status.name}: {len(plan.routes)} name(s) validated by {' and '.join(methods) or '-'}",
            )
        )
        for route in plan.routes:
            if route.method is ChallengeMethod.HTTP_01:
                for listener in route.listeners:
                    endpoint = Endpoint(
                        EndpointKind.ELBV2_LISTENER,
                        listener.region,
                        listener.listener_arn,
                        listener.load_balancer,
                        None,
                    )
                    http01_names[listener.load_balancer].append((endpoint, route.name))
        findings.extend(
            _caa(status.name, [(r.name, r.method.value) for r in plan.routes], caa_lookup, identities)
        )
    for acm in inventory.acm:
        if acm.decision is None:
            continue
        if acm.refused:
            findings.append(Finding("names", Severity.PROBLEM, f"{acm.arn}: {acm.refused}"))
            continue
        forced, _ = requested_challenge_method(acm.certificate.tags or {})
        acm_plan, acm_problems = plan_challenges(
            acm.arn, acm.dns_names, forced=forced, zones=zones, listeners=[]
        )
        if acm_problems:
            findings.extend(Finding("names", Severity.PROBLEM, f"{acm.arn}: {p}") for p in acm_problems)
            continue
        findings.append(
            Finding("names", Severity.OK, f"{acm.arn}: {len(acm_plan.routes)} name(s) validated by dns-01")
        )
        findings.extend(_caa(acm.arn, [(r.name, "dns-01") for r in acm_plan.routes], caa_lookup, identities))
    return findings, dict(http01_names)


def _caa(
    certificate: str, names: Iterable[tuple[str, str]], lookup: caa.Lookup | None, identities: Sequence[str]
) -> list[Finding]:
    if lookup is None:
        return []
    if not identities:
        return [
            Finding("caa", Severity.WARNING, f"{certificate}: the CA names no CAA identity: CAA not checked")
        ]
    findings: list[Finding] = []
    checked = 0
    for name, method in names:
        try:
            verdict = caa.evaluate(name, lookup, identities=identities, method=method, account_uri=None)
        except Exception as exc:  # a resolver failure: the CA would not issue either (RFC 8659 section 3)
            findings.append(Finding("caa", Severity.WARNING, f"{certificate}: CAA of {name} not read: {exc}"))
            continue
        if not verdict.allowed:
            findings.append(Finding("caa", Severity.PROBLEM, f"{certificate}: {name}: {verdict.reason}"))
        elif verdict.unsure:
            findings.append(Finding("caa", Severity.WARNING, f"{certificate}: {name}: {verdict.reason}"))
        else:
            checked += 1
    if checked and not findings:
        findings.append(
            Finding("caa", Severity.OK, f"{certificate}: CAA allows {' or '.join(identities)} for every name")
        )
    return findings


def dns_caa_lookup(server: str | None, timeout: float = 5.0) -> caa.Lookup:
    """CAA records at one domain from a resolver: the system's, or `server` (HOST or HOST:PORT)."""
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=server is None)
    if server:
        host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
        resolver.nameservers = [host]
        if port:
            resolver.port = int(port)
    resolver.lifetime = timeout

    def lookup(domain: str) -> list[caa.Property]:
        try:
            answer = resolver.resolve(domain, "CAA", raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.DNSException as exc:
            raise RuntimeError(f"{type(exc).__name__} asking {domain} CAA") from None
        if answer.rrset is None:
            return []
        return [
            caa.Property(int(r.flags), r.tag.decode(errors="replace"), r.value.decode(errors="replace"))
            for r in answer.rrset
        ]

    return lookup


# -- quotas --------------------------------------------------------------------------------------------------


def check_quotas(
    inventory: Inventory,
    room: tuple[int, int],
    settings: Settings,
    http01_names: Mapping[str, list[tuple[Endpoint, str]]],
    rules_of: Callable[[str, str], int],
) -> list[Finding]:
    """IAM server certificates, certificates per ALB/NLB where a managed certificate is in an SNI list, and
    listener rules per ALB answering HTTP-01. `rules_of(region, load balancer ARN)`: its non-default rules."""
    findings: list[Finding] = []
    used, quota = room
    if used >= quota:
        findings.append(
            Finding(
                "quota",
                Severity.PROBLEM,
                f"IAM holds {used} of its {quota} server certificates: no room for a replacement (retire "
                "unused ones or raise ServerCertificatesQuota)",
            )
        )
    else:
        findings.append(Finding("quota", Severity.OK, f"IAM server certificates: {used} of {quota} used"))
    managed = {(s.certificate.arn) for s in inventory.statuses if _active(s) and s.decision is not None}
    per_balancer: dict[str, list[Endpoint]] = defaultdict(list)
    for endpoint in inventory.endpoints:
        if endpoint.kind is EndpointKind.ELBV2_LISTENER:
            per_balancer[endpoint.load_balancer].append(endpoint)
    for balancer, listeners in sorted(per_balancer.items()):
        held = sum(len(e.sni_certificates) for e in listeners)
        ours = sorted({c for e in listeners for c in e.sni_certificates if c in managed})
        if not ours or held < CERTIFICATES_PER_LOAD_BALANCER:
            continue
        names = ", ".join(c.rsplit("/", 1)[-1] for c in ours)
        severity = Severity.WARNING if settings.sni_swap_when_full else Severity.PROBLEM
        what = (
            "SNI_SWAP_WHEN_FULL swaps them in place (SNI clients get the default certificate for a moment)"
            if settings.sni_swap_when_full
            else "their rotations would be held (LoadBalancerFull): remove unused certificates, raise the "
            "quota, or deploy with SniSwapWhenFull=true"
        )
        findings.append(
            Finding(
                "quota",
                severity,
                f"load balancer {balancer} holds {held} certificates, its quota of "
                f"{CERTIFICATES_PER_LOAD_BALANCER}: no room to add the replacement of {names} beside it; "
                f"{what}",
            )
        )
    for balancer, routes in sorted(http01_names.items()):
        region = routes[0][0].region
        count = rules_of(region, balancer)
        needed = len({name for _, name in routes})
        if count + needed > RULES_PER_LOAD_BALANCER:
            findings.append(
                Finding(
                    "quota",
                    Severity.PROBLEM,
                    f"load balancer {balancer} holds {count} listener rules: no room for the {needed} "
                    f"HTTP-01 challenge rule(s) (quota {RULES_PER_LOAD_BALANCER})",
                )
            )
    return findings


def count_rules(elbv2: Any, load_balancer: str) -> int:
    """The non-default rules of every listener of a load balancer."""
    total = 0
    for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=load_balancer):
        for listener in page["Listeners"]:
            for rules in elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener["ListenerArn"]):
                total += sum(1 for rule in rules["Rules"] if not rule.get("IsDefault"))
    return total


# -- accounts ------------------------------------------------------------------------------------------------


def check_accounts(settings: Settings, scan: Callable[[], Mapping[str, Any]]) -> list[Finding]:
    """With MANAGED_ACCOUNTS: a dry-run scan (nothing changes) reaches each account through its role."""
    if not settings.many_accounts:
        return []
    try:
        result = scan()
    except (ClientError, BotoCoreError, RuntimeError) as exc:
        return [Finding("accounts", Severity.PROBLEM, f"the dry-run scan failed: {exc}")]
    failed = result.get("failed_accounts") or []
    findings = [
        Finding(
            "accounts",
            Severity.PROBLEM,
            f"account {f.get('account_id')}: not reachable: {f.get('error', '')} {f.get('fix', '')}".strip(),
        )
        for f in failed
    ]
    reached = len(settings.managed_accounts) - len(failed)
    findings.append(
        Finding(
            "accounts",
            Severity.OK if not failed else Severity.NOTE,
            f"{reached} of {len(settings.managed_accounts)} managed account(s) reached by the scan function",
        )
    )
    return findings
