"""The changes that move every endpoint from the old certificate to the new one, and how to tell, read back,
that each took effect and touched nothing else. Pure: endpoints are read and written elsewhere."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from certrotate.model import ChangeKind, Endpoint, EndpointChange
from certrotate.model.endpoints import reference_for


def plan_endpoint_changes(
    endpoints: Iterable[Endpoint], *, old_arn: str, old_id: str, new_arn: str, new_id: str
) -> list[EndpointChange]:
    """The changes that make every endpoint serve the new certificate wherever it served the old one.

    A default certificate is swapped in one call. In an SNI list the new one is added before the old one is
    removed, so a client never meets a listener without a matching certificate. Everything else on the
    endpoint stays as it is. Endpoints already converted produce no change (reruns are no-ops).
    """
    changes: list[EndpointChange] = []
    for endpoint in endpoints:
        old = reference_for(endpoint, old_arn, old_id)
        new = reference_for(endpoint, new_arn, new_id)
        if endpoint.default_certificate == old:
            changes.append(EndpointChange(endpoint, ChangeKind.SET_DEFAULT, new))
        if old in endpoint.sni_certificates:
            if new not in endpoint.sni_certificates and endpoint.default_certificate != new:
                changes.append(EndpointChange(endpoint, ChangeKind.ADD_SNI, new))
            changes.append(EndpointChange(endpoint, ChangeKind.REMOVE_SNI, old))
    return changes


def change_applied(change: EndpointChange, after: Endpoint) -> bool:
    """Whether an endpoint read back after a change shows the change took effect."""
    if change.kind is ChangeKind.SET_DEFAULT:
        return after.default_certificate == change.certificate
    if change.kind is ChangeKind.ADD_SNI:
        return change.certificate in after.sni_certificates
    return change.certificate not in after.sni_certificates


def others_unchanged(before: Endpoint, after: Endpoint, touched: Sequence[str]) -> bool:
    """Certificates that the rotation did not touch are still there, exactly as before."""
    keep = set(touched)
    before_rest = {c for c in (before.default_certificate, *before.sni_certificates) if c and c not in keep}
    after_rest = {c for c in (after.default_certificate, *after.sni_certificates) if c and c not in keep}
    return before_rest == after_rest


def uncovered_aliases(aliases: Iterable[str], dns_names: Iterable[str]) -> list[str]:
    """The aliases (CloudFront alternate domain names) that no certificate name covers; a wildcard covers
    exactly one label (`*.example.com` covers `www.example.com`, not `example.com` nor `a.b.example.com`)."""
    names = {n.rstrip(".").lower() for n in dns_names}
    missing = []
    for alias in aliases:
        wanted = alias.rstrip(".").lower()
        parent = wanted.split(".", 1)[1] if "." in wanted else ""
        if wanted in names or (parent and f"*.{parent}" in names and not wanted.startswith("*.")):
            continue
        missing.append(alias)
    return missing
