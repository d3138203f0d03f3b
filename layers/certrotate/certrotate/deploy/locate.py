"""Where a certificate is served: the scan's list while fresh, the scan index's record once each endpoint is
read and still serves it, else a search of every region (and CloudFront)."""

from __future__ import annotations

from dataclasses import dataclass

from certrotate.model import Endpoint, EndpointSurvey, ServerCertificate
from certrotate.model.endpoints import KnownEndpoints, confirmed_endpoints, endpoints_serving, record_to_check
from certrotate.ports import Clock, EndpointRecords, Endpoints
from certrotate.report.results import RotationResult


@dataclass(frozen=True, slots=True)
class Located:
    survey: EndpointSurvey  # what was searched (and where the search could not look)
    serving: list[Endpoint]  # the endpoints serving the certificate


class Locator:
    def __init__(self, endpoints: Endpoints, records: EndpointRecords | None, clock: Clock) -> None:
        self._endpoints = endpoints
        self._records = records  # the scan index's endpoint records (None: always search)
        self._clock = clock

    def locate(self, old: ServerCertificate, known: KnownEndpoints | None, result: RotationResult) -> Located:
        """Where the old certificate is served: from a fresh list of the scan's (`known`, in its message)
        without searching every region; else from the scan index's record of its last search, each endpoint
        read and still serving the certificate; else (no record, an old or empty one, or one a check finds
        out of date) from a search. One that started serving it after the scan's search is missed here, but
        never lost: the retirement check searches everywhere, keeps the certificate, and the scan sends a
        rotation for what it found (docs/design.md)."""
        now = self._clock.now()
        if known is not None and known.usable(now):
            result.steps.append(
                f"{len(known.endpoints)} endpoint(s) from the scan's search at {known.seen_at.isoformat()}"
            )
            return Located(EndpointSurvey(known.endpoints), list(known.endpoints))
        record = record_to_check(
            self._records.served(old.certificate_id) if self._records is not None else None, now
        )
        if record is not None:
            reads = [self._endpoints.read(endpoint) for endpoint in record.endpoints]
            confirmed = confirmed_endpoints(reads, old.arn, old.certificate_id)
            if confirmed is not None:
                result.steps.append(
                    f"{len(confirmed)} endpoint(s) from the scan index (search at "
                    f"{record.seen_at.isoformat()}), each read and still serving {old.name}"
                )
                return Located(EndpointSurvey(tuple(confirmed)), confirmed)
            result.steps.append(
                f"the scan index's endpoints (search at {record.seen_at.isoformat()}) no longer all serve "
                f"{old.name}: searching every region"
            )
        return self.search(old)

    def search(self, old: ServerCertificate) -> Located:
        """A search of every region (and CloudFront when the certificate may serve there)."""
        survey = self._endpoints.discover(include_cloudfront=old.for_cloudfront)
        return Located(survey, endpoints_serving(survey.endpoints, old.arn, old.certificate_id))
