"""Every place that serves the old certificate gets the new one, nothing else changes, and the old one is
retired only when safe."""

from __future__ import annotations

import re
from typing import Any

import pytest
from certrotate.adapters.aws.endpoints import AllEndpoints

from devstack import fixtures, moto_fixes
from tests.e2e.conftest import SECOND_REGION, UNNAMED_REGION, World


def new_certificate(world: World, old_name: str) -> dict[str, Any]:
    [name] = [n for n in world.certificates() if n.startswith(f"{old_name}-cr")]
    return world.iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"][
        "ServerCertificateMetadata"
    ]


def classic_certificate(world: World, name: str, client: Any = None) -> str:
    lb = (client or world.elb).describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][
        0
    ]
    return str(lb["ListenerDescriptions"][0]["Listener"]["SSLCertificateId"])


def test_every_listener_kind_in_every_region_is_repointed_and_nothing_else_changes(world: World) -> None:
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    other_a = world.seed("other-a", ["a.example.org"], days_left=200, managed=False)
    other_b = world.seed("other-b", ["b.example.org"], days_left=200, managed=False)
    bystander = world.seed("bystander", ["c.example.org"], days_left=200, managed=False)

    alb = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="alb-default")
    sni = fixtures.create_alb_https_listener(
        world.elbv2,
        world.ec2,
        other_a["Arn"],
        sni_certificate_arns=[other_b["Arn"], old["Arn"]],
        name="alb-sni",
    )
    nlb = fixtures.create_nlb_tls_listener(world.elbv2, world.ec2, old["Arn"], name="nlb-tls")
    classic = fixtures.create_classic_https_listener(world.elb, world.ec2, old["Arn"], name="classic")
    untouched = fixtures.create_alb_https_listener(world.elbv2, world.ec2, bystander["Arn"], name="alb-other")
    elbv2_far = world.stack.client("elbv2", SECOND_REGION)
    far = fixtures.create_alb_https_listener(
        elbv2_far, world.stack.client("ec2", SECOND_REGION), old["Arn"], name="alb-far"
    )
    regions = f"{world.stack.region},{SECOND_REGION}"

    result = world.invoke("RotateFunction", {"certificate_name": "shop"}, LOAD_BALANCER_REGIONS=regions)

    assert result["status"] == "rotated"
    new = new_certificate(world, "shop")["Arn"]
    assert world.listener_certificates(alb.listener_arn) == (new, [])
    assert world.listener_certificates(sni.listener_arn) == (other_a["Arn"], sorted([other_b["Arn"], new]))
    assert world.listener_certificates(nlb.listener_arn) == (new, [])
    assert classic_certificate(world, classic.load_balancer_name) == new
    assert world.listener_certificates(far.listener_arn, elbv2_far) == (new, [])
    assert world.listener_certificates(untouched.listener_arn) == (bystander["Arn"], [])
    assert len(result["endpoints_changed"]) == 5
    assert "shop" not in world.certificates()


def test_load_balancer_regions_narrows_the_search_and_is_never_widened(world: World) -> None:
    """An operator's explicit choice: a listener in a region left out is neither repointed nor seen."""
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    elbv2_far = world.stack.client("elbv2", SECOND_REGION)
    far = fixtures.create_alb_https_listener(elbv2_far, world.stack.client("ec2", SECOND_REGION), old["Arn"])

    result = world.invoke(
        "RotateFunction",
        {"certificate_name": "shop"},
        LOAD_BALANCER_REGIONS=world.stack.region,
        RETIREMENT_GRACE_SECONDS="3600",
    )

    assert result["status"] == "rotated"
    assert world.listener_certificates(far.listener_arn, elbv2_far) == (old["Arn"], [])
    assert world.stack.calls.count("ec2", "DescribeRegions") == 0, "a named list is not widened"


def test_a_listener_in_an_enabled_region_named_nowhere_is_repointed_and_keeps_the_old_one_until_then(
    world: World,
) -> None:
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    elbv2_far = world.stack.client("elbv2", UNNAMED_REGION)
    far = fixtures.create_alb_https_listener(elbv2_far, world.stack.client("ec2", UNNAMED_REGION), old["Arn"])
    here = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])

    result = world.invoke("RotateFunction", {"certificate_name": "shop"}, RETIREMENT_GRACE_SECONDS="3600")

    assert result["status"] == "rotated"
    new = new_certificate(world, "shop")["Arn"]
    assert world.listener_certificates(far.listener_arn, elbv2_far) == (new, [])
    assert world.listener_certificates(here.listener_arn) == (new, [])
    assert f"elbv2-listener {far.listener_arn}" in result["endpoints_changed"]
    assert world.stack.calls.count("ec2", "DescribeRegions") == 1, "found through the enabled regions"

    # Someone points the far listener back at the old certificate; IAM would let it be deleted (as the API
    # reference warns), certrotate does not, and says where it is served.
    elbv2_far.modify_listener(ListenerArn=far.listener_arn, Certificates=[{"CertificateArn": old["Arn"]}])
    blocked = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="0")
    assert blocked["retired"] == [] and "shop" in world.certificates()
    assert (
        f"shop: in-use: still served by elbv2-listener {far.listener_arn} ({UNNAMED_REGION})"
        in blocked["notes"]
    )

    elbv2_far.modify_listener(ListenerArn=far.listener_arn, Certificates=[{"CertificateArn": new}])
    after = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="0")
    assert after["retired"] == ["shop"] and "shop" not in world.certificates()


def test_a_region_that_refuses_the_search_blocks_deletion_and_is_named_while_the_rest_is_repointed(
    world: World,
) -> None:
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    # The far region answers as one where the caller's token is not valid (e.g. an STS v1 token in a region
    # enabled later): nobody knows what its listeners serve.
    world.stack.faults.inject(
        service="elbv2",
        region=UNNAMED_REGION,
        code="UnrecognizedClientException",
        message="The security token included in the request is invalid.",
        times=1000,
    )

    result = world.rotate("shop")  # grace 0: it would be deleted at once if nothing were unknown

    assert result["status"] == "rotated"
    new = new_certificate(world, "shop")["Arn"]
    assert world.listener_certificates(listener.listener_arn) == (new, [])
    assert "shop" in world.certificates(), "unknown = maybe in use: never deleted"
    assert result["old_certificate_retired"] is False
    refusal = "UnrecognizedClientException: The security token included in the request is invalid."
    assert result["not_searched"] == [f"{UNNAMED_REGION} ({refusal})"]
    assert UNNAMED_REGION in result["retirement"]
    assert "certrotate:replacement-served-since" not in world.tags("shop"), "not served everywhere yet"

    # The region answers again: the next run (the scan resumes stalled rotations) finishes the job.
    world.stack.faults.clear()
    rerun = world.rotate("shop")
    assert rerun["status"] == "skipped" and rerun["old_certificate_retired"] is True
    assert "shop" not in world.certificates()


def test_a_region_that_refuses_the_search_blocks_the_scans_retirement_too(world: World) -> None:
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    world.invoke("RotateFunction", {"certificate_name": "shop"}, RETIREMENT_GRACE_SECONDS="3600")
    world.stack.faults.inject(service="elb", region=SECOND_REGION, code="AuthFailure", times=1000)

    scan = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="0")

    assert scan["retired"] == [] and scan["pending_retirement"] == ["shop"]
    assert "shop" in world.certificates()
    assert any(note.startswith(f"not searched: {SECOND_REGION} (AuthFailure") for note in scan["notes"])
    assert any(
        note.startswith("shop: in-use: may still be served in " + SECOND_REGION) for note in scan["notes"]
    ), scan["notes"]


def test_cloudfront_distribution_is_repointed_and_the_path_kept(world: World) -> None:
    old = world.seed("cdn", ["cdn.example.com"], days_left=7, path="/cloudfront/site/")
    distribution = fixtures.create_cloudfront_distribution(world.cloudfront, old["ServerCertificateId"])

    result = world.rotate("cdn")

    new = new_certificate(world, "cdn")
    assert new["Path"] == "/cloudfront/site/"
    config = world.cloudfront.get_distribution_config(Id=distribution.id)["DistributionConfig"]
    assert config["ViewerCertificate"]["IAMCertificateId"] == new["ServerCertificateId"]
    assert result["endpoints_changed"] == [f"cloudfront-distribution {distribution.id}"]


def test_when_the_enabled_regions_cannot_be_listed_nothing_is_deleted_and_the_error_says_why(
    world: World,
) -> None:
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    world.invoke("RotateFunction", {"certificate_name": "shop"}, RETIREMENT_GRACE_SECONDS="3600")
    world.stack.faults.inject(service="ec2", action="DescribeRegions", code="UnauthorizedOperation", times=50)

    scan = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="0")  # a new container: asks again

    assert scan["retired"] == [] and "shop" in world.certificates()
    assert scan["days_to_expiry"], "the report does not depend on it"
    assert any(
        n.startswith("retirements postponed: ec2:DescribeRegions failed (UnauthorizedOperation)")
        for n in scan["notes"]
    ), scan["notes"]
    world.seed("next", ["next.example.com"], days_left=7)
    with pytest.raises(Exception, match="grant ec2:DescribeRegions or name the regions in LOAD_BALANCER_REG"):
        world.rotate("next")


def test_cloudfront_retirement_waits_until_the_replacement_is_deployed_whatever_the_grace(
    world: World,
) -> None:
    old = world.seed("cdn", ["cdn.example.com"], days_left=7, path="/cloudfront/site/")
    distribution = fixtures.create_cloudfront_distribution(world.cloudfront, old["ServerCertificateId"])
    moto_fixes.set_cloudfront_deploy_polls(2)  # InProgress for the next two reads after the update

    rotated = world.rotate("cdn")  # grace 0

    new = new_certificate(world, "cdn")
    config = world.cloudfront.get_distribution_config(Id=distribution.id)["DistributionConfig"]
    assert config["ViewerCertificate"]["IAMCertificateId"] == new["ServerCertificateId"]
    assert rotated["status"] == "rotated", "the rotation does not wait for CloudFront's deployment"
    assert rotated["old_certificate_retired"] is False and "cdn" in world.certificates()
    assert rotated["retirement"].startswith("replacement-not-yet-deployed")
    assert f"cloudfront-distribution {distribution.id}" in rotated["retirement"]
    assert "InProgress" in rotated["retirement"]

    still = world.scan()
    assert still["retired"] == [] and still["pending_retirement"] == ["cdn"]
    assert any(n.startswith("cdn: replacement-not-yet-deployed") for n in still["notes"]), still["notes"]

    deployed = world.scan()  # the distribution reports Deployed now
    assert deployed["retired"] == ["cdn"] and "cdn" not in world.certificates()


def test_retirement_waits_for_the_grace_period_and_a_later_scan_completes_it(world: World) -> None:
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])

    rotated = world.invoke("RotateFunction", {"certificate_name": "shop"}, RETIREMENT_GRACE_SECONDS="3600")
    assert rotated["old_certificate_retired"] is False
    assert rotated["retirement"].startswith("in-grace")
    tags = world.tags("shop")
    assert tags["certrotate:replaced-by"] == rotated["new_certificate_name"]
    assert "certrotate:replacement-served-since" in tags

    during = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="3600")
    assert during["pending_retirement"] == ["shop"] and during["retired"] == []
    assert during["expiring"] == [] and during["enqueued"] == []

    # Someone points a listener back at the old certificate: it is in use, so it stays.
    world.elbv2.modify_listener(
        ListenerArn=listener.listener_arn, Certificates=[{"CertificateArn": old["Arn"]}]
    )
    blocked = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="0")
    assert blocked["retired"] == [] and "shop" in world.certificates()

    new_arn = new_certificate(world, "shop")["Arn"]
    world.elbv2.modify_listener(ListenerArn=listener.listener_arn, Certificates=[{"CertificateArn": new_arn}])
    after = world.invoke("ScanFunction", {}, RETIREMENT_GRACE_SECONDS="0")
    assert after["retired"] == ["shop"]
    assert "shop" not in world.certificates()


def test_a_full_quota_places_no_order_and_changes_nothing(world: World) -> None:
    world.seed("shop", ["shop.example.com"], days_left=7)
    moto_fixes.set_server_certificate_quota(1)
    before = world.snapshot()
    changes_before = world.stack.calls.count("route53", "ChangeResourceRecordSets")
    with pytest.raises(Exception, match="ServerCertificatesQuota"):
        world.rotate("shop")
    assert world.snapshot() == before, "no account registered, no lease, no upload"
    assert world.stack.calls.count("route53", "ChangeResourceRecordSets") == changes_before, (
        "no DNS-01 answered"
    )


def test_sni_quota_fails_that_listener_clearly_and_the_rest_still_move(world: World) -> None:
    moto_fixes.set_server_certificate_quota(100)
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    alb = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="plain")
    fillers = [
        world.seed(f"f{i}", [f"f{i}.example.org"], 200, managed=False, key="ec256")["Arn"] for i in range(25)
    ]
    # The load balancer holds its quota for real: 24 fillers and the old one in the SNI list (25), the
    # default aside. moto_fixes enforces it as Elastic Load Balancing does.
    full = fixtures.create_alb_https_listener(
        world.elbv2, world.ec2, fillers[0], sni_certificate_arns=[*fillers[1:], old["Arn"]], name="full"
    )

    with pytest.raises(Exception, match="holds its quota of certificates"):
        world.rotate("shop")

    new = new_certificate(world, "shop")["Arn"]
    assert world.listener_certificates(alb.listener_arn) == (new, [])
    assert world.listener_certificates(full.listener_arn)[1] == sorted([*fillers[1:], old["Arn"]])
    assert "shop" in world.certificates()
    assert "certrotate:replacement-served-since" not in world.tags("shop")
    # No retry can make room: the certificate is held. Once the operator has made room, a forced rerun
    # finishes the job without a second certificate.
    assert world.rotate("shop")["status"] == "skipped"
    assert world.listener_certificates(full.listener_arn)[1] == sorted([*fillers[1:], old["Arn"]])
    world.elbv2.remove_listener_certificates(
        ListenerArn=full.listener_arn, Certificates=[{"CertificateArn": fillers[1]}]
    )
    assert world.rotate("shop", force=True)["status"] == "skipped"
    assert world.listener_certificates(full.listener_arn)[1] == sorted([*fillers[2:], new])
    assert len([n for n in world.certificates() if n.startswith("shop-cr")]) == 1


def test_a_default_changed_by_someone_else_mid_rotation_is_left_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    theirs = world.seed("theirs", ["shop.example.com"], days_left=300, managed=False)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    original = AllEndpoints.discover

    def discover_then_someone_edits(self: AllEndpoints, *, include_cloudfront: bool) -> Any:
        found = original(self, include_cloudfront=include_cloudfront)
        # Between our listing and our change, an operator puts their own certificate on the listener.
        world.elbv2.modify_listener(
            ListenerArn=listener.listener_arn, Certificates=[{"CertificateArn": theirs["Arn"]}]
        )
        return found

    monkeypatch.setattr(AllEndpoints, "discover", discover_then_someone_edits)
    result = world.invoke("RotateFunction", {"certificate_name": "shop"}, RETIREMENT_GRACE_SECONDS="3600")

    assert result["status"] == "rotated"
    assert world.listener_certificates(listener.listener_arn) == (theirs["Arn"], [])
    assert any("no longer serves shop: left as it is" in step for step in result["steps"])


def test_a_listener_deleted_mid_rotation_is_not_an_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = world.seed("shop", ["shop.example.com"], days_left=7)
    doomed = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="doomed")
    kept = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="kept")
    original = AllEndpoints.discover

    def discover_then_delete(self: AllEndpoints, *, include_cloudfront: bool) -> Any:
        found = original(self, include_cloudfront=include_cloudfront)
        if any(e.resource_id == doomed.listener_arn for e in found.endpoints):  # only while it exists
            world.elbv2.delete_listener(ListenerArn=doomed.listener_arn)
        return found

    monkeypatch.setattr(AllEndpoints, "discover", discover_then_delete)
    result = world.rotate("shop")

    assert result["status"] == "rotated"
    assert (
        world.listener_certificates(kept.listener_arn)[0]
        == world.certificates()[result["new_certificate_name"]]["Arn"]
    )
    assert result["old_certificate_retired"] is True


def protected_distribution(world: World, certificate_id: str) -> tuple[fixtures.DistributionRef, str, str]:
    """A distribution behind a WAFv2 web ACL with a Lambda@Edge function version associated."""
    web_acl = fixtures.create_cloudfront_web_acl(world.stack.client("wafv2", "us-east-1"))
    function = fixtures.create_edge_function_version(world.stack.client("lambda", "us-east-1"), world.iam)
    distribution = fixtures.create_cloudfront_distribution(
        world.cloudfront, certificate_id, web_acl_id=web_acl, lambda_function_arns=[function]
    )
    return distribution, web_acl, function


def test_a_distribution_keeps_its_web_acl_and_lambda_at_edge_through_the_update(world: World) -> None:
    old = world.seed("cdn", ["cdn.example.com"], days_left=7, path="/cloudfront/site/")
    distribution, web_acl, function = protected_distribution(world, old["ServerCertificateId"])
    before = world.cloudfront.get_distribution_config(Id=distribution.id)["DistributionConfig"]
    assert before["WebACLId"] == web_acl
    associations = before["DefaultCacheBehavior"]["LambdaFunctionAssociations"]
    assert [a["LambdaFunctionARN"] for a in associations["Items"]] == [function]

    result = world.rotate("cdn")

    after = world.cloudfront.get_distribution_config(Id=distribution.id)["DistributionConfig"]
    assert (
        after["ViewerCertificate"]["IAMCertificateId"] == new_certificate(world, "cdn")["ServerCertificateId"]
    )
    assert after["WebACLId"] == web_acl
    assert after["DefaultCacheBehavior"]["LambdaFunctionAssociations"] == associations
    assert result["endpoints_changed"] == [f"cloudfront-distribution {distribution.id}"]
    # The update is InProgress at first: the old certificate waits until CloudFront says Deployed.
    assert result["old_certificate_retired"] is False
    assert result["retirement"].startswith("replacement-not-yet-deployed")
    assert "cdn" in world.scan()["retired"]


@pytest.mark.parametrize(
    ("code", "message", "named"),
    [
        (
            "InvalidWebACLId",
            "Unable to verify read permissions on Web ACL. Please retry the request.",
            "wafv2:GetWebACL",
        ),
        (
            "InvalidLambdaFunctionAssociation",
            "Lambda@Edge cannot retrieve the specified Lambda function.",
            "lambda:GetFunction and lambda:EnableReplication*",
        ),
        (
            "AccessDenied",
            "User: arn:aws:sts::123456789012:assumed-role/rotate/x is not authorized to perform: "
            "lambda:EnableReplication* on resource: arn:aws:lambda:us-east-1:123456789012:function:f:1",
            "lambda:EnableReplication* on arn:aws:lambda:us-east-1:",
        ),
    ],
)
def test_a_refused_update_names_the_missing_permission_and_a_rerun_finishes(
    world: World, code: str, message: str, named: str
) -> None:
    old = world.seed("cdn", ["cdn.example.com"], days_left=7, path="/cloudfront/")
    distribution, web_acl, function = protected_distribution(world, old["ServerCertificateId"])
    world.stack.faults.inject(
        service="cloudfront", action="UpdateDistribution", code=code, status=400, message=message, times=1
    )

    with pytest.raises(Exception, match=re.escape(named)) as refused:
        world.rotate("cdn")
    assert f"distribution {distribution.id}" in str(refused.value)
    if code == "InvalidWebACLId":
        assert web_acl in str(refused.value)
    else:
        assert function in str(refused.value)
    config = world.cloudfront.get_distribution_config(Id=distribution.id)["DistributionConfig"]
    assert config["ViewerCertificate"]["IAMCertificateId"] == old["ServerCertificateId"]
    assert "cdn" in world.certificates(), "nothing is retired while the distribution serves it"

    # Once the permission is granted, a rerun repoints without a second certificate.
    assert world.rotate("cdn")["status"] == "skipped"
    config = world.cloudfront.get_distribution_config(Id=distribution.id)["DistributionConfig"]
    assert (
        config["ViewerCertificate"]["IAMCertificateId"]
        == new_certificate(world, "cdn")["ServerCertificateId"]
    )
    assert config["WebACLId"] == web_acl
