"""Events: what is accepted, and the one-line error for what is not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from certrotate.errors import InvalidRequest
from certrotate.inbound import (
    ScanRequest,
    is_acm_request,
    is_sqs_event,
    parse_acm_rotate_request,
    parse_rollback_request,
    parse_rotate_request,
    parse_rotation_message,
    parse_scan_request,
)

from tests.paths import EVENTS


def test_direct_rotation_defaults() -> None:
    request = parse_rotate_request({"certificate_name": "www-example-com"})
    assert (request.certificate_name, request.force, request.dry_run) == ("www-example-com", False, False)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "missing field 'certificate_name'"),
        ({"certificate_name": "a", "forse": True}, "unknown field 'forse'"),
        ({"certificate_name": "a", "force": "yes"}, "force"),
        ({"certificate_name": "a", "dry_run": 1}, "dry_run"),
        ({"certificate_name": 7}, "certificate_name"),
        ({"certificate_name": ""}, "certificate name"),
        ({"certificate_name": "has space"}, "certificate name"),
        ({"certificate_name": "x" * 129}, "certificate name"),
        ([], "expected a JSON object"),
        ("www", "expected a JSON object"),
    ],
)
def test_bad_rotation_requests_get_one_clear_line(event: Any, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_rotate_request(event)
    text = str(caught.value)
    assert message in text and "\n" not in text and text.startswith("invalid rotation request")


def test_scan_accepts_schedule_dry_run_and_empty() -> None:
    scheduled = json.loads((EVENTS / "scheduled.json").read_text())
    assert parse_scan_request(scheduled).dry_run is False
    assert parse_scan_request({"dry_run": True}).dry_run is True
    assert parse_scan_request({}).dry_run is False
    assert parse_scan_request(scheduled).refresh_tags is False
    assert parse_scan_request({"refresh_tags": True}) == ScanRequest(refresh_tags=True)
    assert parse_scan_request({"renewal_info_only": True}) == ScanRequest(renewal_info_only=True)
    assert parse_scan_request(scheduled).renewal_info_only is False


def test_a_scan_cannot_both_read_every_tag_and_none() -> None:
    with pytest.raises(InvalidRequest, match="choose one") as caught:
        parse_scan_request({"refresh_tags": True, "renewal_info_only": True})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "event",
    [
        {"dry_run": "true"},
        {"dryrun": True},
        ["dry_run"],
        {"refresh_tags": "yes"},
        {"refresh": True},
        {"renewal_info_only": 1},
    ],
)
def test_scan_rejects_anything_else(event: Any) -> None:
    with pytest.raises(InvalidRequest, match="invalid scan request"):
        parse_scan_request(event)


def test_queue_messages_tolerate_extra_fields_but_need_a_name() -> None:
    assert (
        parse_rotation_message('{"certificate_name": "a", "reason": "expiring", "days_to_expiry": 3}').force
        is False
    )
    with pytest.raises(InvalidRequest, match="not JSON"):
        parse_rotation_message("{")
    with pytest.raises(InvalidRequest, match="missing field"):
        parse_rotation_message('{"name": "a"}')


def test_queue_messages_carry_the_scan_correlation_id() -> None:
    body = {
        "certificate_name": "a",
        "reason": "expiring",
        "correlation_id": "4c1e9a7e-0b5d-4a43-9d0c-1f2e3a4b5c6d",
    }
    assert parse_rotation_message(json.dumps(body)).correlation_id == body["correlation_id"]
    assert parse_rotation_message('{"certificate_name": "a"}').correlation_id is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (42, "correlation_id: Input should be a valid string"),  # strict: no coercion
        ("", "correlation_id must be 1-128 of letters, digits"),
        ("two words", "correlation_id must be 1-128 of letters, digits"),
        ("x" * 129, "correlation_id must be 1-128 of letters, digits"),
    ],
)
def test_a_bad_correlation_id_is_a_malformed_message(value: Any, problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem) as caught:
        parse_rotation_message(json.dumps({"certificate_name": "a", "correlation_id": value}))
    assert "IAM server certificate name" not in str(caught.value)


def test_every_sample_event_is_accepted_by_its_function() -> None:
    samples = {p.name: json.loads(p.read_text()) for p in EVENTS.glob("*.json")}
    assert samples, "events/ holds the sample events"
    for name, event in samples.items():
        if name.startswith("rotate-sqs"):
            assert is_sqs_event(event)
            for record in event["Records"]:
                parse_rotation_message(record["body"])
        elif name.startswith("rollback"):
            assert parse_rollback_request(event).certificate_name == "www-example-com"
        elif name.startswith("rotate") and is_acm_request(event):
            parse_acm_rotate_request(event)
        elif name.startswith("rotate"):
            parse_rotate_request(event)
        else:
            parse_scan_request(event)


def test_a_queue_message_may_ask_the_rotation_to_ask_the_ca() -> None:
    assert parse_rotation_message('{"certificate_name": "a", "ask_ca": true}').ask_ca is True
    assert parse_rotation_message('{"certificate_name": "a"}').ask_ca is False
    with pytest.raises(InvalidRequest, match="invalid rotation message"):
        parse_rotation_message('{"certificate_name": "a", "ask_ca": "yes"}')


def test_queue_messages_carry_where_the_scan_saw_the_certificate_served() -> None:
    from datetime import UTC, datetime, timedelta

    from certrotate.model import EndpointKind

    listener = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/1/2"
    body = {
        "certificate_name": "web",
        "endpoints": {
            "seen_at": "2026-11-26T10:00:00+00:00",
            "serving": [
                {
                    "kind": "elbv2-listener",
                    "region": "eu-west-1",
                    "resource_id": listener,
                    "load_balancer": listener.replace(":listener/", ":loadbalancer/").rsplit("/", 1)[0],
                }
            ],
        },
    }
    known = parse_rotation_message(json.dumps(body)).endpoints

    assert known is not None
    assert [(e.kind, e.region, e.resource_id) for e in known.endpoints] == [
        (EndpointKind.ELBV2_LISTENER, "eu-west-1", listener)
    ]
    seen = datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert known.seen_at == seen
    assert known.usable(seen + timedelta(hours=6))
    assert not known.usable(seen + timedelta(hours=6, seconds=1)), "too old: the rotation searches itself"
    assert not known.usable(seen - timedelta(seconds=1)), "from the future: not trusted"
    assert parse_rotation_message(json.dumps({"certificate_name": "web"})).endpoints is None


@pytest.mark.parametrize(
    ("endpoints", "problem"),
    [
        ({"seen_at": "2026-11-26T10:00:00", "serving": []}, "endpoints.seen_at"),  # no offset
        ({"seen_at": "2026-11-26T10:00:00Z", "serving": [{"kind": "nlb"}]}, "endpoints.serving.0.kind"),
        ({"seen_at": "2026-13-40T10:00:00Z", "serving": []}, "endpoints.seen_at is not a valid time"),
    ],
)
def test_a_bad_endpoint_index_is_a_malformed_message(endpoints: Any, problem: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid rotation message") as exc:
        parse_rotation_message(json.dumps({"certificate_name": "web", "endpoints": endpoints}))
    assert problem in str(exc.value)


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"action": "rollback"}, "missing field 'certificate_name'"),
        ({"action": "rollback", "certificate_name": "a", "force": True}, "unknown field 'force'"),
        ({"action": "undo", "certificate_name": "a"}, "unknown action 'undo'"),
        ({"action": "rollback", "certificate_name": "a", "dry_run": "yes"}, "dry_run"),
        ({"action": "rollback", "certificate_name": "a", "account_id": "12"}, "12-digit"),
    ],
)
def test_a_bad_rollback_request_is_one_line_before_anything(event: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem) as caught:
        parse_rollback_request(event)
    assert "\n" not in str(caught.value)
