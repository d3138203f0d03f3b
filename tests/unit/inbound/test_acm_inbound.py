"""Events naming an ACM imported certificate: checked before any AWS call, one clear line when wrong."""

from __future__ import annotations

import json

import pytest
from certrotate.errors import InvalidRequest
from certrotate.inbound import (
    AcmRotationMessage,
    RotationMessage,
    is_acm_request,
    parse_acm_rotate_request,
    parse_any_rotation_message,
)

ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0b2f7f8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


def test_a_direct_rotation_names_the_arn() -> None:
    event = {"certificate_arn": ARN, "force": True, "dry_run": False}
    assert is_acm_request(event)
    request = parse_acm_rotate_request(event)
    assert (request.certificate_arn, request.force, request.dry_run) == (ARN, True, False)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"certificate_arn": "arn:aws:iam::123456789012:server-certificate/x"},
            "must be an ACM certificate ARN",
        ),
        ({"certificate_arn": ARN, "force": "yes"}, "force"),
        ({"certificate_arn": ARN, "colour": "red"}, "unknown field 'colour'"),
        ({"certificate_arn": ARN, "certificate_name": "www"}, "not both"),
        ({"certificate_arn": 7}, "certificate_arn"),
    ],
)
def test_bad_direct_rotations_are_one_clear_line(event: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_acm_rotate_request(event)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_queue_messages_of_both_kinds() -> None:
    acm = parse_any_rotation_message(
        json.dumps({"certificate_arn": ARN, "reason": "expiring", "days_to_expiry": 3})
    )
    assert acm == AcmRotationMessage(ARN, reason="expiring")
    iam = parse_any_rotation_message(json.dumps({"certificate_name": "www", "reason": "expiring"}))
    assert isinstance(iam, RotationMessage) and iam.certificate_name == "www"


def test_a_queue_message_with_a_bad_arn_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="invalid rotation message: certificate_arn must be"):
        parse_any_rotation_message(json.dumps({"certificate_arn": "arn:aws:acm:nowhere"}))


def test_the_sample_event_is_a_valid_acm_rotation() -> None:
    from tests.paths import EVENTS

    request = parse_acm_rotate_request(json.loads((EVENTS / "rotate-acm.json").read_text()))
    assert request.dry_run and not request.force
