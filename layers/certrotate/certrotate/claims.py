"""Shim (issue 26): proving the bookkeeping tags' claims moved to check/claims.py (pure) and check/verifier.py
(reading through the ports). Removed once every importer uses the new homes."""

from __future__ import annotations

from certrotate.check.claims import Believed as Believed
from certrotate.check.claims import Unproven as Unproven
from certrotate.check.verifier import Claim as Claim
from certrotate.check.verifier import ClaimVerifier as ClaimVerifier
from certrotate.check.verifier import believe as believe
from certrotate.check.verifier import proven as proven
