"""moto fixes for what endpoints refuse: ELBv2's certificate quota (25 per load balancer besides the
listeners' defaults, counted over all of its listeners) and CloudFront's viewer certificate that must cover
every alias."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack import fixtures, moto_fixes
from devstack.stack import LocalStack

NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1})


def certificates(aws: LocalStack, count: int, prefix: str) -> list[str]:
    iam = aws.client("iam")
    return [
        fixtures.seed_certificate(
            iam, f"{prefix}{i}", [f"{prefix}{i}.example.org"], 200, managed=False, key="ec256"
        )["Arn"]
        for i in range(count)
    ]


@pytest.mark.stack
def test_25_certificates_per_load_balancer_over_all_its_listeners(aws: LocalStack) -> None:
    moto_fixes.set_server_certificate_quota(100)
    elbv2, ec2 = aws.client("elbv2", config=NO_RETRIES), aws.client("ec2")
    arns = certificates(aws, 28, "q")
    first = fixtures.create_alb_https_listener(elbv2, ec2, arns[0], sni_certificate_arns=arns[1:21])
    target = elbv2.describe_target_groups()["TargetGroups"][0]["TargetGroupArn"]
    second_arn = elbv2.create_listener(
        LoadBalancerArn=first.load_balancer_arn,
        Protocol="HTTPS",
        Port=8443,
        Certificates=[{"CertificateArn": arns[21]}],  # a default: not counted
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target}],
    )["Listeners"][0]["ListenerArn"]
    elbv2.add_listener_certificates(
        ListenerArn=second_arn, Certificates=[{"CertificateArn": a} for a in arns[22:26]]
    )
    # 20 + 4 SNI certificates on the load balancer: the 25th fits (one already there counts once more).
    elbv2.add_listener_certificates(ListenerArn=second_arn, Certificates=[{"CertificateArn": arns[1]}])

    with pytest.raises(ClientError) as caught:
        elbv2.add_listener_certificates(ListenerArn=second_arn, Certificates=[{"CertificateArn": arns[26]}])
    assert caught.value.response["Error"]["Code"] == "TooManyCertificates"
    with pytest.raises(ClientError):
        elbv2.add_listener_certificates(
            ListenerArn=first.listener_arn, Certificates=[{"CertificateArn": arns[26]}]
        )
    # Adding what is already there changes nothing and is no error.
    elbv2.add_listener_certificates(
        ListenerArn=first.listener_arn, Certificates=[{"CertificateArn": arns[1]}]
    )

    # Another load balancer has its own 25.
    other = fixtures.create_alb_https_listener(elbv2, ec2, arns[0], sni_certificate_arns=[arns[26]])
    assert len(elbv2.describe_listener_certificates(ListenerArn=other.listener_arn)["Certificates"]) == 2

    elbv2.remove_listener_certificates(ListenerArn=second_arn, Certificates=[{"CertificateArn": arns[22]}])
    elbv2.add_listener_certificates(
        ListenerArn=first.listener_arn, Certificates=[{"CertificateArn": arns[27]}]
    )


@pytest.mark.stack
def test_cloudfront_refuses_a_certificate_that_misses_an_alias(aws: LocalStack) -> None:
    iam, cloudfront = aws.client("iam"), aws.client("cloudfront", config=NO_RETRIES)
    cdn = fixtures.seed_certificate(iam, "cdn", ["cdn.example.com", "*.img.example.com"], 60, key="ec256")
    other = fixtures.seed_certificate(iam, "other", ["other.example.com"], 60, key="ec256")

    with pytest.raises(ClientError) as caught:
        fixtures.create_cloudfront_distribution(
            cloudfront, cdn["ServerCertificateId"], aliases=["cdn.example.com", "other.example.net"]
        )
    assert caught.value.response["Error"]["Code"] == "InvalidViewerCertificate"
    assert "other.example.net" in caught.value.response["Error"]["Message"]

    ref = fixtures.create_cloudfront_distribution(
        cloudfront, cdn["ServerCertificateId"], aliases=["cdn.example.com", "a.img.example.com"]
    )
    current = cloudfront.get_distribution_config(Id=ref.id)
    config = current["DistributionConfig"]
    config["ViewerCertificate"]["IAMCertificateId"] = other["ServerCertificateId"]
    with pytest.raises(ClientError) as caught:
        cloudfront.update_distribution(Id=ref.id, IfMatch=current["ETag"], DistributionConfig=config)
    assert caught.value.response["Error"]["Code"] == "InvalidViewerCertificate"
    config["ViewerCertificate"]["IAMCertificateId"] = cdn["ServerCertificateId"]
    cloudfront.update_distribution(Id=ref.id, IfMatch=current["ETag"], DistributionConfig=config)
