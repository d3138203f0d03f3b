"""Moved to certrotate.scan.learning (shim until the importers move)."""

from certrotate.scan.learning import UNREACHABLE_CA_RETRY as UNREACHABLE_CA_RETRY
from certrotate.scan.learning import Learnt as Learnt
from certrotate.scan.learning import learn as learn
