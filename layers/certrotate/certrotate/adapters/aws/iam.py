"""IAM server certificates."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.errors import CertificateAlreadyExists, UploadRefused
from certrotate.model import SecretPem, ServerCertificate
from certrotate.ports import StoredCertificate

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import ServerCertificateTypeDef

# IAM's answers to an upload that no retry changes: the certificate, key, name, path or tags are refused.
UPLOAD_REFUSALS = frozenset({"MalformedCertificate", "KeyPairMismatch", "InvalidInput", "ValidationError"})
TAG_READERS = 8  # concurrent ListServerCertificateTags calls during a scan (IAM's API rate is shared)
# A rotation's look at the quota before it orders (`room(kept=True)`) may answer from the container's last
# reading of GetAccountSummary (docs/design.md, "The quota's room, read once a minute"): one at most
# ROOM_KEPT seconds old that showed more than ROOM_RESERVE free, less what this container uploaded since.
# The reserve is what the whole fleet could upload meanwhile: RotationMaximumConcurrency's maximum of
# containers, each at most one upload per rotation of at least 2 s (10 x 60 / 2). Below it, read again.
ROOM_KEPT = 60.0
ROOM_RESERVE = 300


def _metadata(meta: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> ServerCertificate:
    return ServerCertificate(
        name=meta["ServerCertificateName"],
        arn=meta["Arn"],
        certificate_id=meta["ServerCertificateId"],
        path=meta.get("Path", "/"),
        expiration=meta["Expiration"],
        upload_date=meta.get("UploadDate"),
        tags=dict(tags or {}),
    )


class IamCertificateStore:
    def __init__(self, client: IAMClient, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._iam = client
        self._monotonic = monotonic
        self._room: tuple[float, int, int] | None = None  # (monotonic time read, held, quota)
        self._uploaded_since = 0  # by this container, since `_room` was read

    def list_certificates(self) -> list[ServerCertificate]:
        found: list[ServerCertificate] = []
        for page in self._iam.get_paginator("list_server_certificates").paginate():
            found.extend(_metadata(m) for m in page["ServerCertificateMetadataList"])
        return found

    def tags_of(self, name: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        for page in self._iam.get_paginator("list_server_certificate_tags").paginate(
            ServerCertificateName=name
        ):
            tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        return tags

    def tags_of_many(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """IAM lists no tags with certificates: one call each, several at once (boto3 clients are thread-safe;
        throttling is retried by botocore). A scan of thousands of certificates fits its timeout this way.
        A certificate deleted since it was listed (a retirement, another team's tooling) has no tags: nothing
        is done to it, and the others' scan goes on."""
        if len(names) <= 1:
            return {name: self._tags_unless_gone(name) for name in names}
        with ThreadPoolExecutor(max_workers=TAG_READERS, thread_name_prefix="iam-tags") as pool:
            return dict(zip(names, pool.map(self._tags_unless_gone, names), strict=True))

    def _tags_unless_gone(self, name: str) -> dict[str, str]:
        try:
            return self.tags_of(name)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return {}
            raise

    def _fetch(self, name: str) -> ServerCertificateTypeDef | None:
        """GetServerCertificate's ServerCertificate (None: no such certificate)."""
        try:
            return self._iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise

    def get(self, name: str) -> StoredCertificate | None:
        certificate = self._fetch(name)
        if certificate is None:
            return None
        tags = certificate.get("Tags")
        tag_map = {t["Key"]: t["Value"] for t in tags} if tags else self.tags_of(name)
        return StoredCertificate(
            metadata=_metadata(certificate["ServerCertificateMetadata"], tag_map),
            body_pem=certificate["CertificateBody"],
            chain_pem=certificate.get("CertificateChain") or "",
        )

    def read(self, name: str) -> tuple[StoredCertificate, str | None] | None:
        """The certificate, its tags, body and chain in one GetServerCertificate (which carries the tags;
        none listed: it has none), for readers of many certificates (the command line's status)."""
        certificate = self._fetch(name)
        if certificate is None:
            return None
        tags = {t["Key"]: t["Value"] for t in certificate.get("Tags") or []}
        stored = StoredCertificate(
            metadata=_metadata(certificate["ServerCertificateMetadata"], tags),
            body_pem=certificate["CertificateBody"],
        )
        return stored, certificate.get("CertificateChain")

    def pem(self, name: str) -> tuple[str, str | None] | None:
        """(body, chain) as IAM holds them: what an endpoint serving the certificate should send."""
        certificate = self._fetch(name)
        if certificate is None:
            return None
        return certificate["CertificateBody"], certificate.get("CertificateChain")

    def upload(
        self,
        *,
        name: str,
        path: str,
        body_pem: str,
        chain_pem: str,
        private_key_pem: SecretPem,
        tags: Mapping[str, str],
    ) -> ServerCertificate:
        try:
            response = self._iam.upload_server_certificate(
                Path=path,
                ServerCertificateName=name,
                CertificateBody=body_pem,
                PrivateKey=bytes(private_key_pem).decode(),
                CertificateChain=chain_pem,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except ClientError as exc:
            if error_code(exc) == "EntityAlreadyExists":
                raise CertificateAlreadyExists(name) from None
            if error_code(exc) == "LimitExceeded":
                self._room = None  # the quota filled under a kept reading: the next look reads it
            # Never chain the original: botocore errors can quote request parameters.
            message = exc.response.get("Error", {}).get("Message", "")
            if error_code(exc) in UPLOAD_REFUSALS:
                raise UploadRefused(
                    f"IAM refused the upload of {name!r}: {error_code(exc)} {message}"
                ) from None
            # Throttling beyond botocore's retries, a 5xx: a later delivery may well succeed.
            raise RuntimeError(f"the upload of {name!r} to IAM failed: {error_code(exc)} {message}") from None
        self._uploaded_since += 1
        return _metadata(response["ServerCertificateMetadata"], tags)

    def tag(self, name: str, tags: Mapping[str, str]) -> None:
        self._iam.tag_server_certificate(
            ServerCertificateName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )

    def untag(self, name: str, keys: Sequence[str]) -> None:
        self._iam.untag_server_certificate(ServerCertificateName=name, TagKeys=list(keys))

    def delete(self, name: str) -> bool:
        try:
            self._iam.delete_server_certificate(ServerCertificateName=name)
        except ClientError as exc:
            if error_code(exc) == "DeleteConflict":
                return False
            if error_code(exc) == "NoSuchEntity":
                return True  # an earlier run deleted it
            raise
        return True

    def room(self, *, kept: bool = False) -> tuple[int, int]:
        """(server certificates held, quota): read now, or with `kept` perhaps from the last reading (see
        ROOM_KEPT), counting this container's uploads since as held. A kept reading can be wrong only by
        what other containers uploaded since, which the reserve covers; should the quota fill anyway, the
        upload is refused and the issued certificate kept for a later try (order/issue.py: issue_or_reuse)."""
        now = self._monotonic()
        if kept and self._room is not None and now - self._room[0] < ROOM_KEPT:
            _, held, quota = self._room
            held += self._uploaded_since
            if quota - held > ROOM_RESERVE:
                return held, quota
        summary = self._iam.get_account_summary()["SummaryMap"]
        held, quota = (
            int(summary.get("ServerCertificates", 0)),
            int(summary.get("ServerCertificatesQuota", 20)),
        )
        self._room, self._uploaded_since = (now, held, quota), 0
        return held, quota
