"""Moved to certrotate.report.metrics (shim until the importers move)."""

from certrotate.report.metrics import emit_endpoint_check as emit_endpoint_check
from certrotate.report.metrics import emit_rollback as emit_rollback
from certrotate.report.metrics import emit_rotation as emit_rotation
from certrotate.report.metrics import emit_scan as emit_scan
