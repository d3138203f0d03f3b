"""ACM as the scan reads it: the imported certificates of every region the stack looks at, their tags and
their bodies. Each is seen as the decide/ rules read it (`AcmCertificate.as_certificate`: name = ARN), so that
the scan's sweep decides, learns and enqueues for it as for an IAM certificate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from certrotate.check.certificates import facts_of
from certrotate.errors import RegionDiscoveryFailed, ValidationFailed
from certrotate.model import ServerCertificate
from certrotate.model.scan_index import IndexedFacts
from certrotate.names import RENEWAL_TAG
from certrotate.ports import AcmCertificate, AcmCertificates


class AcmListing:
    """ACM imported certificates: renewed in place (a re-import keeps the ARN and what uses it), so there is
    no search, no index, no retirement; a re-import keeps the tags, so the renewal tag names the certificate
    it was learnt for and keeps its own `ask`."""

    subject_field = "certificate_arn"
    beside = False  # renewed in place: nothing to search, index or retire
    binds_renewal_tag = True  # a re-import keeps the tags: the tag names the certificate it is about
    renewal_tag_keeps_ask = True  # no scan index keeps ACM's `ask`: the tag does

    def __init__(self, certificates: AcmCertificates) -> None:
        self._acm = certificates

    def list_certificates(self, notes: list[str]) -> list[ServerCertificate]:
        """Every imported certificate with a NotAfter, tags not read yet."""
        try:
            regions = self._acm.regions()
        except RegionDiscoveryFailed as exc:
            notes.append(f"ACM certificates not listed: {exc}")
            return []
        found: list[AcmCertificate] = []
        for region in regions:
            try:
                found.extend(self._acm.list_imported(region))
            except Exception as exc:  # one region's refusal must not hide the others
                notes.append(f"ACM certificates in {region} not listed: {exc}")
        return [cert.as_certificate() for cert in found if cert.not_after is not None]

    def read_tags(
        self, certificates: Sequence[ServerCertificate], notes: list[str]
    ) -> dict[str, ServerCertificate]:
        """One certificate whose tags cannot be read (deleted since listed, or refused) is left out."""
        read: dict[str, ServerCertificate] = {}
        for view in certificates:
            try:
                tags = self._acm.tags_of(view.arn)
            except Exception as error:  # one certificate, not the scan
                notes.append(f"{view.arn}: tags not read ({type(error).__name__}: {error})")
                continue
            cert = _with_tags(view, tags)
            seen = cert.as_certificate()
            if seen.managed and cert.ignored_claims:
                notes.append(
                    f"{view.arn}: {', '.join(cert.ignored_claims)} ignored: an ACM certificate is renewed "
                    "in place, never replaced nor rolled back (someone else wrote it)"
                )
            read[view.certificate_id] = seen
        return read

    def facts(self, cert: ServerCertificate, now: datetime) -> tuple[IndexedFacts | None, str | None]:
        try:
            read = facts_of(self._acm.body(cert.arn))
        except ValidationFailed as error:
            return None, f"{cert.arn}: {error}"
        except Exception as error:  # deleted since listed, or refused: the lifetime rule from its listing
            return None, f"{cert.arn}: body not read ({type(error).__name__}: {error})"
        return IndexedFacts(read.not_before or cert.upload_date or now, read.ari_id), None

    def write_renewal(self, cert: ServerCertificate, value: str) -> None:
        self._acm.tag(cert.arn, {RENEWAL_TAG: value})

    def believe(
        self, certificates: Sequence[ServerCertificate], notes: list[str]
    ) -> tuple[list[ServerCertificate], list[dict[str, Any]], set[str]]:
        """Nothing to prove: the claims an ACM certificate could carry (replaced-by, rolled-back) are left out
        of its view and reported when it is read (`read_tags`)."""
        return list(certificates), [], set()

    def room(self) -> tuple[int, int] | None:
        return None  # the report's server_certificates and quota are IAM's (the contract)


def _with_tags(view: ServerCertificate, tags: dict[str, str]) -> AcmCertificate:
    """The listed certificate (as its view keeps it: ARN, NotAfter, NotBefore) with its tags, as ACM has them;
    what the view leaves out (region, key algorithm) no rule of the scan reads."""
    return AcmCertificate(
        arn=view.arn,
        region="",
        type="IMPORTED",
        key_algorithm="",
        not_after=view.expiration,
        not_before=view.upload_date,
        tags=tags,
    )
