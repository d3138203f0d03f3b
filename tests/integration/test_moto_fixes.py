"""The AWS behaviour certrotate relies on, checked through boto3 over HTTP against the patched moto server.

Each test states what real AWS does; devstack/moto_fixes.py makes moto do the same.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack import fixtures, moto_fixes
from devstack.stack import LocalStack

pytestmark = pytest.mark.stack


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def upload(iam: Any, name: str, cert: fixtures.IssuedCertificate, **kwargs: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = iam.upload_server_certificate(
        ServerCertificateName=name,
        CertificateBody=cert.cert_pem,
        PrivateKey=cert.key_pem,
        CertificateChain=cert.chain_pem,
        **kwargs,
    )["ServerCertificateMetadata"]
    return metadata


@pytest.fixture(scope="module")
def ec_cert() -> fixtures.IssuedCertificate:
    # EC keys are fast to make; one certificate can be uploaded under many names.
    return fixtures.make_certificate(["www.example.com"], 45, key="ec256")


def test_apply_is_idempotent(aws: LocalStack, ec_cert: fixtures.IssuedCertificate) -> None:
    from moto.iam.models import IAMBackend

    upload_method = IAMBackend.upload_server_certificate
    moto_fixes.apply()
    moto_fixes.apply()
    assert moto_fixes.is_applied()
    assert IAMBackend.upload_server_certificate is upload_method
    upload(aws.client("iam"), "once", ec_cert)


# ----------------------------------------------------------------------------------------------------
# IAM server certificates
# ----------------------------------------------------------------------------------------------------


class TestIamServerCertificates:
    def test_expiration_and_upload_date_are_real_and_ids_unique(self, aws: LocalStack) -> None:
        iam = aws.client("iam")
        cert = fixtures.make_certificate(["a.example.com", "b.example.com"], 12.5)
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        first = upload(iam, "first", cert)
        second = upload(iam, "second", fixtures.make_certificate(["c.example.com"], 3, key="ec256"))

        assert first["Expiration"] == cert.not_after
        assert before <= first["UploadDate"] <= dt.datetime.now(dt.UTC)
        assert first["ServerCertificateId"].startswith("ASCA")
        assert first["ServerCertificateId"] != second["ServerCertificateId"]
        got = iam.get_server_certificate(ServerCertificateName="first")["ServerCertificate"]
        assert got["ServerCertificateMetadata"]["Expiration"] == cert.not_after
        assert got["ServerCertificateMetadata"]["ServerCertificateId"] == first["ServerCertificateId"]
        assert got["CertificateChain"].strip() == cert.chain_pem.strip()
        listed = {
            m["ServerCertificateName"]: m
            for m in iam.list_server_certificates()["ServerCertificateMetadataList"]
        }
        assert listed["first"]["Expiration"] == cert.not_after
        assert listed["second"]["ServerCertificateId"] == second["ServerCertificateId"]

    @pytest.mark.parametrize("key", ["rsa2048", "ec256"])
    def test_key_that_does_not_match_is_rejected(self, aws: LocalStack, key: fixtures.KeyKind) -> None:
        cert = fixtures.make_certificate(["a.example.com"], 30, key=key)
        other = fixtures.make_certificate(["a.example.com"], 30, key=key)
        with pytest.raises(ClientError) as exc:
            aws.client("iam").upload_server_certificate(
                ServerCertificateName="mismatch", CertificateBody=cert.cert_pem, PrivateKey=other.key_pem
            )
        assert error(exc) == ("KeyPairMismatch", 400)

    @pytest.mark.parametrize("part", ["CertificateBody", "PrivateKey", "CertificateChain"])
    def test_unparsable_pem_is_rejected(
        self, aws: LocalStack, ec_cert: fixtures.IssuedCertificate, part: str
    ) -> None:
        kwargs = {
            "ServerCertificateName": "malformed",
            "CertificateBody": ec_cert.cert_pem,
            "PrivateKey": ec_cert.key_pem,
            "CertificateChain": ec_cert.chain_pem,
            part: "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        }
        with pytest.raises(ClientError) as exc:
            aws.client("iam").upload_server_certificate(**kwargs)
        assert error(exc) == ("MalformedCertificate", 400)

    def test_body_with_two_certificates_is_rejected(
        self, aws: LocalStack, ec_cert: fixtures.IssuedCertificate
    ) -> None:
        with pytest.raises(ClientError) as exc:
            aws.client("iam").upload_server_certificate(
                ServerCertificateName="two",
                CertificateBody=ec_cert.cert_pem + ec_cert.chain_pem,
                PrivateKey=ec_cert.key_pem,
            )
        assert error(exc) == ("MalformedCertificate", 400)

    def test_duplicate_name_is_rejected(self, aws: LocalStack, ec_cert: fixtures.IssuedCertificate) -> None:
        iam = aws.client("iam")
        upload(iam, "dup", ec_cert)
        with pytest.raises(ClientError) as exc:
            upload(iam, "dup", ec_cert)
        assert error(exc) == ("EntityAlreadyExists", 409)
        assert len(iam.list_server_certificates()["ServerCertificateMetadataList"]) == 1

    def test_upload_beyond_quota_fails(self, aws: LocalStack, ec_cert: fixtures.IssuedCertificate) -> None:
        moto_fixes.set_server_certificate_quota(2)
        iam = aws.client("iam")
        upload(iam, "one", ec_cert)
        upload(iam, "two", ec_cert)
        with pytest.raises(ClientError) as exc:
            upload(iam, "three", ec_cert)
        assert error(exc) == ("LimitExceeded", 409)

    def test_account_summary_reports_count_and_settable_quota(
        self, aws: LocalStack, ec_cert: fixtures.IssuedCertificate
    ) -> None:
        iam = aws.client("iam")
        for name in ("one", "two", "three"):
            upload(iam, name, ec_cert)
        summary = iam.get_account_summary()["SummaryMap"]
        assert (summary["ServerCertificates"], summary["ServerCertificatesQuota"]) == (3, 20)
        moto_fixes.set_server_certificate_quota(3)
        summary = iam.get_account_summary()["SummaryMap"]
        assert (summary["ServerCertificates"], summary["ServerCertificatesQuota"]) == (3, 3)
        iam.delete_server_certificate(ServerCertificateName="two")
        assert iam.get_account_summary()["SummaryMap"]["ServerCertificates"] == 2

    def test_list_honours_path_prefix(self, aws: LocalStack, ec_cert: fixtures.IssuedCertificate) -> None:
        iam = aws.client("iam")
        upload(iam, "root", ec_cert)
        upload(iam, "cf", ec_cert, Path="/cloudfront/")
        upload(iam, "cf-prod", ec_cert, Path="/cloudfront/prod/")

        def names(**kwargs: Any) -> list[str]:
            listed = iam.list_server_certificates(**kwargs)["ServerCertificateMetadataList"]
            return sorted(m["ServerCertificateName"] for m in listed)

        assert names() == ["cf", "cf-prod", "root"]
        assert names(PathPrefix="/cloudfront/") == ["cf", "cf-prod"]
        assert names(PathPrefix="/cloudfront/prod/") == ["cf-prod"]
        assert names(PathPrefix="/elsewhere/") == []
        cf = iam.get_server_certificate(ServerCertificateName="cf")["ServerCertificate"]
        assert cf["ServerCertificateMetadata"]["Arn"].endswith(":server-certificate/cloudfront/cf")

    def test_list_paginates_with_marker_and_default_page_of_100(
        self, aws: LocalStack, ec_cert: fixtures.IssuedCertificate
    ) -> None:
        moto_fixes.set_server_certificate_quota(200)
        iam = aws.client("iam")
        names = [f"cert-{i:03d}" for i in range(101)]
        for name in names:
            upload(iam, name, ec_cert)

        first = iam.list_server_certificates()
        assert len(first["ServerCertificateMetadataList"]) == 100
        assert first["IsTruncated"] is True
        rest = iam.list_server_certificates(Marker=first["Marker"])
        assert len(rest["ServerCertificateMetadataList"]) == 1
        assert rest["IsTruncated"] is False
        assert "Marker" not in rest

        small = iam.list_server_certificates(MaxItems=7)
        assert len(small["ServerCertificateMetadataList"]) == 7
        assert small["IsTruncated"] is True
        seen = [
            m["ServerCertificateName"]
            for page in iam.get_paginator("list_server_certificates").paginate(
                PaginationConfig={"PageSize": 30}
            )
            for m in page["ServerCertificateMetadataList"]
        ]
        assert sorted(seen) == names
        assert len(seen) == len(set(seen))

    def test_tags_on_upload_tag_untag_and_list(
        self, aws: LocalStack, ec_cert: fixtures.IssuedCertificate
    ) -> None:
        iam = aws.client("iam")
        upload(iam, "tagged", ec_cert, Tags=[{"Key": "certrotate:managed", "Value": "true"}])

        def tags() -> dict[str, str]:
            listed = iam.list_server_certificate_tags(ServerCertificateName="tagged")
            assert listed["IsTruncated"] is False
            return {t["Key"]: t["Value"] for t in listed["Tags"]}

        assert tags() == {"certrotate:managed": "true"}
        iam.tag_server_certificate(
            ServerCertificateName="tagged",
            Tags=[{"Key": "certrotate:replaced-by", "Value": "tagged-2"}, {"Key": "owner", "Value": "ops"}],
        )
        assert tags() == {"certrotate:managed": "true", "certrotate:replaced-by": "tagged-2", "owner": "ops"}
        iam.tag_server_certificate(ServerCertificateName="tagged", Tags=[{"Key": "owner", "Value": "sre"}])
        iam.untag_server_certificate(ServerCertificateName="tagged", TagKeys=["certrotate:replaced-by"])
        assert tags() == {"certrotate:managed": "true", "owner": "sre"}
        got = iam.get_server_certificate(ServerCertificateName="tagged")["ServerCertificate"]
        assert {t["Key"]: t["Value"] for t in got["Tags"]} == {"certrotate:managed": "true", "owner": "sre"}
        page = iam.list_server_certificate_tags(ServerCertificateName="tagged", MaxItems=1)
        assert page["IsTruncated"] is True
        assert len(page["Tags"]) == 1

    def test_tag_keys_and_values_are_checked_as_iam_checks_them(
        self, aws: LocalStack, ec_cert: fixtures.IssuedCertificate
    ) -> None:
        # A certificate name may hold ",", a tag value may not: [\p{L}\p{Z}\p{N}_.:/=+\-@], 256 characters.
        iam = aws.client("iam")
        upload(iam, "www,example,com", ec_cert)
        accepted = {
            "certrotate:replaces": "www:example:com-cr0a1b2c3d",
            "certrotate:replacement-served-since": "2026-11-26T14:00:00.123456+00:00",
            "owner": "Équipe réseau 7 @ops",
            "empty": "",
            "k" * 128: "v" * 256,
        }
        iam.tag_server_certificate(
            ServerCertificateName="www,example,com",
            Tags=[{"Key": k, "Value": v} for k, v in accepted.items()],
        )
        listed = iam.list_server_certificate_tags(ServerCertificateName="www,example,com")["Tags"]
        assert {t["Key"]: t["Value"] for t in listed} == accepted

        refused = [
            ({"Key": "certrotate:replaces", "Value": "www,example,com"}, "tags.2.member.value", "pattern"),
            ({"Key": "note", "Value": "a;b"}, "tags.2.member.value", "pattern"),
            ({"Key": "note", "Value": "line\nbreak"}, "tags.2.member.value", "pattern"),
            ({"Key": "note", "Value": "v" * 257}, "tags.2.member.value", "256"),
            ({"Key": "a,b", "Value": "v"}, "tags.2.member.key", "pattern"),
            ({"Key": "tab\there", "Value": "v"}, "tags.2.member.key", "pattern"),
            ({"Key": "k" * 129, "Value": "v"}, "tags.2.member.key", "128"),
        ]
        for tag, where, constraint in refused:
            for call in (
                lambda tags: iam.tag_server_certificate(ServerCertificateName="www,example,com", Tags=tags),
                lambda tags: upload(iam, "refused", ec_cert, Tags=tags),
            ):
                with pytest.raises(ClientError) as exc:
                    call([{"Key": "fine", "Value": "fine"}, tag])
                assert error(exc) == ("ValidationError", 400)
                message = exc.value.response["Error"]["Message"]
                assert where in message and constraint in message, message
        with pytest.raises(ClientError) as exc:
            iam.untag_server_certificate(ServerCertificateName="www,example,com", TagKeys=["owner", "a,b"])
        assert error(exc) == ("ValidationError", 400)
        assert "tagKeys.2.member" in exc.value.response["Error"]["Message"]

        assert "refused" not in {
            m["ServerCertificateName"]
            for m in iam.list_server_certificates()["ServerCertificateMetadataList"]
        }
        after = iam.list_server_certificate_tags(ServerCertificateName="www,example,com")["Tags"]
        assert {t["Key"]: t["Value"] for t in after} == accepted, "a refused call changes nothing"

    def test_tag_calls_on_unknown_certificate_fail_with_no_such_entity(self, aws: LocalStack) -> None:
        iam = aws.client("iam")
        with pytest.raises(ClientError) as exc:
            iam.tag_server_certificate(ServerCertificateName="nope", Tags=[{"Key": "k", "Value": "v"}])
        assert error(exc) == ("NoSuchEntity", 404)
        with pytest.raises(ClientError) as exc:
            iam.list_server_certificate_tags(ServerCertificateName="nope")
        assert error(exc) == ("NoSuchEntity", 404)


# ----------------------------------------------------------------------------------------------------
# Deleting a certificate that is in use
# ----------------------------------------------------------------------------------------------------


class TestDeleteConflict:
    def _two_certs(self, aws: LocalStack) -> tuple[dict[str, Any], dict[str, Any]]:
        iam = aws.client("iam")
        used = fixtures.seed_certificate(iam, "used", ["www.example.com"], 20, key="ec256")
        other = fixtures.seed_certificate(iam, "other", ["api.example.com"], 20, key="ec256")
        return used, other

    def _assert_conflict(self, aws: LocalStack, name: str) -> None:
        with pytest.raises(ClientError) as exc:
            aws.client("iam").delete_server_certificate(ServerCertificateName=name)
        assert error(exc) == ("DeleteConflict", 409)

    def test_alb_default_certificate(self, aws: LocalStack) -> None:
        used, other = self._two_certs(aws)
        elbv2 = aws.client("elbv2")
        ref = fixtures.create_alb_https_listener(elbv2, aws.client("ec2"), used["Arn"])
        self._assert_conflict(aws, "used")
        elbv2.modify_listener(ListenerArn=ref.listener_arn, Certificates=[{"CertificateArn": other["Arn"]}])
        aws.client("iam").delete_server_certificate(ServerCertificateName="used")

    def test_alb_sni_certificate(self, aws: LocalStack) -> None:
        used, other = self._two_certs(aws)
        elbv2 = aws.client("elbv2")
        ref = fixtures.create_alb_https_listener(elbv2, aws.client("ec2"), other["Arn"], [used["Arn"]])
        self._assert_conflict(aws, "used")
        elbv2.remove_listener_certificates(
            ListenerArn=ref.listener_arn, Certificates=[{"CertificateArn": used["Arn"]}]
        )
        aws.client("iam").delete_server_certificate(ServerCertificateName="used")

    def test_nlb_tls_certificate(self, aws: LocalStack) -> None:
        used, _ = self._two_certs(aws)
        fixtures.create_nlb_tls_listener(aws.client("elbv2"), aws.client("ec2"), used["Arn"])
        self._assert_conflict(aws, "used")

    def test_listener_in_another_region(self, aws: LocalStack) -> None:
        used, _ = self._two_certs(aws)
        fixtures.create_alb_https_listener(
            aws.client("elbv2", region="eu-west-1"), aws.client("ec2", region="eu-west-1"), used["Arn"]
        )
        self._assert_conflict(aws, "used")

    def test_classic_listener(self, aws: LocalStack) -> None:
        used, other = self._two_certs(aws)
        elb = aws.client("elb")
        ref = fixtures.create_classic_https_listener(elb, aws.client("ec2"), used["Arn"])
        self._assert_conflict(aws, "used")
        elb.set_load_balancer_listener_ssl_certificate(
            LoadBalancerName=ref.load_balancer_name, LoadBalancerPort=ref.port, SSLCertificateId=other["Arn"]
        )
        aws.client("iam").delete_server_certificate(ServerCertificateName="used")

    def test_cloudfront_distribution(self, aws: LocalStack) -> None:
        used, _ = self._two_certs(aws)
        fixtures.create_cloudfront_distribution(aws.client("cloudfront"), used["ServerCertificateId"])
        self._assert_conflict(aws, "used")

    def test_a_bound_certificate_is_deleted_when_the_check_is_off(self, aws: LocalStack) -> None:
        # The DeleteServerCertificate reference: "If Elastic Load Balancing doesn't detect the deletion of
        # bound certificates, it may continue to use the certificates." IAM then lets the delete through.
        used, _ = self._two_certs(aws)
        ref = fixtures.create_alb_https_listener(aws.client("elbv2"), aws.client("ec2"), used["Arn"])
        moto_fixes.set_iam_delete_conflict(False)
        aws.client("iam").delete_server_certificate(ServerCertificateName="used")
        assert aws.client("elbv2").describe_listener_certificates(ListenerArn=ref.listener_arn)[
            "Certificates"
        ] == [{"CertificateArn": used["Arn"], "IsDefault": True}], "the listener still names it"
        moto_fixes.reset_settings()
        assert moto_fixes.iam_delete_conflict(), "DeleteConflict is the default"

    def test_unused_certificate_is_deleted(self, aws: LocalStack) -> None:
        _, other = self._two_certs(aws)
        fixtures.create_alb_https_listener(aws.client("elbv2"), aws.client("ec2"), other["Arn"])
        iam = aws.client("iam")
        iam.delete_server_certificate(ServerCertificateName="used")
        with pytest.raises(ClientError) as exc:
            iam.get_server_certificate(ServerCertificateName="used")
        assert error(exc) == ("NoSuchEntity", 404)


# ----------------------------------------------------------------------------------------------------
# ELBv2 listener certificates
# ----------------------------------------------------------------------------------------------------


class TestElbv2ListenerCertificates:
    @pytest.fixture
    def certs(self, aws: LocalStack) -> dict[str, str]:
        iam = aws.client("iam")
        return {
            name: fixtures.seed_certificate(iam, name, [f"{name}.example.com"], 20, key="ec256")["Arn"]
            for name in ("default", "sni1", "sni2", "new")
        }

    def _listing(self, elbv2: Any, listener_arn: str) -> list[tuple[str, bool]]:
        certificates = elbv2.describe_listener_certificates(ListenerArn=listener_arn)["Certificates"]
        return [(c["CertificateArn"], c["IsDefault"]) for c in certificates]

    @pytest.mark.parametrize("kind", ["alb", "nlb"])
    def test_modify_listener_replaces_only_the_default(
        self, aws: LocalStack, certs: dict[str, str], kind: str
    ) -> None:
        elbv2 = aws.client("elbv2")
        create = fixtures.create_alb_https_listener if kind == "alb" else fixtures.create_nlb_tls_listener
        ref = create(elbv2, aws.client("ec2"), certs["default"], [certs["sni1"], certs["sni2"]])

        elbv2.modify_listener(ListenerArn=ref.listener_arn, Certificates=[{"CertificateArn": certs["new"]}])

        listener = elbv2.describe_listeners(ListenerArns=[ref.listener_arn])["Listeners"][0]
        assert listener["Certificates"] == [{"CertificateArn": certs["new"]}]
        assert self._listing(elbv2, ref.listener_arn) == [
            (certs["new"], True),
            (certs["sni1"], False),
            (certs["sni2"], False),
        ]

    def test_describe_listeners_shows_only_the_default(self, aws: LocalStack, certs: dict[str, str]) -> None:
        elbv2 = aws.client("elbv2")
        ref = fixtures.create_alb_https_listener(elbv2, aws.client("ec2"), certs["default"], [certs["sni1"]])
        listeners = elbv2.describe_listeners(LoadBalancerArn=ref.load_balancer_arn)["Listeners"]
        assert [listener["Certificates"] for listener in listeners] == [
            [{"CertificateArn": certs["default"]}]
        ]
        assert self._listing(elbv2, ref.listener_arn) == [(certs["default"], True), (certs["sni1"], False)]

    def test_sni_add_and_remove(self, aws: LocalStack, certs: dict[str, str]) -> None:
        elbv2 = aws.client("elbv2")
        ref = fixtures.create_alb_https_listener(elbv2, aws.client("ec2"), certs["default"], [certs["sni1"]])
        elbv2.add_listener_certificates(
            ListenerArn=ref.listener_arn,
            Certificates=[{"CertificateArn": certs["sni2"]}, {"CertificateArn": certs["sni1"]}],
        )
        assert self._listing(elbv2, ref.listener_arn) == [
            (certs["default"], True),
            (certs["sni1"], False),
            (certs["sni2"], False),
        ]
        elbv2.remove_listener_certificates(
            ListenerArn=ref.listener_arn, Certificates=[{"CertificateArn": certs["sni1"]}]
        )
        assert self._listing(elbv2, ref.listener_arn) == [(certs["default"], True), (certs["sni2"], False)]

    def test_the_default_cannot_be_removed(self, aws: LocalStack, certs: dict[str, str]) -> None:
        elbv2 = aws.client("elbv2")
        ref = fixtures.create_alb_https_listener(elbv2, aws.client("ec2"), certs["default"], [certs["sni1"]])
        with pytest.raises(ClientError) as exc:
            elbv2.remove_listener_certificates(
                ListenerArn=ref.listener_arn, Certificates=[{"CertificateArn": certs["default"]}]
            )
        assert error(exc) == ("OperationNotPermitted", 400)
        assert self._listing(elbv2, ref.listener_arn) == [(certs["default"], True), (certs["sni1"], False)]

    def test_unknown_certificate_is_not_found(self, aws: LocalStack, certs: dict[str, str]) -> None:
        elbv2 = aws.client("elbv2")
        ref = fixtures.create_alb_https_listener(elbv2, aws.client("ec2"), certs["default"])
        unknown = certs["default"].replace("/default", "/does-not-exist")
        with pytest.raises(ClientError) as exc:
            elbv2.add_listener_certificates(
                ListenerArn=ref.listener_arn, Certificates=[{"CertificateArn": unknown}]
            )
        assert error(exc) == ("CertificateNotFound", 400)
        with pytest.raises(ClientError) as exc:
            elbv2.modify_listener(ListenerArn=ref.listener_arn, Certificates=[{"CertificateArn": unknown}])
        assert error(exc) == ("CertificateNotFound", 400)
        assert self._listing(elbv2, ref.listener_arn) == [(certs["default"], True)]


# ----------------------------------------------------------------------------------------------------
# Classic ELB
# ----------------------------------------------------------------------------------------------------


class TestClassicElb:
    def test_set_certificate(self, aws: LocalStack) -> None:
        iam, elb = aws.client("iam"), aws.client("elb")
        old = fixtures.seed_certificate(iam, "old", ["www.example.com"], 5, key="ec256")
        new = fixtures.seed_certificate(iam, "new", ["www.example.com"], 90, key="ec256")
        ref = fixtures.create_classic_https_listener(elb, aws.client("ec2"), old["Arn"])

        elb.set_load_balancer_listener_ssl_certificate(
            LoadBalancerName=ref.load_balancer_name, LoadBalancerPort=ref.port, SSLCertificateId=new["Arn"]
        )
        description = elb.describe_load_balancers(LoadBalancerNames=[ref.load_balancer_name])
        listeners = description["LoadBalancerDescriptions"][0]["ListenerDescriptions"]
        assert [d["Listener"]["SSLCertificateId"] for d in listeners] == [new["Arn"]]

    def test_port_without_listener(self, aws: LocalStack) -> None:
        iam, elb = aws.client("iam"), aws.client("elb")
        cert = fixtures.seed_certificate(iam, "c", ["www.example.com"], 5, key="ec256")
        ref = fixtures.create_classic_https_listener(elb, aws.client("ec2"), cert["Arn"])
        with pytest.raises(ClientError) as exc:
            elb.set_load_balancer_listener_ssl_certificate(
                LoadBalancerName=ref.load_balancer_name, LoadBalancerPort=8443, SSLCertificateId=cert["Arn"]
            )
        assert error(exc) == ("ListenerNotFound", 400)

    def test_unknown_certificate_and_load_balancer(self, aws: LocalStack) -> None:
        iam, elb = aws.client("iam"), aws.client("elb")
        cert = fixtures.seed_certificate(iam, "c", ["www.example.com"], 5, key="ec256")
        ref = fixtures.create_classic_https_listener(elb, aws.client("ec2"), cert["Arn"])
        with pytest.raises(ClientError) as exc:
            elb.set_load_balancer_listener_ssl_certificate(
                LoadBalancerName=ref.load_balancer_name,
                LoadBalancerPort=ref.port,
                SSLCertificateId=cert["Arn"] + "-gone",
            )
        assert error(exc) == ("CertificateNotFound", 400)
        with pytest.raises(ClientError) as exc:
            elb.set_load_balancer_listener_ssl_certificate(
                LoadBalancerName="no-such-lb", LoadBalancerPort=443, SSLCertificateId=cert["Arn"]
            )
        assert error(exc) == ("LoadBalancerNotFound", 400)


# ----------------------------------------------------------------------------------------------------
# Route 53
# ----------------------------------------------------------------------------------------------------

CHALLENGE = "_acme-challenge.example.com"


def txt_change(action: str, values: list[str], ttl: int = 60, name: str = CHALLENGE) -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": name,
            "Type": "TXT",
            "TTL": ttl,
            "ResourceRecords": [{"Value": v} for v in values],
        },
    }


class TestRoute53:
    @pytest.fixture
    def zone(self, aws: LocalStack) -> str:
        return fixtures.create_hosted_zone(aws.client("route53"), "example.com")

    def change(self, aws: LocalStack, zone: str, *changes: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = aws.client("route53").change_resource_record_sets(
            HostedZoneId=zone, ChangeBatch={"Changes": list(changes)}
        )["ChangeInfo"]
        return info

    def txt_sets(self, aws: LocalStack, zone: str) -> dict[str, tuple[int, list[str]]]:
        sets = aws.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        return {
            s["Name"]: (s["TTL"], [r["Value"] for r in s["ResourceRecords"]])
            for s in sets
            if s["Type"] == "TXT"
        }

    def invalid(self, aws: LocalStack, zone: str, *changes: dict[str, Any]) -> str:
        with pytest.raises(ClientError) as exc:
            self.change(aws, zone, *changes)
        assert error(exc) == ("InvalidChangeBatch", 400)
        message: str = exc.value.response["Error"]["Message"]
        return message

    def test_apex_and_wildcard_share_one_record_set(self, aws: LocalStack, zone: str) -> None:
        self.change(aws, zone, txt_change("CREATE", ['"token-apex"', '"token-wildcard"']))
        assert self.txt_sets(aws, zone) == {f"{CHALLENGE}.": (60, ['"token-apex"', '"token-wildcard"'])}

    def test_second_create_of_a_name_fails(self, aws: LocalStack, zone: str) -> None:
        self.change(aws, zone, txt_change("CREATE", ['"one"']))
        assert "already exists" in self.invalid(aws, zone, txt_change("CREATE", ['"two"']))
        assert "already exists" in self.invalid(
            aws, zone, txt_change("CREATE", ['"one"'], name=CHALLENGE + ".")
        )
        assert self.txt_sets(aws, zone) == {f"{CHALLENGE}.": (60, ['"one"'])}

    def test_delete_must_repeat_values_and_ttl(self, aws: LocalStack, zone: str) -> None:
        self.change(aws, zone, txt_change("CREATE", ['"a"', '"b"']))
        assert "do not match" in self.invalid(aws, zone, txt_change("DELETE", ['"a"']))
        assert "do not match" in self.invalid(aws, zone, txt_change("DELETE", ['"a"', '"b"'], ttl=300))
        assert "not found" in self.invalid(aws, zone, txt_change("DELETE", ['"a"'], name="other.example.com"))
        self.change(aws, zone, txt_change("DELETE", ['"b"', '"a"']))
        assert self.txt_sets(aws, zone) == {}

    def test_txt_values_must_be_quoted(self, aws: LocalStack, zone: str) -> None:
        assert "quotation marks" in self.invalid(aws, zone, txt_change("CREATE", ["unquoted"]))
        assert "quotation marks" in self.invalid(aws, zone, txt_change("UPSERT", ['"half']))
        self.change(aws, zone, txt_change("UPSERT", ['"two" "strings"', '"esc\\"aped"']))
        assert self.txt_sets(aws, zone) == {f"{CHALLENGE}.": (60, ['"two" "strings"', '"esc\\"aped"'])}

    def test_batch_is_all_or_nothing_and_applied_in_order(self, aws: LocalStack, zone: str) -> None:
        self.invalid(aws, zone, txt_change("CREATE", ['"ok"']), txt_change("CREATE", ['"dup"']))
        assert self.txt_sets(aws, zone) == {}
        self.change(aws, zone, txt_change("CREATE", ['"old"']))
        # Replacing by DELETE + CREATE in one batch is the classic pattern: valid in order.
        self.change(aws, zone, txt_change("DELETE", ['"old"']), txt_change("CREATE", ['"new"'], ttl=30))
        assert self.txt_sets(aws, zone) == {f"{CHALLENGE}.": (30, ['"new"'])}

    def test_a_batch_holds_at_most_32000_characters_of_values(self, aws: LocalStack, zone: str) -> None:
        # Route 53 quotas: 32,000 characters in all Value elements of one request, an UPSERT's twice.
        value = '"' + "v" * 198 + '"'  # 200 characters
        sets = [txt_change("CREATE", [value], name=f"n{i}.example.com") for i in range(160)]
        self.change(aws, zone, *sets)  # 32,000 exactly
        assert len(self.txt_sets(aws, zone)) == 160
        one_more = [txt_change("CREATE", [value], name=f"m{i}.example.com") for i in range(161)]
        assert "32000" in self.invalid(aws, zone, *one_more)
        upserts = [txt_change("UPSERT", [value], name=f"u{i}.example.com") for i in range(81)]
        assert "32000" in self.invalid(aws, zone, *upserts)  # 16,200 characters, counted twice
        assert len(self.txt_sets(aws, zone)) == 160

    def test_upsert_replaces_the_whole_set(self, aws: LocalStack, zone: str) -> None:
        self.change(aws, zone, txt_change("UPSERT", ['"one"', '"other"']))
        self.change(aws, zone, txt_change("UPSERT", ['"two"'], ttl=120, name=CHALLENGE.upper() + "."))
        assert self.txt_sets(aws, zone) == {f"{CHALLENGE}.": (120, ['"two"'])}

    def test_names_are_stored_in_lower_case_and_listed_from_any_case(
        self, aws: LocalStack, zone: str
    ) -> None:
        # Route 53 stores letters in lower case however they are given (DNS domain name format).
        route53 = aws.client("route53")
        self.change(aws, zone, txt_change("CREATE", ['"x"'], name="_ACME-Challenge.WWW.example.com"))
        assert self.txt_sets(aws, zone) == {"_acme-challenge.www.example.com.": (60, ['"x"'])}
        for start in ("_acme-challenge.www.example.com", "_ACME-CHALLENGE.WWW.EXAMPLE.COM."):
            [found] = route53.list_resource_record_sets(
                HostedZoneId=zone, StartRecordName=start, StartRecordType="TXT", MaxItems="1"
            )["ResourceRecordSets"]
            assert (found["Name"], found["Type"]) == ("_acme-challenge.www.example.com.", "TXT")

    def test_a_swap_is_a_compare_and_swap(self, aws: LocalStack, zone: str) -> None:
        # DELETE <set as read> + CREATE <new set>: refused if the set changed since it was read.
        self.change(aws, zone, txt_change("CREATE", ['"theirs"'], ttl=300))
        self.change(
            aws,
            zone,
            txt_change("DELETE", ['"theirs"'], ttl=300),
            txt_change("CREATE", ['"theirs"', '"a"'], ttl=300),
        )
        stale = txt_change("DELETE", ['"theirs"'], ttl=300)
        assert "do not match" in self.invalid(
            aws, zone, stale, txt_change("CREATE", ['"theirs"', '"b"'], ttl=300)
        )
        # The identical swap is valid (in order: the DELETE empties the name, the CREATE fills it again).
        same = txt_change("DELETE", ['"a"', '"theirs"'], ttl=300)
        self.change(aws, zone, same, txt_change("CREATE", ['"theirs"', '"a"'], ttl=300))
        assert self.txt_sets(aws, zone) == {f"{CHALLENGE}.": (300, ['"theirs"', '"a"'])}

    def test_a_reader_never_sees_a_batch_half_applied(
        self, aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from moto.route53.models import ChangeList

        route53 = aws.client("route53")
        self.change(aws, zone, txt_change("CREATE", ['"old"']))
        halfway = threading.Event()
        original_append = ChangeList.append

        def slow_append(self: Any, item: Any) -> None:  # moto journals each change right after applying it
            original_append(self, item)
            if item["Action"] == "DELETE":
                halfway.set()
                time.sleep(0.5)

        monkeypatch.setattr(ChangeList, "append", slow_append)
        swap = threading.Thread(
            target=self.change,
            args=(aws, zone, txt_change("DELETE", ['"old"']), txt_change("CREATE", ['"new"'])),
        )
        swap.start()
        try:
            assert halfway.wait(10)
            listed = route53.list_resource_record_sets(
                HostedZoneId=zone, StartRecordName=CHALLENGE, StartRecordType="TXT", MaxItems="1"
            )["ResourceRecordSets"]
        finally:
            swap.join(10)
        assert [(s["Name"], s["ResourceRecords"]) for s in listed] == [
            (f"{CHALLENGE}.", [{"Value": '"new"'}])
        ]

    def test_a_cname_stands_alone(self, aws: LocalStack, zone: str) -> None:
        cname = {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": CHALLENGE,
                "Type": "CNAME",
                "TTL": 300,
                "ResourceRecords": [{"Value": "_acme-challenge.delegated.example.net"}],
            },
        }
        self.change(aws, zone, cname)
        message = self.invalid(aws, zone, txt_change("CREATE", ['"x"']))
        assert "conflicting RRSet of type CNAME" in message
        assert "conflicting RRSet of type CNAME" in self.invalid(aws, zone, txt_change("UPSERT", ['"x"']))
        other = txt_change("CREATE", ['"x"'], name="_acme-challenge.www.example.com")
        self.change(aws, zone, other)
        cname["ResourceRecordSet"]["Name"] = "_acme-challenge.www.example.com"
        assert "conflicting RRSet of type TXT" in self.invalid(aws, zone, cname)

    def test_name_outside_the_zone_fails(self, aws: LocalStack, zone: str) -> None:
        assert "not permitted" in self.invalid(aws, zone, txt_change("CREATE", ['"x"'], name="example.org"))

    def test_change_is_pending_until_polled(self, aws: LocalStack, zone: str) -> None:
        route53 = aws.client("route53")
        info = self.change(aws, zone, txt_change("CREATE", ['"x"']))
        assert info["Status"] == "PENDING"
        assert info["Id"].startswith("/change/C")
        statuses = [route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] for _ in range(3)]
        assert statuses == ["PENDING", "INSYNC", "INSYNC"]
        other = self.change(aws, zone, txt_change("DELETE", ['"x"']))
        assert other["Id"] != info["Id"]

    def test_pending_polls_are_settable(self, aws: LocalStack, zone: str) -> None:
        route53 = aws.client("route53")
        moto_fixes.set_route53_pending_polls(0)
        info = self.change(aws, zone, txt_change("CREATE", ['"x"']))
        assert info["Status"] == "PENDING"
        assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
        moto_fixes.set_route53_pending_polls(2)
        info = self.change(aws, zone, txt_change("DELETE", ['"x"']))
        statuses = [route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] for _ in range(3)]
        assert statuses == ["PENDING", "PENDING", "INSYNC"]

    def test_a_change_can_take_time_to_propagate(self, aws: LocalStack, zone: str) -> None:
        route53 = aws.client("route53")
        moto_fixes.set_route53_pending_polls(0)
        moto_fixes.set_route53_insync_after(0.5)
        info = self.change(aws, zone, txt_change("CREATE", ['"x"']))
        assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING", "polls alone: INSYNC"
        time.sleep(0.6)
        assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"

    def test_unknown_change_id(self, aws: LocalStack) -> None:
        with pytest.raises(ClientError) as exc:
            aws.client("route53").get_change(Id="/change/CNOSUCHCHANGE1")
        assert error(exc) == ("NoSuchChange", 404)


# ----------------------------------------------------------------------------------------------------
# CloudFront: a change is live once the distribution is Deployed
# ----------------------------------------------------------------------------------------------------


class TestCloudFrontDeployment:
    def _distribution(self, aws: LocalStack) -> tuple[Any, fixtures.DistributionRef]:
        iam, cloudfront = aws.client("iam"), aws.client("cloudfront")
        cert = fixtures.seed_certificate(
            iam, "cdn", ["cdn.example.com"], 20, key="ec256", path="/cloudfront/"
        )
        return cloudfront, fixtures.create_cloudfront_distribution(cloudfront, cert["ServerCertificateId"])

    def _statuses(self, cloudfront: Any, distribution_id: str) -> list[str]:
        return [
            cloudfront.get_distribution(Id=distribution_id)["Distribution"]["Status"],
            cloudfront.list_distributions()["DistributionList"]["Items"][0]["Status"],
            cloudfront.get_distribution(Id=distribution_id)["Distribution"]["Status"],
        ]

    def test_in_progress_after_an_update_for_the_first_reads(self, aws: LocalStack) -> None:
        cloudfront, distribution = self._distribution(aws)
        assert self._statuses(cloudfront, distribution.id) == ["InProgress", "Deployed", "Deployed"]
        current = cloudfront.get_distribution_config(Id=distribution.id)
        config = current["DistributionConfig"]
        config["Comment"] = "changed"
        updated = cloudfront.update_distribution(
            Id=distribution.id, IfMatch=current["ETag"], DistributionConfig=config
        )
        assert updated["Distribution"]["Status"] == "InProgress", "an update is not live at once"
        assert self._statuses(cloudfront, distribution.id) == ["InProgress", "Deployed", "Deployed"]

    def test_deploy_polls_are_settable(self, aws: LocalStack) -> None:
        moto_fixes.set_cloudfront_deploy_polls(2)
        cloudfront, distribution = self._distribution(aws)
        assert self._statuses(cloudfront, distribution.id) == ["InProgress", "InProgress", "Deployed"]
        moto_fixes.set_cloudfront_deploy_polls(0)
        assert cloudfront.get_distribution(Id=distribution.id)["Distribution"]["Status"] == "Deployed"
        with pytest.raises(ValueError):
            moto_fixes.set_cloudfront_deploy_polls(-1)


# ----------------------------------------------------------------------------------------------------
# EC2 DescribeRegions: the regions enabled for the account
# ----------------------------------------------------------------------------------------------------


class TestDescribeRegions:
    def _names(self, response: dict[str, Any]) -> list[str]:
        return sorted(r["RegionName"] for r in response["Regions"])

    def test_only_enabled_regions_of_the_partition_unless_all_are_asked_for(self, aws: LocalStack) -> None:
        ec2 = aws.client("ec2")
        enabled = ec2.describe_regions()["Regions"]
        assert {r["OptInStatus"] for r in enabled} <= {"opt-in-not-required", "opted-in"}
        names = {r["RegionName"] for r in enabled}
        assert "us-east-1" in names and "ap-east-1" not in names, "opt-in regions are disabled by default"
        assert not any(n.startswith(("us-gov-", "cn-")) for n in names), "other partitions are not listed"
        every = ec2.describe_regions(AllRegions=True)["Regions"]
        assert {r["RegionName"]: r["OptInStatus"] for r in every}["ap-east-1"] == "not-opted-in"
        disabled = ec2.describe_regions(
            AllRegions=True, Filters=[{"Name": "opt-in-status", "Values": ["not-opted-in"]}]
        )
        assert "ap-east-1" in self._names(disabled) and "us-east-1" not in self._names(disabled)

    def test_enabled_regions_are_settable(self, aws: LocalStack) -> None:
        moto_fixes.set_enabled_regions(["us-east-1", "eu-west-1", "ap-east-1"])
        response = aws.client("ec2").describe_regions()
        assert {r["RegionName"]: r["OptInStatus"] for r in response["Regions"]} == {
            "us-east-1": "opt-in-not-required",
            "eu-west-1": "opt-in-not-required",
            "ap-east-1": "opted-in",
        }
        moto_fixes.reset_settings()
        assert len(aws.client("ec2").describe_regions()["Regions"]) > 3


# ----------------------------------------------------------------------------------------------------
# Secrets Manager: ClientRequestToken as compare-and-swap
# ----------------------------------------------------------------------------------------------------

TOKEN_A = "a" * 32
TOKEN_B = "b" * 32


class TestSecretsManagerTokens:
    def test_create_is_idempotent_for_same_content_only(self, aws: LocalStack) -> None:
        sm = aws.client("secretsmanager")
        first = sm.create_secret(Name="lease", SecretString="holder-1", ClientRequestToken=TOKEN_A)
        again = sm.create_secret(Name="lease", SecretString="holder-1", ClientRequestToken=TOKEN_A)
        assert again["VersionId"] == first["VersionId"] == TOKEN_A
        with pytest.raises(ClientError) as exc:
            sm.create_secret(Name="lease", SecretString="holder-2", ClientRequestToken=TOKEN_A)
        assert error(exc)[0] == "ResourceExistsException"
        with pytest.raises(ClientError) as exc:
            sm.create_secret(Name="lease", SecretString="holder-2", ClientRequestToken=TOKEN_B)
        assert error(exc)[0] == "ResourceExistsException"
        assert sm.get_secret_value(SecretId="lease")["SecretString"] == "holder-1"

    @pytest.mark.parametrize("stages", [None, ["AWSCURRENT"], ["AWSPENDING"], ["LEASE"]])
    def test_put_with_used_token_and_other_content_fails(
        self, aws: LocalStack, stages: list[str] | None
    ) -> None:
        sm = aws.client("secretsmanager")
        sm.create_secret(Name="lease", SecretString="v0")
        extra = {"VersionStages": stages} if stages else {}
        sm.put_secret_value(SecretId="lease", SecretString="holder-1", ClientRequestToken=TOKEN_A, **extra)
        same = sm.put_secret_value(
            SecretId="lease", SecretString="holder-1", ClientRequestToken=TOKEN_A, **extra
        )
        assert same["VersionId"] == TOKEN_A
        with pytest.raises(ClientError) as exc:
            sm.put_secret_value(
                SecretId="lease", SecretString="holder-2", ClientRequestToken=TOKEN_A, **extra
            )
        assert error(exc)[0] == "ResourceExistsException"
        got = sm.get_secret_value(SecretId="lease", VersionId=TOKEN_A)
        assert got["SecretString"] == "holder-1"

    def test_concurrent_writers_with_one_token_exactly_one_wins(self, aws: LocalStack) -> None:
        sm = aws.client("secretsmanager")
        sm.create_secret(Name="lease", SecretString="v0")
        results: list[str] = []
        barrier = threading.Barrier(8)

        def contend(i: int) -> None:
            barrier.wait()
            try:
                sm.put_secret_value(SecretId="lease", SecretString=f"holder-{i}", ClientRequestToken=TOKEN_A)
                results.append("won")
            except ClientError as exc:
                results.append(exc.response["Error"]["Code"])

        threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["ResourceExistsException"] * 7 + ["won"]


# ----------------------------------------------------------------------------------------------------
# DynamoDB: a conditional write is atomic
# ----------------------------------------------------------------------------------------------------


class TestDynamoDbConditionalWrites:
    """DynamoDB decides a condition and the write it guards as one step; moto's server answers requests in
    threads and checks, then writes, without a lock: the devstack makes it atomic."""

    WRITERS = 16
    ROUNDS = 40

    @pytest.fixture
    def table(self, aws: LocalStack) -> Iterator[tuple[Any, str]]:
        db = aws.client("dynamodb", config=Config(max_pool_connections=self.WRITERS * 2))
        # moto runs in this process: switching threads every microsecond lets a race between its check and
        # its write show within a few rounds (at the default 5 ms it hides).
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            yield db, fixtures.create_lease_table(db, "cas")
        finally:
            sys.setswitchinterval(interval)

    def run_together(self, work: Any) -> list[Any]:
        barrier = threading.Barrier(self.WRITERS)
        results: list[Any] = []

        def run(i: int) -> None:
            barrier.wait()
            results.append(work(i))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(self.WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def test_concurrent_creates_of_one_key_exactly_one_wins(self, table: tuple[Any, str]) -> None:
        db, name = table
        for round_ in range(self.ROUNDS):

            def create(i: int, key: str = f"key-{round_}") -> str:
                try:
                    db.put_item(
                        TableName=name,
                        Item={"certificate": {"S": key}, "owner": {"S": f"writer-{i}"}},
                        ConditionExpression="attribute_not_exists(certificate)",
                    )
                    return f"writer-{i}"
                except ClientError as exc:
                    return str(exc.response["Error"]["Code"])

            results = self.run_together(create)
            winners = [r for r in results if r.startswith("writer-")]
            assert len(winners) == 1, results
            assert results.count("ConditionalCheckFailedException") == self.WRITERS - 1
            item = db.get_item(
                TableName=name, Key={"certificate": {"S": f"key-{round_}"}}, ConsistentRead=True
            )
            assert item["Item"]["owner"]["S"] == winners[0]

    def test_compare_and_swap_loses_no_update(self, table: tuple[Any, str]) -> None:
        """Each writer reads the version, then swaps it for the next one; every swap that succeeded must
        show in the final count: two writers that read the same version cannot both succeed."""
        db, name = table
        key = {"certificate": {"S": "counter"}}
        db.put_item(TableName=name, Item={**key, "n": {"N": "0"}})

        def swap(i: int) -> int:
            won = 0
            for _ in range(self.ROUNDS // 4):
                seen = db.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]["n"]["N"]
                try:
                    db.update_item(
                        TableName=name,
                        Key=key,
                        UpdateExpression="SET n = :next",
                        ConditionExpression="n = :seen",
                        ExpressionAttributeValues={":seen": {"N": seen}, ":next": {"N": str(int(seen) + 1)}},
                    )
                    won += 1
                except ClientError as exc:
                    assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return won

        swaps = sum(self.run_together(swap))
        final = int(db.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]["n"]["N"])
        assert swaps >= 1 and final == swaps

    def test_the_failed_condition_returns_the_item_when_asked(self, table: tuple[Any, str]) -> None:
        db, name = table
        item = {"certificate": {"S": "held"}, "owner": {"S": "first"}}
        db.put_item(TableName=name, Item=item)
        with pytest.raises(ClientError) as exc:
            db.put_item(
                TableName=name,
                Item={"certificate": {"S": "held"}, "owner": {"S": "second"}},
                ConditionExpression="attribute_not_exists(certificate)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        assert error(exc) == ("ConditionalCheckFailedException", 400)
        assert exc.value.response["Item"] == item  # type: ignore[typeddict-item]


# ----------------------------------------------------------------------------------------------------
# SQS FIFO deduplication
# ----------------------------------------------------------------------------------------------------


class TestSqsFifoDeduplication:
    def drain(self, sqs: Any, url: str) -> list[str]:
        bodies = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    @pytest.mark.parametrize("scope", ["queue", "messageGroup"])
    def test_duplicate_within_interval_is_not_delivered_even_after_delete(
        self, aws: LocalStack, scope: str
    ) -> None:
        sqs = aws.client("sqs")
        url = sqs.create_queue(
            QueueName="rotation.fifo", Attributes={"FifoQueue": "true", "DeduplicationScope": scope}
        )["QueueUrl"]

        def send(body: str, group: str, dedup: str) -> None:
            sqs.send_message(
                QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup
            )

        send("first", "www", "www-2026-11-23")
        assert self.drain(sqs, url) == ["first"]
        send("again", "www", "www-2026-11-23")  # accepted, not delivered
        send("other", "www", "www-2026-11-24")
        send("other group", "api", "www-2026-11-23")
        expected = ["other"] if scope == "queue" else ["other", "other group"]
        assert sorted(self.drain(sqs, url)) == sorted(expected)


# ----------------------------------------------------------------------------------------------------
# CloudFront
# ----------------------------------------------------------------------------------------------------


def test_cloudfront_keeps_lambda_at_edge_associations_until_an_update_changes_them(aws: LocalStack) -> None:
    cloudfront = aws.client("cloudfront")
    function = fixtures.create_edge_function_version(aws.client("lambda", "us-east-1"), aws.client("iam"))
    web_acl = fixtures.create_cloudfront_web_acl(aws.client("wafv2", "us-east-1"))
    distribution = fixtures.create_cloudfront_distribution(
        cloudfront, "ASCAEXAMPLE", web_acl_id=web_acl, lambda_function_arns=[function]
    )

    def config() -> tuple[dict[str, Any], str]:
        got = cloudfront.get_distribution_config(Id=distribution.id)
        return got["DistributionConfig"], got["ETag"]

    current, etag = config()
    associations = current["DefaultCacheBehavior"]["LambdaFunctionAssociations"]
    assert associations == {
        "Quantity": 1,
        "Items": [{"LambdaFunctionARN": function, "EventType": "viewer-request", "IncludeBody": False}],
    }
    assert current["WebACLId"] == web_acl
    current["Comment"] = "re-sent as it was"
    cloudfront.update_distribution(Id=distribution.id, IfMatch=etag, DistributionConfig=current)
    current, etag = config()
    assert current["DefaultCacheBehavior"]["LambdaFunctionAssociations"] == associations
    current["DefaultCacheBehavior"]["LambdaFunctionAssociations"] = {"Quantity": 0}
    cloudfront.update_distribution(Id=distribution.id, IfMatch=etag, DistributionConfig=current)
    assert config()[0]["DefaultCacheBehavior"]["LambdaFunctionAssociations"] == {"Quantity": 0}


# ----------------------------------------------------------------------------------------------------
# STS
# ----------------------------------------------------------------------------------------------------


class TestAssumeRole:
    MEMBER = "111111111111"

    def test_a_missing_role_is_access_denied(self, aws: LocalStack) -> None:
        with pytest.raises(ClientError) as exc:
            aws.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{self.MEMBER}:role/absent", RoleSessionName="test"
            )
        assert error(exc)[0] == "AccessDenied"

    def test_a_role_that_trusts_another_account_is_access_denied(self, aws: LocalStack) -> None:
        arn = fixtures.deploy_role(self.MEMBER, "elsewhere", "999999999999")
        with pytest.raises(ClientError) as exc:
            aws.client("sts").assume_role(RoleArn=arn, RoleSessionName="test")
        assert error(exc)[0] == "AccessDenied"

    def test_a_trusting_role_gives_credentials_of_its_account(self, aws: LocalStack) -> None:
        arn = fixtures.deploy_role(self.MEMBER, "trusting", "123456789012")
        credentials = aws.client("sts").assume_role(RoleArn=arn, RoleSessionName="test")["Credentials"]
        import boto3

        member_sts = boto3.client(
            "sts",
            endpoint_url=aws.endpoint_url,
            region_name=aws.region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        assert member_sts.get_caller_identity()["Account"] == self.MEMBER
