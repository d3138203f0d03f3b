"""Which values of certrotate:managed count, in the code (model/certificates.py) and in the shipped policies
alike."""

from __future__ import annotations

import pytest
from certrotate.model import is_managed_value

from devstack import cfn
from devstack.iam_enforcement import MEMBER_TEMPLATE, TEMPLATE
from devstack.iam_policy import Request, evaluate

FULL_WIDTH_TRUE = "\uff54\uff52\uff55\uff45"  # looks like "true", is not ASCII
VALUES = [
    "true",
    "True",
    "TRUE",
    "tRuE",
    " true",
    "true ",
    "yes",
    "1",
    "",
    FULL_WIDTH_TRUE,
    "false",
    "trueish",
]
ARN = "arn:aws:iam::123456789012:server-certificate/web"


@pytest.mark.parametrize("value", VALUES)
def test_any_case_of_true_counts_and_nothing_else(value: str) -> None:
    assert is_managed_value(value) is (value.strip() == value and value.isascii() and value.lower() == "true")


def _policies() -> list[dict[str, object]]:
    roles = cfn.deployed_roles(cfn.load_template(TEMPLATE))
    member = cfn.deployed_roles(
        cfn.load_template(MEMBER_TEMPLATE),
        cfn.Stack(),
        {
            "CentralAccountId": "123456789012",
            "CentralFunctionRoleArns": "arn:aws:iam::123456789012:role/a,arn:aws:iam::123456789012:role/b",
        },
    )
    return [
        *roles["RotateFunctionRole"].policies(),
        *roles["ScanFunctionRole"].policies(),
        *member["MemberRole"].policies(),
    ]


POLICIES = _policies()


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("iam:DeleteServerCertificate", ARN, {}),
        ("iam:UntagServerCertificate", ARN, {"aws:TagKeys": ["certrotate:retry-after"]}),
        ("iam:TagServerCertificate", ARN, {"aws:TagKeys": ["certrotate:renewal"]}),
        (
            "acm:ImportCertificate",
            "arn:aws:acm:us-east-1:123456789012:certificate/0b2f7f8e-1111-2222-3333-444455556666",
            {},
        ),
    ],
)
def test_the_policies_allow_writes_exactly_on_what_the_code_counts_as_managed(
    value: str, action: str, resource: str, context: dict[str, object]
) -> None:
    request = Request(action, resource, {"aws:ResourceTag/certrotate:managed": value, **context})  # type: ignore[dict-item]
    assert evaluate(POLICIES, request).allowed is is_managed_value(value)


def test_uploads_are_allowed_only_tagged_managed() -> None:
    arn = "arn:aws:iam::123456789012:server-certificate/web-cr1"
    tagged = Request("iam:UploadServerCertificate", arn, {"aws:RequestTag/certrotate:managed": "true"})
    untagged = Request("iam:UploadServerCertificate", arn, {})
    assert evaluate(POLICIES, tagged).allowed
    assert not evaluate(POLICIES, untagged).allowed
