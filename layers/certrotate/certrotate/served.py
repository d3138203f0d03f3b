"""Moved to certrotate.report.served (shim until the importers move)."""

from certrotate.report.served import WILDCARD_PROBE_LABEL as WILDCARD_PROBE_LABEL
from certrotate.report.served import CertificateView as CertificateView
from certrotate.report.served import CheckResult as CheckResult
from certrotate.report.served import CheckStatus as CheckStatus
from certrotate.report.served import ExpectedCertificate as ExpectedCertificate
from certrotate.report.served import Presented as Presented
from certrotate.report.served import candidates as candidates
from certrotate.report.served import compare as compare
from certrotate.report.served import covers as covers
from certrotate.report.served import server_names as server_names
