"""events/eventbridge/ is what consumers of certrotate's events build on: each sample is what the functions
put (the same detail-type, exactly the same detail fields), and the pattern of the rule the template deploys
(RotationFailureNotifications, events/eventbridge/rotation-failed.pattern.json) delivers failures and nothing
else, through EventBridge's own matching."""

from __future__ import annotations

import json
from typing import Any

import pytest
from certrotate.names import EventType

from devstack import fixtures
from tests.e2e.conftest import World
from tests.e2e.test_acm_imported import acm_client, rotate_acm
from tests.e2e.test_observability import received_events, subscribe_events
from tests.paths import EVENTS

SAMPLES = EVENTS / "eventbridge"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


def route_pattern(world: World, pattern: dict[str, Any], name: str) -> str:
    """A queue fed by a rule with `pattern` on the default bus, as an operator would write one."""
    events = world.stack.client("events")
    url = world.sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = world.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def emitted_by_kind(events: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(detail-type, "iam" | "acm") -> the detail of the first such event."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        kind = (
            "acm"
            if "certificate_arn" in event["detail"] and "certificate_name" not in event["detail"]
            else "iam"
        )
        found.setdefault((event["detail-type"], kind), event["detail"])
    return found


def test_the_samples_carry_exactly_the_fields_the_functions_put(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    everything = subscribe_events(world)
    failures = route_pattern(world, sample("rotation-failed.pattern.json"), "rotation-failed-rule")

    old = world.seed("www-example-com", ["example.com", "www.example.com"], days_left=12)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    world.rotate("www-example-com")  # started, succeeded and (no grace here) retired
    world.seed("api-example-com", ["api.example.com"], days_left=12)
    world.iam.tag_server_certificate(
        ServerCertificateName="api-example-com", Tags=[{"Key": "certrotate:key-type", "Value": "rsa1024"}]
    )
    with pytest.raises(Exception, match="unknown key type"):
        world.rotate("api-example-com")  # a failure no retry fixes: held
    arn, _ = fixtures.import_acm_certificate(acm_client(world), ["shop.example.com"], 5)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, arn)
    rotate_acm(world, arn)
    capfd.readouterr()

    emitted = emitted_by_kind(received_events(world, everything))
    samples = {
        (EventType.ROTATION_STARTED.value, "iam"): "rotation-started.json",
        (EventType.ROTATION_SUCCEEDED.value, "iam"): "rotation-succeeded.json",
        (EventType.CERTIFICATE_RETIRED.value, "iam"): "certificate-retired.json",
        (EventType.ROTATION_FAILED.value, "iam"): "rotation-failed.json",
        (EventType.ROTATION_SUCCEEDED.value, "acm"): "acm-rotation-succeeded.json",
    }
    for kind, name in samples.items():
        assert kind in emitted, f"no {kind} was emitted"
        expected = sample(name)
        assert (expected["source"], expected["detail-type"]) == ("certrotate", kind[0]), name
        assert set(expected["detail"]) == set(emitted[kind]), f"{name} differs from what is emitted"
        # The same JSON types (a sample with a string where the code puts a list misleads a consumer).
        for field, value in emitted[kind].items():
            if value is not None and expected["detail"][field] is not None:
                assert type(expected["detail"][field]) is type(value), f"{name}: {field}"

    # The template's rule: failures only, whatever else went by.
    delivered = received_events(world, failures)
    assert [e["detail-type"] for e in delivered] == [EventType.ROTATION_FAILED.value]
    assert delivered[0]["detail"]["certificate_name"] == "api-example-com"
    assert delivered[0]["detail"]["permanent"] is True and delivered[0]["detail"]["fix"]
