"""The replacement's name: derived, valid for IAM, stable across reruns."""

from __future__ import annotations

import re

import pytest
from certrotate.decide.naming import replacement_name

IAM_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")

# --- names -------------------------------------------------------------------------------------------------


def test_replacement_name_is_deterministic_valid_and_distinct_per_old_certificate() -> None:
    first = replacement_name("www-example-com", "ASCAAAAA")
    assert first == replacement_name("www-example-com", "ASCAAAAA")
    assert first.startswith("www-example-com-cr") and IAM_NAME.match(first)
    assert first != replacement_name("www-example-com", "ASCABBBB")


def test_rotating_a_replacement_keeps_the_stem_instead_of_growing_the_name() -> None:
    second = replacement_name(replacement_name("site", "ID1"), "ID2")
    third = replacement_name(second, "ID3")
    assert re.fullmatch(r"site-cr[0-9a-f]{8}", second)
    assert re.fullmatch(r"site-cr[0-9a-f]{8}", third)
    assert len({second, third}) == 2


@pytest.mark.parametrize("length", [1, 100, 117, 118, 127, 128])
def test_replacement_name_never_exceeds_iam_limit(length: int) -> None:
    name = replacement_name("a" * length, "ID")
    assert len(name) <= 128 and IAM_NAME.match(name)
