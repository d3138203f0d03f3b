"""Moved to certrotate.scan.accounts (shim until the importers move)."""

from __future__ import annotations

from certrotate.scan.accounts import ACCOUNTS_AT_ONCE as ACCOUNTS_AT_ONCE
from certrotate.scan.accounts import qualified as qualified
from certrotate.scan.accounts import scan_accounts as scan_accounts
