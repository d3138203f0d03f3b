"""How each name is validated (DNS-01 where a public zone holds it, else HTTP-01 on the load balancer), and
the records and listener rules that answer an order's challenges. Pure: the zones and listeners are inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from certrotate.model import (
    ChallengeAnswer,
    ChallengeMethod,
    ChallengePlan,
    ChallengeRoute,
    DnsRecord,
    HostedZone,
    HttpListener,
)
from certrotate.model.challenges import challenge_record_name, challenge_zone
from certrotate.names import CHALLENGE_TAG

# --- choosing how each name is validated -----------------------------------------------------------------

CHALLENGE_METHODS = {method.value: method for method in ChallengeMethod}
# An ALB host-header condition value "can be up to 128 characters in length" (ALB guide, host conditions).
MAX_HOST_CONDITION = 128


def requested_challenge_method(tags: Mapping[str, str]) -> tuple[ChallengeMethod | None, str]:
    """The method the tag certrotate:challenge forces (None: choose per name), and the raw value when it
    names no method (else "")."""
    raw = tags.get(CHALLENGE_TAG, "").strip().lower()
    if not raw:
        return None, ""
    method = CHALLENGE_METHODS.get(raw)
    return (method, "") if method else (None, raw)


def needs_http01(names: Iterable[str], forced: ChallengeMethod | None, zones: Sequence[HostedZone]) -> bool:
    """Whether choosing needs the port-80 listeners at all (reading them costs ELB calls)."""
    if forced is ChallengeMethod.DNS_01:
        return False
    return forced is ChallengeMethod.HTTP_01 or any(challenge_zone(n, zones) is None for n in names)


def plan_challenges(
    certificate: str,
    names: Iterable[str],
    *,
    forced: ChallengeMethod | None,
    zones: Sequence[HostedZone],
    listeners: Sequence[HttpListener],
    left_by: Sequence[str] = (),
) -> tuple[ChallengePlan, list[str]]:
    """Each name's route: DNS-01 where a public Route 53 zone holds it, else HTTP-01 on every port-80
    listener of the ALBs serving the certificate (the CA reaches whichever the name points at); `forced`
    (the tag) takes one method for all. Wildcards only by DNS-01 (RFC 8555 section 7.1.3).
    Returns the plan and, for each name no method can answer, why (then nothing may be ordered)."""
    routes: list[ChallengeRoute] = []
    problems: list[str] = []
    http_listeners = tuple(dict.fromkeys(listeners))
    for raw in names:
        name = raw.rstrip(".").lower()
        wildcard = name.startswith("*.")
        zone = challenge_zone(name, zones)
        if forced is ChallengeMethod.DNS_01 or (forced is None and zone is not None):
            if zone is None:
                problems.append(
                    f"{name}: {CHALLENGE_TAG}=dns-01 but no public Route 53 hosted zone holds "
                    f"{challenge_record_name(name)}"
                )
            else:
                routes.append(ChallengeRoute(name, ChallengeMethod.DNS_01, zone=zone))
        elif wildcard:
            why = f"{CHALLENGE_TAG}=http-01 cannot" if forced else "HTTP-01 cannot"
            problems.append(
                f"{name} is a wildcard: it needs DNS-01 ({why} validate a wildcard), and no public Route 53 "
                f"hosted zone holds {challenge_record_name(name)}"
            )
        elif http_listeners and len(name) > MAX_HOST_CONDITION:
            problems.append(
                f"{name} is longer than the {MAX_HOST_CONDITION} characters an ALB host-header condition "
                "holds: HTTP-01 on the load balancer cannot answer it, and no public Route 53 hosted zone "
                f"holds {challenge_record_name(name)}"
            )
        elif http_listeners:
            routes.append(ChallengeRoute(name, ChallengeMethod.HTTP_01, listeners=http_listeners))
        elif forced is ChallengeMethod.HTTP_01:
            problems.append(
                f"{name}: {CHALLENGE_TAG}=http-01 but no Application Load Balancer serving the certificate "
                "has an HTTP listener on port 80"
            )
        else:
            problems.append(
                f"no public Route 53 hosted zone holds {name!r} (DNS-01) and no Application Load Balancer "
                "serving the certificate has an HTTP listener on port 80 (HTTP-01)"
            )
    return ChallengePlan(certificate, tuple(routes), tuple(o for o in left_by if o != certificate)), problems


def dns_records(plan: ChallengePlan, answers: Iterable[ChallengeAnswer]) -> list[DnsRecord]:
    """The TXT record sets answering the DNS-01 answers: an apex and its wildcard share one set."""
    values: dict[str, list[str]] = {}
    zones: dict[str, str] = {}
    for answer in answers:
        route = plan.route(answer.name)
        if route.method is not ChallengeMethod.DNS_01 or route.zone is None:
            continue
        record = challenge_record_name(answer.name)
        values.setdefault(record, []).append(answer.validation)
        zones[record] = route.zone.zone_id
    return [DnsRecord(zones[r], r, tuple(dict.fromkeys(v))) for r, v in values.items()]
