"""The tags that relate a certificate to its replacement hold names in a form IAM accepts as a tag value."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import pytest
from certrotate.model import ServerCertificate
from certrotate.names import REPLACED_BY_TAG, REPLACES_TAG, name_from_tag_value, name_tag_value

IAM_CERTIFICATE_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,128}")  # [\w+=,.@-]+, \w as Java reads it


def iam_accepts_as_tag_value(value: str) -> bool:
    # [\p{L}\p{Z}\p{N}_.:/=+\-@]*, at most 256 characters
    return len(value) <= 256 and all(unicodedata.category(c)[0] in "LZN" or c in "_.:/=+-@" for c in value)


@pytest.mark.parametrize(
    "name",
    ["www-example-com", "www,example,com", ",", "a,,b", "x" * 128, "_+=,.@-", "www,example,com-cr0a1b2c3d"],
)
def test_every_certificate_name_round_trips_through_a_tag_value_iam_accepts(name: str) -> None:
    assert IAM_CERTIFICATE_NAME.fullmatch(name)
    value = name_tag_value(name)
    assert iam_accepts_as_tag_value(value)
    assert name_from_tag_value(value) == name


def test_names_written_before_as_plain_tag_values_read_back_unchanged() -> None:
    # Existing deployments hold plain names (never with ",": IAM refused those).
    assert name_from_tag_value("www-example-com-cr0a1b2c3d") == "www-example-com-cr0a1b2c3d"


def test_the_model_reads_both_forms() -> None:
    def certificate(tags: dict[str, str]) -> ServerCertificate:
        return ServerCertificate("n", "arn", "ASCA", "/", datetime(2030, 1, 1, tzinfo=UTC), tags=tags)

    new_form = certificate({REPLACED_BY_TAG: "www:example:com-cr1", REPLACES_TAG: "www:example:com"})
    assert (new_form.replaced_by, new_form.replaces) == ("www,example,com-cr1", "www,example,com")
    old_form = certificate({REPLACED_BY_TAG: "www-example-com-cr1", REPLACES_TAG: "www-example-com"})
    assert (old_form.replaced_by, old_form.replaces) == ("www-example-com-cr1", "www-example-com")
    assert certificate({REPLACED_BY_TAG: ""}).replaced_by is None
