"""ACM certificates: listing the imported ones of every region, reading, re-importing in place, tagging.

ListCertificates lists RSA_1024/RSA_2048 certificates only unless Includes.keyTypes names the others (ACM API
reference, Filters), so every key type ACM imports is named. There is no filter on the type: IMPORTED ones are
kept from the summaries' Type. A re-import (ImportCertificate with CertificateArn) never carries tags: ACM
refuses tags in that call ("Reimport a certificate").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.errors import AcmImportConflict, AcmImportQuotaReached, AcmRefusedImport
from certrotate.model import KeyKind, KeySpec, SecretPem
from certrotate.ports import AcmCertificate

if TYPE_CHECKING:  # boto3-stubs: development only, not in the layer
    from mypy_boto3_acm import ACMClient
    from mypy_boto3_acm.literals import KeyAlgorithmType

# ACM's KeyAlgorithm names (ListCertificates Includes.keyTypes, DescribeCertificate) of the keys it imports.
ACM_KEY_ALGORITHMS: dict[str, KeySpec] = {
    "RSA_1024": KeySpec(KeyKind.RSA, 1024),
    "RSA_2048": KeySpec(KeyKind.RSA, 2048),
    "RSA_3072": KeySpec(KeyKind.RSA, 3072),
    "RSA_4096": KeySpec(KeyKind.RSA, 4096),
    "EC_prime256v1": KeySpec(KeyKind.EC, 256),
    "EC_secp384r1": KeySpec(KeyKind.EC, 384),
    "EC_secp521r1": KeySpec(KeyKind.EC, 521),
}


def region_of(arn: str) -> str:
    return arn.split(":")[3]


IMPORTED = "IMPORTED"
_NOT_FOUND = frozenset({"ResourceNotFoundException"})
# How ACM's answers to an import are classed (throttling is botocore's to retry):
# refusals of the certificate itself: the same certificate would meet them again (deterministic);
_REFUSED = frozenset({"ValidationException", "InvalidParameterException", "InvalidArnException"})
# its quota of imports in the last 365 days: time or a raised quota frees room (held for a time). botocore's
# standard retry mode reads LimitExceededException as throttling and would repeat a refused import eight
# times over half a minute: imports go through a client without botocore retries (`import_client_for`), and
# this adapter retries what is transient itself;
_QUOTA = "LimitExceededException"
# transient: "already being created or updated" (ConflictException), throttling, ACM's own failures: retried
# here with backoff, bounded by attempts and the caller's deadline, then left to a redelivery.
_TRANSIENT = frozenset(
    {
        "ConflictException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestInProgressException",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
IMPORT_ATTEMPTS = 5
IMPORT_FIRST_WAIT = 1.0  # seconds, doubled per try: 1 + 2 + 4 + 8 = 15 s at most


class _Regions(Protocol):
    def regions(self) -> tuple[str, ...]: ...


class AcmCertificateStore:
    """`client_for(region)` gives the ACM client of a region (ACM is regional: a certificate lives in one)."""

    def __init__(
        self,
        regions: _Regions,
        client_for: Callable[[str], ACMClient],
        *,
        import_client_for: Callable[[str], ACMClient] | None = None,  # without botocore's retries
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._regions = regions
        self._client_for = client_for
        self._import_client_for = import_client_for or client_for
        self._sleep = sleep
        self._monotonic = monotonic

    def regions(self) -> tuple[str, ...]:
        return self._regions.regions()

    def list_imported(self, region: str) -> list[AcmCertificate]:
        paginator = self._client_for(region).get_paginator("list_certificates")
        found: list[AcmCertificate] = []
        key_types: list[KeyAlgorithmType] = [cast("KeyAlgorithmType", name) for name in ACM_KEY_ALGORITHMS]
        for page in paginator.paginate(Includes={"keyTypes": key_types}):
            for summary in page.get("CertificateSummaryList", []):
                if summary.get("Type") == IMPORTED:
                    found.append(_certificate(summary, region))
        return found

    def describe(self, arn: str) -> AcmCertificate | None:
        client = self._client_for(region_of(arn))
        try:
            described = client.describe_certificate(CertificateArn=arn)["Certificate"]
            tags = client.list_tags_for_certificate(CertificateArn=arn).get("Tags", [])
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise
        return replace(
            _certificate(described, region_of(arn)), tags={t["Key"]: t.get("Value", "") for t in tags}
        )

    def tags_of(self, arn: str) -> dict[str, str]:
        tags = self._client_for(region_of(arn)).list_tags_for_certificate(CertificateArn=arn).get("Tags", [])
        return {t["Key"]: t.get("Value", "") for t in tags}

    def body(self, arn: str) -> str:
        return str(self._client_for(region_of(arn)).get_certificate(CertificateArn=arn)["Certificate"])

    def reimport(
        self,
        arn: str,
        *,
        body_pem: str,
        chain_pem: str,
        private_key_pem: SecretPem,
        deadline: float | None = None,
    ) -> None:
        """ImportCertificate over `arn`. Raises AcmRefusedImport (the certificate is refused: deterministic),
        AcmImportQuotaReached (the yearly quota), AcmImportConflict (ACM stayed busy or throttled through
        IMPORT_ATTEMPTS tries, backing off, and never past `deadline`, a monotonic time); botocore's errors
        otherwise."""
        wait = IMPORT_FIRST_WAIT
        for attempt in range(1, IMPORT_ATTEMPTS + 1):
            try:
                self._import_client_for(region_of(arn)).import_certificate(
                    CertificateArn=arn,
                    Certificate=body_pem.encode(),
                    PrivateKey=bytes(private_key_pem),
                    CertificateChain=chain_pem.encode(),
                )
                return
            except ClientError as exc:
                code = error_code(exc)
                # ACM's message names the certificate's fields, never the key.
                message = str(exc.response.get("Error", {}).get("Message", ""))[:300] or code
                if code in _REFUSED:
                    raise AcmRefusedImport(arn, message) from None
                if code == _QUOTA:
                    raise AcmImportQuotaReached(arn, message) from None
                if code not in _TRANSIENT:
                    raise
                out_of_time = deadline is not None and self._monotonic() + wait > deadline
                if attempt == IMPORT_ATTEMPTS or out_of_time:
                    raise AcmImportConflict(arn, f"{code}: {message}", attempt) from None
            self._sleep(wait)
            wait *= 2

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        self._client_for(region_of(arn)).add_tags_to_certificate(
            CertificateArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )

    def untag(self, arn: str, keys: Sequence[str]) -> None:
        if keys:
            # RemoveTagsFromCertificate removes a key whatever its value when the value is left out.
            self._client_for(region_of(arn)).remove_tags_from_certificate(
                CertificateArn=arn, Tags=[{"Key": k} for k in keys]
            )


def _certificate(data: Mapping[str, Any], region: str) -> AcmCertificate:
    return AcmCertificate(
        arn=str(data["CertificateArn"]),
        region=region,
        type=str(data.get("Type", "")),
        key_algorithm=str(data.get("KeyAlgorithm", "")),
        not_after=_time(data.get("NotAfter")),
        not_before=_time(data.get("NotBefore")),
        serial=str(data.get("Serial", "")),
        in_use_by=tuple(data.get("InUseBy", ())),
        imported=data.get("Type") == IMPORTED,
    )


def _time(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None
