"""The endpoints serving certificates: where they are, and where the scan last saw them."""

from __future__ import annotations

from typing import Protocol

from certrotate.model import (
    Endpoint,
    EndpointChange,
    EndpointSurvey,
    KnownEndpoints,
)


class Endpoints(Protocol):
    """Every place that can serve a certificate: load balancer listeners in each region, CloudFront."""

    # every endpoint found, and the regions (or CloudFront) that could not be searched
    def discover(self, *, include_cloudfront: bool) -> EndpointSurvey: ...
    def read(self, endpoint: Endpoint) -> Endpoint | None: ...  # its state now (None: it is gone)
    def apply(self, change: EndpointChange, *, deadline: float) -> Endpoint | None: ...


class EndpointRecords(Protocol):
    """Where the scan's last complete search saw a certificate served, as its index keeps it (one read)."""

    def served(self, certificate_id: str) -> KnownEndpoints | None: ...  # None: no record, or unreadable
