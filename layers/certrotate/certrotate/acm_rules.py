"""Moved to certrotate.store.acm_rules: re-exported until the importers move."""

from certrotate.store.acm_rules import ACM_ARN as ACM_ARN
from certrotate.store.acm_rules import ACM_KEY_ALGORITHMS as ACM_KEY_ALGORITHMS
from certrotate.store.acm_rules import AcmImportConflict as AcmImportConflict
from certrotate.store.acm_rules import AcmImportQuotaReached as AcmImportQuotaReached
from certrotate.store.acm_rules import AcmRefusedImport as AcmRefusedImport
from certrotate.store.acm_rules import KeyChangeRefused as KeyChangeRefused
from certrotate.store.acm_rules import KeyNotOrderable as KeyNotOrderable
from certrotate.store.acm_rules import ProfileDropsKeyUsage as ProfileDropsKeyUsage
from certrotate.store.acm_rules import ReimportRefused as ReimportRefused
from certrotate.store.acm_rules import check_reimport as check_reimport
from certrotate.store.acm_rules import extended_key_usages as extended_key_usages
from certrotate.store.acm_rules import key_usages as key_usages
from certrotate.store.acm_rules import parse_arn as parse_arn
from certrotate.store.acm_rules import profile_refusal as profile_refusal
from certrotate.store.acm_rules import region_of as region_of
from certrotate.store.acm_rules import reimport_violations as reimport_violations
from certrotate.store.acm_rules import replacement_key as replacement_key
from certrotate.store.acm_rules import serial_hex as serial_hex
