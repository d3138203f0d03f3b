"""ACCOUNT_DOMAINS: the names a certificate of each account may be renewed for (CONTRACT.md, "Trust")."""

from __future__ import annotations

import pytest
from certrotate.config import load_settings
from certrotate.errors import ConfigurationError
from certrotate.order.refusals import NamePolicy

A, B, DNS = "111111111111", "222222222222", "333333333333"


def settings(**env: str):  # type: ignore[no-untyped-def]
    return load_settings({"AWS_REGION": "us-east-1", **env})


def test_entries_are_read_per_account_and_an_account_may_appear_twice() -> None:
    loaded = settings(ACCOUNT_DOMAINS=f"{A}=shop.example.com, {A}=Shop.Example.NET,{B}=b.example.org")
    assert loaded.account_domains == {A: ("shop.example.com", "shop.example.net"), B: ("b.example.org",)}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("shop.example.com", "not <12-digit account>=<domain>"),
        (f"{A}=*.example.com", "not <12-digit account>=<domain>"),
        (f"*={A}", "not <12-digit account>=<domain>"),
        ("1234=example.com", "not <12-digit account>=<domain>"),
        (f"{A}=exa_mple.com", "underscore"),
        (f"{A}=caf\u00e9.example", "is not ASCII"),
    ],
)
def test_a_bad_entry_is_named(raw: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        settings(ACCOUNT_DOMAINS=raw)


def test_with_an_entry_every_name_must_equal_a_domain_or_lie_under_one() -> None:
    policy = settings(ACCOUNT_DOMAINS=f"{A}=shop.example.com").name_policy(A)
    assert policy.problems(["shop.example.com", "www.shop.example.com", "*.shop.example.com"]) == []
    [other] = policy.problems(["shop.example.com", "other.example.com"])
    assert other.startswith("other.example.com is not authorised for account 111111111111")
    assert "ACCOUNT_DOMAINS gives it shop.example.com" in other
    # Neither a look-alike suffix nor a wildcard over the parent is under the domain.
    assert len(policy.problems(["evilshop.example.com", "*.example.com", "example.com"])) == 3


def test_an_account_answered_in_another_accounts_zones_without_an_entry_gets_nothing() -> None:
    loaded = settings(DNS_ACCOUNTS=f"*={DNS}", ACCOUNT_DOMAINS=f"{A}=a.example.com")
    [refusal] = loaded.name_policy(B).problems(["b.example.com"])
    assert "account 222222222222 has no ACCOUNT_DOMAINS entry" in refusal
    assert "written in account 333333333333's Route 53 zones (DNS_ACCOUNTS)" in refusal
    assert loaded.name_policy(A).problems(["x.a.example.com"]) == []
    assert loaded.name_policy(DNS).problems(["anything.example.com"]) == [], "its own zones"


def test_without_settings_nothing_is_restricted() -> None:
    loaded = settings()
    assert not loaded.restricts_names
    assert NamePolicy().problems(["anything.example.com"]) == []
    assert loaded.name_policy(A).problems(["anything.example.com"]) == []
