"""Trust only what can be proven (CONTRACT.md, "Trust"): a tag is a claim, a name needs an owner, the ACME
account key is never lost or printed, and one odd certificate never stops the others."""

from __future__ import annotations

import json

from tests.e2e.conftest import World

ODD_TAGS = {
    "certrotate:failures": "²",  # passes str.isdigit(), fails int()
    "certrotate:held-until": "9999-12-31T23:59:59+00:00",  # adding anything to it overflows
    "certrotate:retry-after": "\uff12\uff10\uff12\uff16-01-01T00:00:00+00:00",  # full-width digits
    "certrotate:renewal": "source=ari start=² end=² at=² ask=²",
}


def test_one_odd_tag_value_leaves_the_rest_of_the_scan_intact(world: World) -> None:
    world.seed("odd", ["odd.example.com"], days_left=5, tags=ODD_TAGS)
    world.seed("good", ["good.example.com"], days_left=5)
    world.seed("fresh", ["fresh.example.com"], days_left=80)

    result = world.scan()

    assert result["scanned"] == 3 and set(result["days_to_expiry"]) == {"odd", "good", "fresh"}
    assert "good" in result["enqueued"], result
    # Its odd values read as absent: it is due like any other, with no hold nor CA wait in its way.
    assert sorted(result["enqueued"]) == ["good", "odd"]
    assert result["held"] == []
    queued = sorted(json.loads(r["body"])["certificate_name"] for r in world.receive())
    assert queued == ["good", "odd"]

    # Its rotation decides on the same readings, and a failure count of "²" starts again at 1.
    rotated = world.rotate("odd")
    assert rotated["status"] == "rotated", rotated
