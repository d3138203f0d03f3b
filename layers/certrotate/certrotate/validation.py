"""Shim (issue 26): the checks on certificates moved to check/certificates.py and check/issued.py, the trust
roots' files to adapters/net/trust_roots.py. Removed once every importer uses the new homes."""

from __future__ import annotations

from certrotate.adapters.net.trust_roots import LETS_ENCRYPT_STAGING_ROOTS as LETS_ENCRYPT_STAGING_ROOTS
from certrotate.adapters.net.trust_roots import load_trust_roots as load_trust_roots
from certrotate.check.certificates import ari_certificate_id as ari_certificate_id
from certrotate.check.certificates import dns_names_of as dns_names_of
from certrotate.check.certificates import facts_of as facts_of
from certrotate.check.certificates import ip_addresses_of as ip_addresses_of
from certrotate.check.certificates import key_spec_of as key_spec_of
from certrotate.check.certificates import leaf_sha256 as leaf_sha256
from certrotate.check.certificates import load_pem_certificates as load_pem_certificates
from certrotate.check.issued import EC_CURVE_NAMES as EC_CURVE_NAMES
from certrotate.check.issued import chain_problem as chain_problem
from certrotate.check.issued import validate_issued as validate_issued
