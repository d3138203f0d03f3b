"""The scan index: a scan reads afresh the tags of the certificates that could act now and of new ones, and
trusts what it kept for the others; losing the index costs reads, never a decision (docs/design.md)."""

from __future__ import annotations

from typing import Any

from devstack import fixtures
from tests.e2e.conftest import World


def tag_reads(world: World) -> int:
    return world.stack.calls.count("iam", "ListServerCertificateTags")


def scan_counting_tag_reads(world: World, **event: Any) -> tuple[dict[str, Any], int]:
    world.stack.calls.reset()
    return world.scan(**event), tag_reads(world)


def test_a_new_certificate_is_read_and_one_not_due_is_not_on_a_steady_scan(world: World) -> None:
    world.seed("calm", ["calm.example.com"], days_left=80)
    first, reads = scan_counting_tag_reads(world)
    assert reads == 1 and first["managed"] == 1
    assert len(world.scan_index_items()) == 1

    world.seed("newcomer", ["new.example.com"], days_left=80)
    second, reads = scan_counting_tag_reads(world)
    assert reads == 1, "only the new upload"
    assert second["managed"] == 2 and set(second["days_to_expiry"]) == {"calm", "newcomer"}

    steady, reads = scan_counting_tag_reads(world)
    assert reads == 0, "nothing could act: the kept tags stand"
    assert steady["managed"] == 2 and set(steady["days_to_expiry"]) == {"calm", "newcomer"}
    assert world.stack.calls.count("iam", "GetServerCertificate") == 0, "each certificate is read once, ever"


def test_opting_in_a_due_certificate_is_seen_on_the_next_scan(world: World) -> None:
    world.seed("legacy", ["legacy.example.com"], days_left=5, managed=False)
    before, _ = scan_counting_tag_reads(world)
    assert before["enqueued"] == [] and before["managed"] == 0

    world.iam.tag_server_certificate(
        ServerCertificateName="legacy", Tags=[{"Key": fixtures.MANAGED_TAG, "Value": "true"}]
    )
    after, reads = scan_counting_tag_reads(world)
    assert reads == 1, "due by the floor whatever its kept tags say: read afresh"
    assert after["enqueued"] == ["legacy"] and after["managed"] == 1

    world.iam.untag_server_certificate(ServerCertificateName="legacy", TagKeys=[fixtures.MANAGED_TAG])
    world.receive()
    opted_out, _ = scan_counting_tag_reads(world)
    assert opted_out["enqueued"] == [] and opted_out["managed"] == 0


def test_opting_in_a_certificate_not_due_is_seen_when_due_or_on_a_refresh(world: World) -> None:
    """The staleness bound: a change of tags on a certificate that could not act now is seen when it could
    (due by the floor or the lifetime rule), or at once with {"refresh_tags": true}."""
    world.seed("later", ["later.example.com"], days_left=80, managed=False)
    world.scan()
    world.iam.tag_server_certificate(
        ServerCertificateName="later", Tags=[{"Key": fixtures.MANAGED_TAG, "Value": "true"}]
    )
    stale, reads = scan_counting_tag_reads(world)
    assert reads == 0 and stale["managed"] == 0, "the kept tags, as documented"

    refreshed, reads = scan_counting_tag_reads(world, refresh_tags=True)
    assert reads == 1 and refreshed["managed"] == 1
    world.iam.untag_server_certificate(ServerCertificateName="later", TagKeys=[fixtures.MANAGED_TAG])
    due_now = world.invoke("ScanFunction", {}, RENEW_BEFORE_DAYS="90")
    assert due_now["managed"] == 0 and due_now["enqueued"] == [], "due: read afresh, opted out"


def test_a_lost_or_unreadable_index_means_reading_everything(world: World) -> None:
    world.seed("due", ["due.example.com"], days_left=5)
    world.seed("calm", ["calm.example.com"], days_left=80)
    world.seed("other", ["other.example.com"], days_left=80, managed=False)
    world.scan()
    world.receive()
    [item] = world.scan_index_items()

    world.dynamodb.delete_item(TableName=world.lease_table, Key={"certificate": item["certificate"]})
    lost, reads = scan_counting_tag_reads(world)
    assert reads == 3 and lost["managed"] == 2 and lost["enqueued"] == ["due"]

    world.dynamodb.put_item(
        TableName=world.lease_table, Item={"certificate": item["certificate"], "index": {"B": b"garbage"}}
    )
    world.receive()
    corrupt, reads = scan_counting_tag_reads(world)
    assert reads == 3 and corrupt["managed"] == 2 and corrupt["enqueued"] == ["due"]
    assert any(note.startswith("scan index not used") for note in corrupt["notes"])
    steady, reads = scan_counting_tag_reads(world)
    assert reads == 1 and steady["managed"] == 2, "rewritten: back to the due one only"


def test_a_dry_run_keeps_no_index(world: World) -> None:
    world.seed("calm", ["calm.example.com"], days_left=80)
    world.scan(dry_run=True)
    world.scan(dry_run=True)
    assert world.scan_index_items() == []
    assert tag_reads(world) == 2, "without an index, each dry run reads every tag"


def test_a_forced_rotation_of_a_certificate_not_due_is_retired_by_the_next_scan(world: World) -> None:
    """The rotation marks a certificate that was not due as replaced: the replacement is new (read afresh)
    and names the one it replaces, so that one is read afresh too."""
    world.seed("calm", ["calm.example.com"], days_left=80)
    world.scan()
    rotated = world.invoke(
        "RotateFunction", {"certificate_name": "calm", "force": True}, RETIREMENT_GRACE_SECONDS="3600"
    )
    assert rotated["status"] == "rotated" and "calm" in world.certificates(), "kept for its grace period"

    after = world.scan()
    assert after["retired"] == ["calm"] and "calm" not in world.certificates()
