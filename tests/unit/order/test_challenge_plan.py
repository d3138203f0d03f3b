"""Where each name's DNS-01 record goes: the challenge name, the longest public zone."""

from __future__ import annotations

import pytest
from certrotate.model import (
    HostedZone,
)
from certrotate.model.challenges import challenge_record_name, zone_for

# --- DNS-01 ------------------------------------------------------------------------------------------------


def test_apex_and_wildcard_share_one_challenge_name() -> None:
    assert challenge_record_name("*.Example.com") == "_acme-challenge.example.com"
    assert challenge_record_name("example.com.") == "_acme-challenge.example.com"


ZONES = [
    HostedZone("Z1", "example.com"),
    HostedZone("Z2", "dev.example.com"),
    HostedZone("Z3", "internal.example.com", private=True),
    HostedZone("Z4", "ample.com"),
]


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        ("_acme-challenge.www.example.com", "Z1"),
        ("_acme-challenge.api.dev.example.com", "Z2"),
        ("_acme-challenge.dev.example.com", "Z2"),
        ("_acme-challenge.x.internal.example.com", "Z1"),  # the private zone is skipped
        ("_acme-challenge.example.com", "Z1"),
        ("_acme-challenge.www.sample.com", None),  # "ample.com" is not a suffix of a label boundary
        ("_acme-challenge.example.org", None),
    ],
)
def test_zone_is_the_longest_public_suffix_match(name: str, zone: str | None) -> None:
    found = zone_for(name, ZONES)
    assert (found.zone_id if found else None) == zone


def test_private_zones_are_used_when_asked() -> None:
    found = zone_for("_acme-challenge.x.internal.example.com", ZONES, allow_private=True)
    assert found is not None and found.zone_id == "Z3"
