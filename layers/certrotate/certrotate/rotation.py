"""Moved to rotate/ (the one pipeline), store/iam.py, order/, deploy/, retire/ and report/: re-exported
until the importers move."""

from certrotate.order.issue import TIME_TO_ORDER as TIME_TO_ORDER
from certrotate.order.issue import StashTicket as StashTicket
from certrotate.order.issue import drop_stashed as drop_stashed
from certrotate.order.issue import issue_or_reuse as issue_or_reuse
from certrotate.order.issue import order_and_validate as order_and_validate
from certrotate.order.issue import refuse_before_ordering as refuse_before_ordering
from certrotate.order.issue import stash_inputs as stash_inputs
from certrotate.report.events import failure_detail as failure_detail
from certrotate.report.results import RotationResult as RotationResult
from certrotate.rotate.holds import record_hold as record_hold
from certrotate.rotate.pipeline import Rotation as Rotation
from certrotate.rotate.request import RotationRequest as RotationRequest
from certrotate.rotate.request import RotationSettings as RotationSettings
