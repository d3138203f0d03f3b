"""The ACM adapter says which certificates ACM holds as imported (the only kind certrotate renews), over the
moto server: the core reads AcmCertificate.imported and never ACM's own word for it."""

from __future__ import annotations

import pytest
from certrotate.adapters.aws.acm import AcmCertificateStore
from certrotate.adapters.aws.regions import FixedRegions

from devstack import fixtures
from devstack.stack import LocalStack

pytestmark = pytest.mark.stack


def test_an_imported_certificate_is_imported_and_one_acm_issued_is_not(aws: LocalStack) -> None:
    acm = aws.client("acm", aws.region)
    imported, _ = fixtures.import_acm_certificate(acm, ["imported.example.com"], 20)
    requested: str = acm.request_certificate(DomainName="issued.example.com", ValidationMethod="DNS")[
        "CertificateArn"
    ]
    store = AcmCertificateStore(FixedRegions([aws.region]), lambda region: aws.client("acm", region))

    described = store.describe(imported)
    assert described is not None and described.imported
    other = store.describe(requested)
    assert other is not None and other.type == "AMAZON_ISSUED" and not other.imported
    assert [(c.arn, c.imported) for c in store.list_imported(aws.region)] == [(imported, True)]
