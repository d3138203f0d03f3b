"""IAM as the scan reads it: the server certificates (every page), their tags, their bodies, and the
bookkeeping claims on them as far as their progress records prove them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from certrotate.check.certificates import facts_of
from certrotate.check.claims import BOOKKEEPING_TAGS
from certrotate.check.verifier import ClaimVerifier, believe
from certrotate.decide.naming import replacement_name
from certrotate.errors import ValidationFailed
from certrotate.model import ServerCertificate
from certrotate.model.scan_index import IndexedFacts
from certrotate.names import RENEWAL_TAG
from certrotate.ports import CertificateStore

logger = Logger(child=True)


class IamListing:
    """IAM server certificates: renewed beside the old one (a new name), so the scan searches where each is
    served, keeps an index, and finishes the retirements rotations left pending."""

    subject_field = "certificate_name"
    beside = True  # renewed beside the old certificate: searched, indexed, retired
    binds_renewal_tag = False  # a re-upload is a new certificate ID: its tags are its own
    renewal_tag_keeps_ask = False  # the scan index keeps `ask`

    def __init__(self, store: CertificateStore, claims: ClaimVerifier | None) -> None:
        self._store = store
        # None (no lease table): no progress record to read, so no bookkeeping claim can be proven.
        self._claims = claims

    def list_certificates(self, notes: list[str]) -> list[ServerCertificate]:
        return self._store.list_certificates()

    def read_tags(
        self, certificates: Sequence[ServerCertificate], notes: list[str]
    ) -> dict[str, ServerCertificate]:
        if not certificates:
            return {}
        tags = self._store.tags_of_many([c.name for c in certificates])
        return {c.certificate_id: replace(c, tags=tags[c.name]) for c in certificates}

    def facts(self, cert: ServerCertificate, now: datetime) -> tuple[IndexedFacts | None, str | None]:
        stored = self._store.get(cert.name)
        if stored is None:
            return None, None
        try:
            read = facts_of(stored.body_pem)
        except ValidationFailed as error:
            return None, f"{cert.name}: {error}"
        return IndexedFacts(read.not_before or cert.upload_date or now, read.ari_id), None

    def write_renewal(self, cert: ServerCertificate, value: str) -> None:
        self._store.tag(cert.name, {RENEWAL_TAG: value})

    def room(self) -> tuple[int, int] | None:
        return self._store.room()

    def delete(self, name: str) -> bool:
        return self._store.delete(name)

    def believe(
        self, certificates: Sequence[ServerCertificate], notes: list[str]
    ) -> tuple[list[ServerCertificate], list[dict[str, Any]], set[str]]:
        """Each managed certificate tagged as replaced, as far as its claim is proven
        (check.verifier.believe): proven, it is pending retirement or a rotation to resume, served since when
        its record says; not proven, the claim is reported (`untrusted`, a note, a WARNING) and the
        certificate is treated as not replaced, so nothing is resumed, repointed or retired on it. Returns the
        certificates, the reports and the names whose claim only `force` may adopt (not sent: the rotation
        would refuse them too)."""
        names = {c.name for c in certificates}
        trusted: list[ServerCertificate] = []
        untrusted: list[dict[str, Any]] = []
        adoptable: set[str] = set()
        for cert in certificates:
            # The name certrotate gives a replacement counts only beside a tag's claim: an untagged
            # certificate is never replaced on a name alone (a rotation adopts such an upload only by force).
            tagged = any(tag in cert.tags for tag in BOOKKEEPING_TAGS)
            listed = tagged and replacement_name(cert.name, cert.certificate_id) in names
            believed = believe(self._claims, cert, replacement_listed=listed)
            trusted.append(believed.view)
            for report in believed.unproven:
                untrusted.append(report.as_dict())
                claim = f"the claim that {report.claimed} replaces it is not proven"
                notes.append(f"{cert.name}: {claim} ({report.reason})")
                logger.warning(
                    "a claim that is not proven is reported and ignored",
                    extra={
                        "certificate_name": cert.name,
                        "claimed_replacement": report.claimed,
                        "reason": report.reason,
                    },
                )
                if report.adoptable:
                    adoptable.add(cert.name)
        return trusted, untrusted, adoptable
