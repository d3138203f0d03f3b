"""ACM re-import as the ACM user guide ("Reimport a certificate") describes it, checked through boto3 over
HTTP against the patched moto server (devstack/moto_fixes.py, section "ACM imported certificates")."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.x509.oid import ExtendedKeyUsageOID

from devstack import fixtures, moto_fixes
from devstack.stack import LocalStack

pytestmark = pytest.mark.stack


def reimport(acm: Any, arn: str, issued: fixtures.IssuedCertificate, **kwargs: Any) -> str:
    answer: str = acm.import_certificate(
        CertificateArn=arn,
        Certificate=issued.cert_pem.encode(),
        PrivateKey=issued.key_pem.encode(),
        CertificateChain=issued.chain_pem.encode(),
        **kwargs,
    )["CertificateArn"]
    return answer


def describe(acm: Any, arn: str) -> dict[str, Any]:
    certificate: dict[str, Any] = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    return certificate


def test_reimport_keeps_arn_tags_and_listener(aws: LocalStack) -> None:
    acm, elbv2, ec2 = aws.client("acm"), aws.client("elbv2"), aws.client("ec2")
    arn, old = fixtures.import_acm_certificate(acm, ["acm.example.com"], 10, tags={"team": "web"})
    listener = fixtures.create_alb_https_listener(elbv2, ec2, arn)
    assert describe(acm, arn)["InUseBy"] == [listener.load_balancer_arn]

    new = fixtures.make_certificate(["acm.example.com", "www.acm.example.com"], 90)
    assert reimport(acm, arn, new) == arn

    after = describe(acm, arn)
    assert after["NotAfter"] > old.not_after
    assert after["SubjectAlternativeNames"] == ["acm.example.com", "www.acm.example.com"]
    assert after["InUseBy"] == [listener.load_balancer_arn]
    tags = {t["Key"]: t.get("Value") for t in acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]}
    assert tags == {"team": "web", "certrotate:managed": "true"}
    served = elbv2.describe_listeners(ListenerArns=[listener.listener_arn])["Listeners"][0]
    assert served["Certificates"][0]["CertificateArn"] == arn
    assert acm.get_certificate(CertificateArn=arn)["Certificate"].strip() == new.cert_pem.strip()


@pytest.mark.parametrize(("old_key", "new_key"), [("rsa2048", "ec256"), ("rsa2048", "rsa4096")])
def test_reimport_with_another_key_type_or_size_is_refused(
    aws: LocalStack, old_key: Any, new_key: Any
) -> None:
    acm = aws.client("acm")
    arn, old = fixtures.import_acm_certificate(acm, ["key.example.com"], 10, key=old_key)
    with pytest.raises(ClientError) as refused:
        reimport(acm, arn, fixtures.make_certificate(["key.example.com"], 90, key=new_key))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "key algorithm" in refused.value.response["Error"]["Message"]
    assert acm.get_certificate(CertificateArn=arn)["Certificate"].strip() == old.cert_pem.strip()


def test_reimport_with_tags_is_refused(aws: LocalStack) -> None:
    acm = aws.client("acm")
    arn, _ = fixtures.import_acm_certificate(acm, ["tags.example.com"], 10)
    with pytest.raises(ClientError) as refused:
        reimport(
            acm, arn, fixtures.make_certificate(["tags.example.com"], 90), Tags=[{"Key": "k", "Value": "v"}]
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_reimport_may_drop_client_auth_but_no_other_extended_key_usage(aws: LocalStack) -> None:
    acm = aws.client("acm")
    server, client = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    both = fixtures.make_certificate(["eku.example.com"], 10, extended_key_usages=(server, client))
    arn = acm.import_certificate(
        Certificate=both.cert_pem.encode(),
        PrivateKey=both.key_pem.encode(),
        CertificateChain=both.chain_pem.encode(),
    )["CertificateArn"]
    assert reimport(acm, arn, fixtures.make_certificate(["eku.example.com"], 90)) == arn  # clientAuth dropped
    with pytest.raises(ClientError) as refused:
        reimport(acm, arn, fixtures.make_certificate(["eku.example.com"], 90, extended_key_usages=(client,)))
    assert "Extended Key Usage" in refused.value.response["Error"]["Message"]


def test_list_certificates_without_key_types_lists_rsa_2048_only(aws: LocalStack) -> None:
    acm = aws.client("acm")
    rsa, _ = fixtures.import_acm_certificate(acm, ["rsa.example.com"], 30)
    ec, _ = fixtures.import_acm_certificate(acm, ["ec.example.com"], 30, key="ec256")
    listed = {c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]}
    assert listed == {rsa}
    every = acm.list_certificates(Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]})
    assert {c["CertificateArn"] for c in every["CertificateSummaryList"]} == {rsa, ec}


@pytest.mark.parametrize("key", ["rsa2048", "ec256"])
def test_reimport_may_drop_key_encipherment_on_ecdsa_only(aws: LocalStack, key: Any) -> None:
    acm = aws.client("acm")
    both = ("digital_signature", "key_encipherment")
    arn, old = fixtures.import_acm_certificate(acm, ["ku.example.com"], 10, key=key, key_usages=both)
    without = fixtures.make_certificate(["ku.example.com"], 90, key=key, key_usages=("digital_signature",))
    if key == "ec256":
        assert reimport(acm, arn, without) == arn
        return
    with pytest.raises(ClientError) as refused:
        reimport(acm, arn, without)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "key_encipherment" in refused.value.response["Error"]["Message"]
    assert acm.get_certificate(CertificateArn=arn)["Certificate"].strip() == old.cert_pem.strip()
    assert reimport(acm, arn, fixtures.make_certificate(["ku.example.com"], 90, key_usages=both)) == arn


def test_imports_and_reimports_count_against_the_yearly_quota(aws: LocalStack) -> None:
    acm, other_region = aws.client("acm"), aws.client("acm", "us-west-2")
    moto_fixes.set_acm_import_quota(2)
    arn, _ = fixtures.import_acm_certificate(acm, ["quota.example.com"], 10)
    assert reimport(acm, arn, fixtures.make_certificate(["quota.example.com"], 90)) == arn
    for attempt in (
        lambda: reimport(acm, arn, fixtures.make_certificate(["quota.example.com"], 90)),
        lambda: fixtures.import_acm_certificate(acm, ["new.example.com"], 10),
    ):
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "LimitExceededException"
        assert "365 days" in refused.value.response["Error"]["Message"]
    assert moto_fixes.acm_imports("123456789012", "us-east-1") == 2, "refused imports do not count"
    fixtures.import_acm_certificate(other_region, ["west.example.com"], 10)  # the quota is per region
