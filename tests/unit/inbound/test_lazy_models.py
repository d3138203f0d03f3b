"""The event models (inbound/models.py, and pydantic) load at the first event parsed, never at import:
pydantic costs ~130 ms of cold start, and the scheduled scan never needs it (docs/performance.md §3)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import ROOT

PROBE = """
import json, sys
import certrotate.inbound
imported = {name: name in sys.modules for name in ("pydantic", "certrotate.inbound.models")}
certrotate.inbound.parse_rotate_request({"certificate_name": "www-example-com"})
parsed = {name: name in sys.modules for name in ("pydantic", "certrotate.inbound.models")}
print(json.dumps([imported, parsed]))
"""


def test_the_models_load_at_the_first_event_not_at_import() -> None:
    # A fresh interpreter: this test process has long imported pydantic.
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PYTHONPATH": str(ROOT / "layers" / "certrotate"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    imported, parsed = json.loads(out)
    assert imported == {"pydantic": False, "certrotate.inbound.models": False}
    assert parsed == {"pydantic": True, "certrotate.inbound.models": True}
