"""What operators see: EMF metrics with the contract's names and dimensions, EventBridge events for every
rotation and retirement, and structured logs with one correlation id per rotation."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from devstack import fixtures
from tests.e2e.conftest import KEY_MARKERS, World


def emitted(output: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(EMF documents, log records) printed by the functions."""
    metrics, logs = [], []
    for line in output.splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        (metrics if "_aws" in doc else logs).append(doc)
    return metrics, logs


def metric_values(docs: list[dict[str, Any]], name: str) -> list[tuple[dict[str, str], float]]:
    """Each value of metric `name` with the dimensions it was emitted under."""
    found = []
    for doc in docs:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "CertRotate"
            if any(m["Name"] == name for m in directive["Metrics"]):
                dimensions = {d: doc[d] for group in directive["Dimensions"] for d in group}
                values = doc[name] if isinstance(doc[name], list) else [doc[name]]
                found.extend((dimensions, float(v)) for v in values)
    return found


def subscribe_events(world: World) -> str:
    """Route certrotate's events to a queue, as an operator would with a rule."""
    events = world.stack.client("events")
    url = world.sqs.create_queue(QueueName="certrotate-events")["QueueUrl"]
    arn = world.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-certrotate", EventPattern=json.dumps({"source": ["certrotate"]}))
    events.put_targets(Rule="all-certrotate", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def received_events(world: World, url: str) -> list[dict[str, Any]]:
    events = []
    while True:
        messages = world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return events
        for message in messages:
            events.append(json.loads(message["Body"]))
            world.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_scan_metrics_cover_every_certificate(world: World, capfd: pytest.CaptureFixture[str]) -> None:
    world.seed("managed-due", ["a.example.com"], days_left=10)
    world.seed("managed-fresh", ["b.example.com"], days_left=60)
    world.seed("unmanaged", ["c.example.com"], days_left=3, managed=False)
    capfd.readouterr()

    world.scan()

    docs, _ = emitted(capfd.readouterr().out)
    days = {dims["CertificateName"]: value for dims, value in metric_values(docs, "DaysToExpiry")}
    assert set(days) == {"managed-due", "managed-fresh", "unmanaged"}
    assert 9.9 < days["managed-due"] <= 10 and 2.9 < days["unmanaged"] <= 3
    assert all(
        dims == {"service": "certrotate", "CertificateName": name}
        for dims, _ in metric_values(docs, "DaysToExpiry")
        for name in [dims["CertificateName"]]
    )
    single = {
        name: metric_values(docs, name)
        for name in (
            "CertificatesExpiring",
            "CertificatesManaged",
            "CertificatesScanned",
            "MinDaysToExpiry",
            "ServerCertificates",
            "ServerCertificatesQuota",
            "CertificatesPendingRetirement",
        )
    }
    assert [v for _, v in single["CertificatesExpiring"]] == [1]
    assert [v for _, v in single["CertificatesManaged"]] == [2]
    assert [v for _, v in single["CertificatesScanned"]] == [3]
    assert 2.9 < single["MinDaysToExpiry"][0][1] <= 3
    assert [v for _, v in single["ServerCertificates"]] == [3]
    assert [v for _, v in single["ServerCertificatesQuota"]] == [20]
    assert all(dims == {"service": "certrotate"} for values in single.values() for dims, _ in values)


def test_a_rotation_emits_metrics_events_and_correlated_logs(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    queue = subscribe_events(world)
    old = world.seed("shop", ["shop.example.com", "www.shop.example.com"], days_left=5)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    capfd.readouterr()

    result = world.rotate("shop")

    output = capfd.readouterr().out
    for marker in KEY_MARKERS:
        assert marker not in output
    docs, logs = emitted(output)
    assert [v for _, v in metric_values(docs, "RotationSucceeded")] == [1]
    assert metric_values(docs, "RotationFailed") == []
    assert [v for _, v in metric_values(docs, "ListenersRepointed")] == [1]
    assert 0 < metric_values(docs, "RotationDuration")[0][1] < 120
    rotation_logs = [r for r in logs if r.get("function_name") == "RotateFunction"]
    assert rotation_logs and {r.get("correlation_id") for r in rotation_logs} == {result["correlation_id"]}
    # Invoked directly, the rotation is known by its own Lambda request id.
    assert {r.get("function_request_id") for r in rotation_logs} == {result["correlation_id"]}

    events = received_events(world, queue)
    kinds = sorted(e["detail-type"] for e in events)
    assert kinds == ["Certificate Retired", "Certificate Rotation Started", "Certificate Rotation Succeeded"]
    assert {e["source"] for e in events} == {"certrotate"}
    assert {e["detail"]["correlation_id"] for e in events} == {result["correlation_id"]}
    [succeeded] = [e["detail"] for e in events if e["detail-type"] == "Certificate Rotation Succeeded"]
    assert succeeded["certificate_name"] == "shop"
    assert succeeded["new_certificate_name"] == result["new_certificate_name"]
    assert succeeded["dns_names"] == ["shop.example.com", "www.shop.example.com"]
    assert succeeded["endpoints_changed"] == [f"elbv2-listener {listener.listener_arn}"]
    assert "expiration" in succeeded and "new_expiration" in succeeded
    assert "PRIVATE KEY" not in json.dumps(events)


def test_a_failed_rotation_emits_rotation_failed(world: World, capfd: pytest.CaptureFixture[str]) -> None:
    queue = subscribe_events(world)
    world.seed("orphan", ["orphan.example.net"], days_left=5)  # no hosted zone holds example.net
    capfd.readouterr()
    with pytest.raises(Exception, match="no public Route 53 hosted zone"):
        world.rotate("orphan")
    docs, logs = emitted(capfd.readouterr().out)
    assert [v for _, v in metric_values(docs, "RotationFailed")] == [1]
    assert metric_values(docs, "RotationSucceeded") == []
    failed = [e for e in received_events(world, queue) if e["detail-type"] == "Certificate Rotation Failed"]
    assert len(failed) == 1 and failed[0]["detail"]["certificate_name"] == "orphan"
    assert "hosted zone" in failed[0]["detail"]["message"]
    assert any(r.get("level") == "ERROR" and r.get("message") == "rotation failed" for r in logs)


def test_one_correlation_id_from_the_scan_to_the_rotations_it_queued(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    queue = subscribe_events(world)
    old = world.seed("shop", ["shop.example.com"], days_left=5)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    capfd.readouterr()
    grace = {"RETIREMENT_GRACE_SECONDS": "1"}  # the old certificate is left for the next scan to retire

    scan = world.invoke("ScanFunction", {"dry_run": False}, **grace)
    scan_id = scan["correlation_id"]
    [record] = world.receive()
    assert json.loads(record["body"])["correlation_id"] == scan_id
    assert world.invoke("RotateFunction", {"Records": [record]}, **grace) == {"batchItemFailures": []}

    _, logs = emitted(capfd.readouterr().out)
    scan_logs = [r for r in logs if r.get("function_name") == "ScanFunction"]
    rotation_logs = [r for r in logs if r.get("function_name") == "RotateFunction"]
    assert scan_logs and rotation_logs
    assert {r.get("function_request_id") for r in scan_logs} == {scan_id}, "the scan's Lambda request id"
    assert {r.get("correlation_id") for r in scan_logs + rotation_logs} == {scan_id}
    assert {r.get("function_request_id") for r in rotation_logs} != {scan_id}
    events = received_events(world, queue)
    assert sorted(e["detail-type"] for e in events) == [
        "Certificate Rotation Started",
        "Certificate Rotation Succeeded",
    ]
    assert {e["detail"]["correlation_id"] for e in events} == {scan_id}

    # The next scan retires the old certificate: its event carries that scan's own id.
    time.sleep(1.1)
    later = world.invoke("ScanFunction", {"dry_run": False}, **grace)
    assert later["retired"] == ["shop"] and later["correlation_id"] != scan_id
    [retired] = received_events(world, queue)
    assert retired["detail-type"] == "Certificate Retired"
    assert retired["detail"]["correlation_id"] == later["correlation_id"]
    _, logs = emitted(capfd.readouterr().out)
    assert {r.get("correlation_id") for r in logs} == {later["correlation_id"]}


def test_a_message_written_by_hand_is_known_by_its_sqs_message_id(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    world.seed("shop", ["shop.example.com"], days_left=5)
    world.sqs.send_message(
        QueueUrl=world.queue_url,
        MessageBody=json.dumps({"certificate_name": "shop", "force": True}),
        MessageGroupId="shop",
        MessageDeduplicationId="by-hand",
    )
    [record] = world.receive()
    capfd.readouterr()
    assert world.rotate_from_queue([record]) == {"batchItemFailures": []}
    _, logs = emitted(capfd.readouterr().out)
    rotation_logs = [r for r in logs if r.get("function_name") == "RotateFunction"]
    assert rotation_logs and {r.get("correlation_id") for r in rotation_logs} == {record["messageId"]}
