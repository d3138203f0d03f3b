"""The hold written after a failure no retry fixes: no redelivery and no scan orders again meanwhile."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from certrotate.decide.holds import hold_after_failure
from certrotate.errors import PermanentFailure
from certrotate.model import ServerCertificate
from certrotate.names import FAILURES_TAG, HELD_INPUTS_TAG, HELD_REASON_TAG, HELD_UNTIL_TAG


def record_hold(
    tag: Callable[[Mapping[str, str]], None],
    certificate: ServerCertificate,
    failure: PermanentFailure,
    now: datetime,
    *,
    inputs: str,
) -> None:
    """Tag the certificate (through `tag`) with the hold-off after a failure no retry fixes; never let the
    tagging hide the failure itself. A deterministic refusal is held until `inputs` (the certificate's
    inputs_fingerprint) change, any other for a time (24 h, doubling)."""
    hold = hold_after_failure(
        certificate,
        f"{type(failure).__name__}: {failure}",
        now,
        inputs=inputs if failure.deterministic else None,
    )
    try:
        tag(
            {
                HELD_UNTIL_TAG: hold.until.isoformat(),
                HELD_REASON_TAG: hold.reason,
                FAILURES_TAG: str(hold.failures),
                HELD_INPUTS_TAG: hold.inputs,  # empty: this hold ends in time, whatever an earlier said
            }
        )
    except Exception as exc:  # the certificate may be gone, or AWS throttled us beyond retries
        failure.add_note(f"the hold-off could not be recorded: {type(exc).__name__}")
        return
    failure.held_until = hold.until
    failure.failures = hold.failures
