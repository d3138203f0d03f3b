"""Moved to certrotate.report.verify (shim until the importers move)."""

from certrotate.report.verify import TIME_TO_CHECK as TIME_TO_CHECK
from certrotate.report.verify import AddressBook as AddressBook
from certrotate.report.verify import EndpointChecker as EndpointChecker
from certrotate.report.verify import EndpointReport as EndpointReport
from certrotate.report.verify import Fetch as Fetch
from certrotate.report.verify import PemReader as PemReader
from certrotate.report.verify import describe as describe
from certrotate.report.verify import report_after_repoint as report_after_repoint
from certrotate.report.verify import summarize as summarize
