"""What a replacement is called: derived from the old certificate's ID, so that a rerun finds it."""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 128  # IAM's limit on server certificate names
_SUFFIX = re.compile(r"-cr[0-9a-f]{8}$")


def replacement_name(old_name: str, old_certificate_id: str) -> str:
    """The replacement's name: the old name's stem plus a suffix derived from the old certificate's ID.

    Deterministic, so a rerun after a crash finds the replacement it already uploaded; unique per old
    certificate, so rotating the replacement later yields a different name; within IAM's 128 characters.
    """
    stem = _SUFFIX.sub("", old_name)
    digest = hashlib.sha256(old_certificate_id.encode()).hexdigest()[:8]
    suffix = f"-cr{digest}"
    return stem[: MAX_NAME_LENGTH - len(suffix)] + suffix
