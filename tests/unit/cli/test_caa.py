"""RFC 8659 (and RFC 8657's parameters) as `certrotate doctor` applies them, on record sets given by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from certrotate_cli import caa

LE = ("letsencrypt.org",)


def zone(records: Mapping[str, Sequence[tuple[int, str, str]]]) -> caa.Lookup:
    def lookup(domain: str) -> list[caa.Property]:
        return [caa.Property(*r) for r in records.get(domain, ())]

    return lookup


def verdict(
    name: str, records: Mapping[str, Sequence[tuple[int, str, str]]], **kwargs: object
) -> caa.Verdict:
    options: dict[str, object] = {"identities": LE, "method": "dns-01", "account_uri": None} | kwargs
    return caa.evaluate(name, zone(records), **options)  # type: ignore[arg-type]


def test_no_record_anywhere_allows_any_ca() -> None:
    assert verdict("www.example.com", {}).allowed


def test_the_tree_is_climbed_to_the_first_record_set() -> None:
    records = {
        "example.com": [(0, "issue", "letsencrypt.org")],
        "shop.example.com": [(0, "issue", "other.ca")],
    }
    deep = verdict("a.b.shop.example.com", records)
    assert not deep.allowed and deep.where == "shop.example.com"
    assert verdict("www.example.com", records).allowed  # the apex's set is relevant there


def test_a_record_set_without_issue_allows_any_ca() -> None:
    assert verdict("www.example.com", {"example.com": [(0, "iodef", "mailto:x@example.com")]}).allowed


def test_the_issuer_matches_case_insensitively_and_parameters_are_read() -> None:
    records = {"example.com": [(0, "issue", "LetsEncrypt.org; validationmethods=dns-01,http-01")]}
    assert verdict("www.example.com", records).allowed
    refused = verdict("www.example.com", records, method="tls-alpn-01")
    assert not refused.allowed and "validation by dns-01, http-01 only" in refused.reason


def test_an_empty_issuer_allows_no_ca() -> None:
    assert not verdict("www.example.com", {"example.com": [(0, "issue", ";")]}).allowed


def test_a_wildcard_obeys_issuewild_when_there_is_one_else_issue() -> None:
    both = {"example.com": [(0, "issue", "letsencrypt.org"), (0, "issuewild", ";")]}
    assert verdict("www.example.com", both).allowed
    assert not verdict("*.example.com", both).allowed
    only_issue = {"example.com": [(0, "issue", "letsencrypt.org")]}
    assert verdict("*.example.com", only_issue).allowed
    # A wildcard is looked up at its base name.
    assert not verdict("*.shop.example.com", {"shop.example.com": [(0, "issue", "other.ca")]}).allowed


def test_an_unknown_critical_property_forbids_issuance() -> None:
    records = {"example.com": [(0, "issue", "letsencrypt.org"), (128, "tbs", "x")]}
    assert not verdict("www.example.com", records).allowed
    assert verdict(
        "www.example.com", {"example.com": [(0, "issue", "letsencrypt.org"), (0, "tbs", "x")]}
    ).allowed


@pytest.mark.parametrize(
    ("account", "allowed", "unsure"),
    [(None, True, True), ("https://acme/acct/1", True, False), ("https://acme/acct/2", False, False)],
)
def test_accounturi_binds_issuance_to_one_account(account: str | None, allowed: bool, unsure: bool) -> None:
    records = {"example.com": [(0, "issue", "letsencrypt.org; accounturi=https://acme/acct/1")]}
    result = verdict("www.example.com", records, account_uri=account)
    assert (result.allowed, result.unsure) == (allowed, unsure)
