"""The IAM adapter's look at the server-certificate quota (GetAccountSummary), over the moto server, which
counts and enforces the quota as IAM does: a rotation may answer from a reading a minute old while the
room it showed, less this container's uploads since, stays above what the fleet could upload meanwhile."""

from __future__ import annotations

from typing import Any

import pytest
from certrotate.adapters.aws.iam import ROOM_KEPT, ROOM_RESERVE, IamCertificateStore
from certrotate.model import SecretPem

from devstack import fixtures, moto_fixes
from devstack.stack import LocalStack

pytestmark = pytest.mark.stack


@pytest.fixture
def certificate() -> fixtures.IssuedCertificate:
    return fixtures.make_certificate(["room.example.com"], 30, key=fixtures.generate_key("ec256"))


def upload(store: IamCertificateStore, name: str, cert: fixtures.IssuedCertificate) -> None:
    store.upload(
        name=name,
        path="/",
        body_pem=cert.cert_pem,
        chain_pem=cert.chain_pem,
        private_key_pem=SecretPem(cert.key_pem.encode()),
        tags={},
    )


def readings(aws: LocalStack) -> int:
    return aws.calls.count("iam", "GetAccountSummary")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_without_kept_every_look_reads(aws: LocalStack) -> None:
    store = IamCertificateStore(aws.client("iam"))
    moto_fixes.set_server_certificate_quota(1000)
    aws.calls.reset()
    assert store.room() == store.room() == (0, 1000)
    assert readings(aws) == 2


def test_a_kept_reading_counts_this_containers_uploads_and_is_read_again_after_a_minute(
    aws: LocalStack, certificate: fixtures.IssuedCertificate
) -> None:
    clock = Clock()
    store = IamCertificateStore(aws.client("iam"), monotonic=clock)
    moto_fixes.set_server_certificate_quota(ROOM_RESERVE + 10)
    aws.calls.reset()
    assert store.room(kept=True) == (0, ROOM_RESERVE + 10)
    upload(store, "one", certificate)
    clock.now += ROOM_KEPT - 1
    assert store.room(kept=True) == (1, ROOM_RESERVE + 10), "the upload counted, nothing read"
    assert readings(aws) == 1
    aws.client("iam").upload_server_certificate(**_upload_args("elsewhere", certificate))
    clock.now += 1
    assert store.room(kept=True) == (2, ROOM_RESERVE + 10), "a minute old: read again"
    assert readings(aws) == 2


def test_little_room_left_is_read_every_time(
    aws: LocalStack, certificate: fixtures.IssuedCertificate
) -> None:
    store = IamCertificateStore(aws.client("iam"), monotonic=Clock())
    moto_fixes.set_server_certificate_quota(ROOM_RESERVE + 1)
    aws.calls.reset()
    store.room(kept=True)
    assert store.room(kept=True) == (0, ROOM_RESERVE + 1), "1 free above the reserve: kept"
    upload(store, "one", certificate)
    # No more than the reserve free once this container's upload is counted: others may have taken it.
    assert store.room(kept=True) == (1, ROOM_RESERVE + 1)
    assert readings(aws) == 2
    assert store.room(kept=True) == (1, ROOM_RESERVE + 1)
    assert readings(aws) == 3, "at the reserve: read every time"


def test_an_upload_refused_for_the_quota_drops_the_kept_reading(
    aws: LocalStack, certificate: fixtures.IssuedCertificate
) -> None:
    store = IamCertificateStore(aws.client("iam"), monotonic=Clock())
    moto_fixes.set_server_certificate_quota(ROOM_RESERVE + 10)
    store.room(kept=True)
    moto_fixes.set_server_certificate_quota(0)  # filled (or lowered) since, by others
    with pytest.raises(RuntimeError, match="LimitExceeded"):
        upload(store, "one", certificate)
    aws.calls.reset()
    assert store.room(kept=True) == (0, 0)
    assert readings(aws) == 1


def _upload_args(name: str, cert: fixtures.IssuedCertificate) -> dict[str, Any]:
    return {
        "ServerCertificateName": name,
        "CertificateBody": cert.cert_pem,
        "PrivateKey": cert.key_pem,
        "CertificateChain": cert.chain_pem,
    }
