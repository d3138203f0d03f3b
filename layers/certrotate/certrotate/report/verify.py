"""Check over TLS that every endpoint serving a certificate really serves it (the `verify` use case).

Used by the command line (`certrotate verify`) and, when enabled, by a rotation after it repointed the
endpoints: there it is a report (a metric and a warning), never a gate, because load balancers take a
little while to propagate a change to all their nodes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from certrotate.errors import UnknownCertificate
from certrotate.model import Endpoint, EndpointKind, ServerCertificate
from certrotate.model.endpoints import endpoints_serving
from certrotate.ports import CertificateStore, Endpoints
from certrotate.report.served import (
    CheckResult,
    CheckStatus,
    ExpectedCertificate,
    Presented,
    candidates,
    compare,
    server_names,
)

if TYPE_CHECKING:
    from certrotate.report.results import RotationResult

log = logging.getLogger(__name__)

# (host, port, server name) -> DER of the certificates sent, leaf first; raises OSError when unreachable.
Fetch = Callable[[str, int, str], list[bytes]]


class PemReader(Protocol):
    def pem(self, name: str) -> tuple[str, str | None] | None: ...  # (body, chain) of an IAM certificate


class AddressBook(Protocol):
    def address_of(self, endpoint: Endpoint) -> _Address | None: ...


class _Address(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def load_balancer_name(self) -> str: ...


class EndpointChecker:
    def __init__(
        self,
        *,
        store: CertificateStore,
        pems: PemReader,
        endpoints: Endpoints,
        addresses: AddressBook,
        fetch: Fetch,
    ) -> None:
        self._store = store
        self._pems = pems
        self._endpoints = endpoints
        self._addresses = addresses
        self._fetch = fetch
        self._expected: dict[str, ExpectedCertificate | None] = {}

    def check(
        self,
        certificate_name: str,
        *,
        certificates: Sequence[ServerCertificate] | None = None,
        endpoints: Sequence[Endpoint] | None = None,
    ) -> list[CheckResult]:
        """One result per endpoint serving the certificate and name of the certificate. `certificates` and
        `endpoints` may be passed when already listed (every IAM certificate; every endpoint)."""
        listed = list(certificates) if certificates is not None else self._store.list_certificates()
        by_name = {c.name: c for c in listed}
        target = by_name.get(certificate_name)
        if target is None:
            raise UnknownCertificate(certificate_name)
        if not target.tags:  # listings carry no tags; the one naming the certificate it replaces is wanted
            target = replace(target, tags=self._store.tags_of(target.name))
        if endpoints is None:
            endpoints = self._endpoints.discover(include_cloudfront=target.for_cloudfront).endpoints
        expected = self._expect(target)
        if expected is None:
            raise UnknownCertificate(certificate_name)
        by_reference = {c.arn: c for c in listed} | {c.certificate_id: c for c in listed}
        replaced = by_name.get(target.replaces or "")
        results: list[CheckResult] = []
        for endpoint in endpoints_serving(endpoints, target.arn, target.certificate_id):
            address = self._addresses.address_of(endpoint)
            if address is None:
                continue  # deleted since it was listed
            default = self._reference(endpoint.default_certificate, by_reference)
            sni = [
                e
                for e in (self._reference(r, by_reference) for r in endpoint.sni_certificates)
                if e is not None
            ]
            known = [e for e in (self._expect(replaced) if replaced else None,) if e is not None]
            label = describe(endpoint, address)
            for host in server_names(expected.leaf.dns_names):
                allowed = candidates(host, default, sni)
                where = f"{address.host}:{address.port}"
                try:
                    presented = Presented.from_der(self._fetch(address.host, address.port, host))
                except (OSError, ValueError) as exc:
                    results.append(
                        compare(
                            endpoint=label,
                            address=where,
                            server_name=host,
                            expected=expected,
                            allowed=allowed,
                            presented=None,
                            error=f"{type(exc).__name__}: {exc}",
                        )
                    )
                    continue
                results.append(
                    compare(
                        endpoint=label,
                        address=where,
                        server_name=host,
                        expected=expected,
                        allowed=allowed,
                        presented=presented,
                        known=known,
                    )
                )
        return results

    def _reference(
        self, reference: str | None, by_reference: dict[str, ServerCertificate]
    ) -> ExpectedCertificate | None:
        certificate = by_reference.get(reference or "")
        return self._expect(certificate) if certificate is not None else None

    def _expect(self, certificate: ServerCertificate) -> ExpectedCertificate | None:
        if certificate.name not in self._expected:
            pem = self._pems.pem(certificate.name)
            self._expected[certificate.name] = (
                None
                if pem is None
                else ExpectedCertificate.from_pem(certificate.name, certificate.arn, pem[0], pem[1])
            )
        return self._expected[certificate.name]


def describe(endpoint: Endpoint, address: _Address) -> str:
    """A short label: `alb|nlb|classic <name>:<port> (<region>)` or `cloudfront <id>`."""
    if endpoint.kind is EndpointKind.CLOUDFRONT:
        return f"cloudfront {endpoint.resource_id}"
    return f"{address.kind} {address.load_balancer_name}:{address.port} ({endpoint.region})"


# Seconds of Lambda time the check needs at least; with less, it is skipped (the rotation comes first).
TIME_TO_CHECK = 30.0


@dataclass(frozen=True, slots=True)
class EndpointReport:
    verified: int  # endpoints whose every handshake served the certificate
    mismatches: int  # endpoints where a handshake served something else
    unreachable: int  # endpoints where a handshake did not complete
    problems: tuple[CheckResult, ...]


def summarize(results: Sequence[CheckResult]) -> EndpointReport:
    by_endpoint: dict[str, list[CheckResult]] = {}
    for result in results:
        by_endpoint.setdefault(result.endpoint, []).append(result)
    verified = mismatches = unreachable = 0
    for checks in by_endpoint.values():
        if any(c.status.is_mismatch for c in checks):
            mismatches += 1
        elif any(c.status is CheckStatus.UNREACHABLE for c in checks):
            unreachable += 1
        else:
            verified += 1
    problems = tuple(r for r in results if r.status.is_mismatch or r.status is CheckStatus.UNREACHABLE)
    return EndpointReport(verified, mismatches, unreachable, problems)


def report_after_repoint(
    checker: Callable[[], EndpointChecker],
    emit: Callable[[EndpointReport], None],
    certificate: ServerCertificate,
    result: RotationResult,
    deadline: float,
) -> None:
    """The rotation's post-repoint check: logs a warning per endpoint that does not serve `certificate` yet,
    emits the counts, notes one step. Never raises: the rotation's outcome does not depend on it."""
    if deadline - time.monotonic() < TIME_TO_CHECK:
        result.steps.append("endpoint check skipped: too little time left")
        return
    try:
        report = summarize(checker().check(certificate.name))
    except Exception as exc:  # a report must not fail the rotation it reports on
        log.warning("endpoint check failed", extra={"error": type(exc).__name__, "reason": str(exc)})
        return
    for problem in report.problems:
        log.warning("endpoint does not serve the new certificate yet", extra={"check": problem.as_dict()})
    emit(report)
    result.steps.append(
        f"checked over TLS: {report.verified} endpoint(s) serve {certificate.name}, "
        f"{report.mismatches} serve something else, {report.unreachable} unreachable"
    )
