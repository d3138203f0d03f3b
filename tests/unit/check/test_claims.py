"""A bookkeeping tag is a claim: check_claim says what proves it, trusted_view what may be believed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from certrotate.check.claims import NO_RECORD, ClaimCheck, check_claim, trusted_view
from certrotate.decide.naming import replacement_name
from certrotate.model import ProgressRecord, ServerCertificate
from certrotate.names import MANAGED_TAG, REPLACED_BY_TAG, REPLACES_TAG, SERVED_SINCE_TAG
from certrotate.retire.decision import RetirementVerdict, decide_retirement

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NAMES = ("site.example.com", "www.site.example.com")


def certificate(name: str, **tags: str) -> ServerCertificate:
    return ServerCertificate(
        name=name,
        arn=f"arn:aws:iam::123456789012:server-certificate/{name}",
        certificate_id=f"ID-{name}",
        path="/",
        expiration=NOW + timedelta(days=5),
        tags={MANAGED_TAG: "true", **tags},
    )


OLD = certificate("site", **{REPLACED_BY_TAG: replacement_name("site", "ID-site")})
NEW_NAME = replacement_name("site", "ID-site")
NEW = certificate(NEW_NAME, **{REPLACES_TAG: "site"})
RECORD = ProgressRecord("ID-site", NEW_NAME, "aa" * 32)


def check(**changes: object) -> ClaimCheck:
    arguments: dict[str, object] = {
        "old": OLD,
        "old_names": NAMES,
        "claimed": NEW_NAME,
        "replacement": NEW,
        "replacement_names": NAMES,
        "replacement_sha256": "aa" * 32,
        "chain_problem": None,
        "record": RECORD,
    }
    arguments.update(changes)
    return check_claim(**arguments)  # type: ignore[arg-type]


def test_a_claim_with_its_record_and_every_fact_is_proven() -> None:
    assert check().proven and check().reason == ""


def test_every_fact_and_the_record_are_needed() -> None:
    assert check(replacement=None).facts == (f"{NEW_NAME} does not exist",)
    assert "does not name site back" in check(replacement=certificate(NEW_NAME)).reason
    unmanaged = certificate(NEW_NAME, **{REPLACES_TAG: "site", MANAGED_TAG: "false"})
    assert "is not managed" in check(replacement=unmanaged).reason
    assert "does not cover www.site.example.com" in check(replacement_names=NAMES[:1]).reason
    assert "chain" in check(chain_problem="the chain does not verify").reason
    assert check(record=None).record == NO_RECORD
    other_run = ProgressRecord("ID-someone-else", NEW_NAME, "aa" * 32)
    assert "names another rotation" in check(record=other_run).reason
    assert "names another certificate" in check(replacement_sha256="bb" * 32).reason


def test_only_a_missing_record_at_certrotates_own_name_is_adoptable() -> None:
    assert check(record=None).adoptable
    assert not check(record=None, replacement_names=NAMES[:1]).adoptable  # a fact fails too
    elsewhere = certificate("decoy", **{REPLACES_TAG: "site"})
    assert not check(record=None, claimed="decoy", replacement=elsewhere).adoptable
    assert not check(record=ProgressRecord("ID-x", NEW_NAME, "aa" * 32)).adoptable


def test_the_trusted_view_believes_the_record_not_the_tags() -> None:
    forged = certificate("site", **{REPLACED_BY_TAG: "decoy", SERVED_SINCE_TAG: "2020-01-01T00:00:00+00:00"})
    ignored = trusted_view(forged, None)
    assert ignored.replaced_by is None and ignored.replacement_served_since is None
    assert ignored.managed

    served = ProgressRecord("ID-site", NEW_NAME, "aa" * 32, served_since=NOW)
    proven = trusted_view(forged, NEW_NAME, served)
    assert proven.replaced_by == NEW_NAME and proven.replacement_served_since == NOW
    not_yet = trusted_view(forged, NEW_NAME, RECORD)
    assert not_yet.replaced_by == NEW_NAME and not_yet.replacement_served_since is None
    verdict = decide_retirement(not_yet, [], now=NOW, grace_seconds=0).verdict
    assert verdict is RetirementVerdict.NOT_YET_SERVED, "a forged served-since starts no grace"
