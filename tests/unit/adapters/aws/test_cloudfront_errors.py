"""A refused UpdateDistribution is explained with the permission CloudFront wants (pure: no AWS)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from certrotate.adapters.aws.cloudfront import _explain

EDGE = "arn:aws:lambda:us-east-1:123456789012:function:edge:3"
OTHER_EDGE = "arn:aws:lambda:us-east-1:123456789012:function:images:7"
WAFV2 = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/site/0c3f6c1e-0000-4000-8000-000000000000"


def refused(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "UpdateDistribution")


def config(web_acl: str = "", *functions_per_behaviour: list[str]) -> dict[str, Any]:
    def behaviour(arns: list[str]) -> dict[str, Any]:
        items = [{"LambdaFunctionARN": a, "EventType": "viewer-request"} for a in arns]
        return {"LambdaFunctionAssociations": {"Quantity": len(items), "Items": items}}

    default, *others = functions_per_behaviour or ([],)
    return {
        "WebACLId": web_acl,
        "DefaultCacheBehavior": behaviour(default),
        "CacheBehaviors": {"Quantity": len(others), "Items": [behaviour(o) for o in others]},
    }


def test_a_web_acl_refusal_names_the_waf_read_permission() -> None:
    text = _explain(
        refused("InvalidWebACLId", "Unable to verify read permissions on Web ACL."), config(WAFV2)
    )
    assert "wafv2:GetWebACL" in text and WAFV2 in text and "Unable to verify" in text
    classic = _explain(refused("InvalidWebACLId"), config("0c3f6c1e-0000-4000-8000-000000000000"))
    assert "waf:GetWebACL" in classic and "wafv2" not in classic


def test_a_lambda_at_edge_refusal_names_every_associated_version_once() -> None:
    text = _explain(refused("InvalidLambdaFunctionAssociation"), config("", [EDGE], [OTHER_EDGE, EDGE]))
    assert "lambda:GetFunction and lambda:EnableReplication*" in text
    assert text.count(EDGE) == 1 and OTHER_EDGE in text


def test_access_denied_names_the_action_aws_named() -> None:
    message = (
        "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: lambda:GetFunction on resource"
    )
    text = _explain(refused("AccessDenied", message), config("", [EDGE]))
    assert "needs lambda:GetFunction on " + EDGE in text
    plain = _explain(refused("AccessDenied", "Access denied"), config())
    assert "cloudfront:UpdateDistribution" in plain


def test_other_refusals_are_reported_as_they_are() -> None:
    assert _explain(refused("InvalidArgument", "bad"), config(WAFV2, [EDGE])) == "InvalidArgument: bad"
