"""Helpers that several test modules share: certificates to decide about, the template as data.

Test modules import these from here, never from another test module, so that a test file can move or split
without breaking its neighbours.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from certrotate.model import ServerCertificate
from certrotate.names import MANAGED_TAG

from tests.cfn import load_template
from tests.paths import TEMPLATE

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def cert(name: str = "www", days: float = 10, managed: bool = True, **tags: str) -> ServerCertificate:
    """An IAM certificate expiring `days` after NOW; keyword tags have `_` written as `-`."""
    all_tags = {MANAGED_TAG: "true"} if managed else {}
    all_tags.update({k.replace("_", "-"): v for k, v in tags.items()})
    return ServerCertificate(
        name=name,
        arn=f"arn:aws:iam::123456789012:server-certificate/{name}",
        certificate_id=f"ASCA{name.upper()}",
        path="/",
        expiration=NOW + timedelta(days=days),
        upload_date=NOW - timedelta(days=80),
        tags=all_tags,
    )


def tagged(base: ServerCertificate, **tags: str) -> ServerCertificate:
    return replace(base, tags={**base.tags, **tags})


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """template.yaml as data (short tags in their long forms)."""
    return load_template(TEMPLATE)
