"""The command line decides as the functions decide (issue 21's trust, issue 22's holds): a bookkeeping tag's
claim counts only when a rotation's progress record proves it, a hold after a deterministic refusal ends when
its inputs change, and a name outside the account's ACCOUNT_DOMAINS is refused before ordering. The functions
themselves (a dry-run scan, a rotation's dry run) are the oracle."""

from __future__ import annotations

from typing import Any

import pytest
from certrotate.decide.holds import UNTIL_INPUTS_CHANGE, inputs_fingerprint
from certrotate.model import ServerCertificate

from tests.e2e.conftest import World
from tests.e2e.test_cli import Cli, deploy

OWN_ACCOUNT = "123456789012"  # moto's: the operator's and the functions'


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(world, None, monkeypatch)  # type: ignore[arg-type]  # no TLS front: nothing is verified here


def _rows(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["certificates"]}


def test_a_forged_replaced_by_is_shown_unproven_and_nothing_is_planned_on_its_word(
    world: World, cli: Cli
) -> None:
    world.seed("site", ["site.example.com"], days_left=60)
    world.seed("decoy", ["site.example.com"], days_left=80, tags={"certrotate:replaces": "site"})
    # What anyone allowed iam:TagServerCertificate can write: replaced, and served past every grace period.
    world.iam.tag_server_certificate(
        ServerCertificateName="site",
        Tags=[
            {"Key": "certrotate:replaced-by", "Value": "decoy"},
            {"Key": "certrotate:replacement-served-since", "Value": "2020-01-01T00:00:00+00:00"},
        ],
    )
    deploy(world)
    scan = world.scan(dry_run=True)  # the oracle: what the deployed scan believes
    [untrusted] = scan["untrusted"]

    code, document = cli.json("status")

    assert code == 1
    site = _rows(document)["site"]
    assert site["pending_retirement"] is None, "not replaced: no progress record proves it"
    assert site["decision"]["verdict"] == "not-due"
    [claim] = site["claims_not_proven"]
    assert claim == untrusted  # the scan's own words: reason and fix
    assert "no progress record of certrotate's names it" in claim["reason"]
    unproven = "the claim that decoy replaces it is not proven"
    assert any(reason.startswith(unproven) for reason in site["needs_attention"])
    code, table = cli("status", "--no-color")
    assert code == 1 and "! site: the claim that decoy replaces it is not proven" in table

    code, plan = cli.json("plan")
    assert code == 0
    assert plan["scan"]["retire"] == [] and plan["scan"]["keep_pending_retirement"] == []
    assert scan["pending_retirement"] == [] and scan["retired"] == []


def test_a_hold_until_the_inputs_change_is_released_once_they_changed(world: World, cli: Cli) -> None:
    held = {
        "certrotate:held-until": UNTIL_INPUTS_CHANGE.isoformat(),
        "certrotate:held-reason": "the CA refused the key usage",
        "certrotate:failures": "1",
    }
    for name in ("unchanged", "changed"):
        world.seed(name, [f"{name}.example.com"], days_left=5, tags=held)
    meta = world.certificates()["unchanged"]
    as_held = ServerCertificate(
        "unchanged", meta["Arn"], meta["ServerCertificateId"], meta["Path"], meta["Expiration"], None, {}
    )
    # Settings.hold_context: the CA and ACME_PROFILE.
    context = f"{world.env['ACME_DIRECTORY_URL']}|{world.env.get('ACME_PROFILE', '')}"
    fingerprints = {
        "unchanged": inputs_fingerprint(as_held, context),
        "changed": "0000000000000000",  # held for inputs that are not the certificate's any more
    }
    for name, fingerprint in fingerprints.items():
        world.iam.tag_server_certificate(
            ServerCertificateName=name, Tags=[{"Key": "certrotate:held-inputs", "Value": fingerprint}]
        )
    deploy(world)
    scan = world.scan(dry_run=True)
    assert scan["held_back"] == ["unchanged"] and sorted(scan["expiring"]) == ["changed", "unchanged"]

    code, document = cli.json("status")

    rows = _rows(document)
    assert rows["unchanged"]["decision"]["verdict"] == "held"
    assert rows["changed"]["decision"]["verdict"] == "issue", "its inputs changed: the hold no longer stands"
    assert rows["changed"]["held_back"] is None
    code, plan = cli.json("plan")
    assert code == 0
    assert plan["scan"]["held_back"] == scan["held_back"]
    assert plan["scan"]["enqueue"] == ["changed"]


def test_plan_refuses_a_name_outside_account_domains_as_the_rotation_would(world: World, cli: Cli) -> None:
    world.seed("ours", ["www.example.com"], days_left=5)
    world.seed("theirs", ["shop.example.org"], days_left=5)
    deploy(world, ACCOUNT_DOMAINS=f"{OWN_ACCOUNT}=example.com")
    # The oracle: the rotation's dry run says why it would refuse before ordering.
    code, dry_run = cli.json("rotate", "theirs", "--dry-run")
    assert code == 0 and f"refuse before ordering: {dry_run['reason']}" in dry_run["steps"], dry_run
    refused = dry_run["reason"]
    assert f"shop.example.org is not authorised for account {OWN_ACCOUNT}" in refused

    code, plan = cli.json("plan")

    assert code == 0
    rotations = {r["certificate_name"]: r for r in plan["rotations"]}
    assert rotations["ours"]["order"]["refused"] is None
    assert rotations["theirs"]["order"]["refused"] == refused
    code, text = cli("plan", "theirs", "--no-color")
    assert f"refused before ordering: {refused}" in text and "upload as:" not in text

    code, document = cli.json("status")
    assert code == 1
    rows = _rows(document)
    assert rows["theirs"]["refused_before_ordering"] == refused
    assert f"its rotation would be refused before ordering: {refused}" in rows["theirs"]["needs_attention"]
    assert rows["ours"]["refused_before_ordering"] is None
