"""Moved to store/acm.py (AcmStore: the ACM store of the one pipeline, rotate/pipeline.py): re-exported
until the importers move."""

from certrotate.store.acm import TIME_TO_IMPORT as TIME_TO_IMPORT
from certrotate.store.acm import NotImported as NotImported
from certrotate.store.acm import UnknownAcmCertificate as UnknownAcmCertificate
