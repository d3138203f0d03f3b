"""The scan's endpoint index (docs/design.md, "One search per scan"): a rotation sent by the scan repoints the
endpoints the scan saw, without a search; an endpoint that started serving the old certificate after that
search is missed by the rotation but never lost, and the old certificate is never deleted while served."""

from __future__ import annotations

import json

from devstack import fixtures
from tests.e2e.conftest import ENABLED_REGIONS, World

NAMES = ["index.example.com"]


def test_a_listener_attached_after_the_scans_search_is_found_before_retirement(world: World) -> None:
    old = world.seed("indexed", NAMES, days_left=10)
    seen = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="seen")
    assert world.scan()["enqueued"] == ["indexed"]
    records = world.receive()
    assert [e["resource_id"] for e in json.loads(records[0]["body"])["endpoints"]["serving"]] == [
        seen.listener_arn
    ]
    # Someone attaches the old certificate elsewhere after the scan's search: the index does not know it.
    late = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="late")
    world.stack.calls.reset()

    assert world.rotate_from_queue(records) == {"batchItemFailures": []}

    assert world.stack.calls.count("elbv2", "DescribeLoadBalancers") == len(ENABLED_REGIONS), (
        "one search only: the retirement check right before the delete (grace 0), never for repointing"
    )
    [new_name] = [n for n in world.certificates() if n.startswith("indexed-cr")]
    new_arn = world.certificates()[new_name]["Arn"]
    assert world.listener_certificates(seen.listener_arn)[0] == new_arn
    assert world.listener_certificates(late.listener_arn)[0] == old["Arn"], "missed by this rotation"
    assert "indexed" in world.certificates(), "kept: the retirement search found it still served"

    # The next scan's retirement search finds it and sends a rotation for that listener.
    scan = world.scan()
    assert scan["resumed"] == ["indexed"] and "indexed" in world.certificates()
    records = world.receive()
    assert [e["resource_id"] for e in json.loads(records[0]["body"])["endpoints"]["serving"]] == [
        late.listener_arn
    ]
    assert world.rotate_from_queue(records) == {"batchItemFailures": []}

    assert world.listener_certificates(late.listener_arn)[0] == new_arn
    assert world.listener_certificates(seen.listener_arn)[0] == new_arn
    assert "indexed" not in world.certificates(), "retired once nothing serves it"


def test_a_direct_rotation_uses_the_scans_endpoints_and_a_late_listener_is_still_not_lost(
    world: World,
) -> None:
    """A rotation by hand reads where the scan's last search saw the certificate served (the scan index),
    checks those endpoints and repoints them without searching; a listener attached after that search is
    missed, found by the retirement search (grace 0 here) and repointed after the next scan."""
    due = world.seed("due", ["due.example.com"], days_left=10)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, due["Arn"], name="due")
    manual = world.seed("manual", ["manual.example.com"], days_left=80)
    seen = fixtures.create_alb_https_listener(world.elbv2, world.ec2, manual["Arn"], name="manual")
    assert world.scan()["enqueued"] == ["due"]  # it searched, and kept where each certificate is served
    world.receive()
    late = fixtures.create_alb_https_listener(world.elbv2, world.ec2, manual["Arn"], name="manual-late")
    world.stack.calls.reset()

    result = world.rotate("manual", force=True)

    assert result["status"] == "rotated"
    assert world.stack.calls.count("elbv2", "DescribeLoadBalancers") == len(ENABLED_REGIONS), (
        "one search only: the retirement check right before the delete, never for repointing"
    )
    new_arn = world.certificates()[result["new_certificate_name"]]["Arn"]
    assert world.listener_certificates(seen.listener_arn)[0] == new_arn
    assert world.listener_certificates(late.listener_arn)[0] == manual["Arn"], "missed by this rotation"
    assert "manual" in world.certificates(), "kept: the retirement search found it still served"

    assert world.scan()["resumed"] == ["manual"]
    assert world.rotate_from_queue(world.receive()) == {"batchItemFailures": []}
    assert world.listener_certificates(late.listener_arn)[0] == new_arn
    assert "manual" not in world.certificates(), "retired once nothing serves it"
