"""MANAGED_ACCOUNTS, MEMBER_ROLE_NAME and DNS_ACCOUNTS: checked at cold start, one line per problem."""

from __future__ import annotations

import re

import pytest
from certrotate.config import load_settings
from certrotate.errors import ConfigurationError

BASE = {"AWS_REGION": "us-east-1"}


def test_unset_is_the_own_account_only() -> None:
    settings = load_settings(BASE)
    assert settings.managed_accounts == () and not settings.many_accounts
    assert settings.member_role_name == "certrotate-member"
    assert settings.dns_account_for("123456789012") == "123456789012"


def test_accounts_role_and_dns_accounts_are_read() -> None:
    settings = load_settings(
        BASE
        | {
            "MANAGED_ACCOUNTS": " 111111111111, 222222222222,111111111111",
            "MEMBER_ROLE_NAME": "ops-certrotate",
            "DNS_ACCOUNTS": "111111111111=444444444444,*=333333333333",
        }
    )
    assert settings.managed_accounts == ("111111111111", "222222222222")
    assert settings.member_role_name == "ops-certrotate"
    assert settings.dns_account_for("111111111111") == "444444444444"
    assert settings.dns_account_for("222222222222") == "333333333333"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MANAGED_ACCOUNTS", "11111111111", "MANAGED_ACCOUNTS holds '11111111111', which is not a 12-digit"),
        ("MEMBER_ROLE_NAME", "bad role", "MEMBER_ROLE_NAME is not an IAM role name"),
        ("DNS_ACCOUNTS", "111111111111", "DNS_ACCOUNTS holds '111111111111', not <12-digit account>="),
        ("DNS_ACCOUNTS", "*=x", "DNS_ACCOUNTS holds '*=x'"),
    ],
)
def test_bad_values_are_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_settings(BASE | {variable: value})
