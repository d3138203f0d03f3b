"""Pure decisions: which certificates are due, what the replacement is called and made of, which
endpoints change and how, and when a replaced certificate may go. No I/O, no boto3; time is an argument."""

from __future__ import annotations

from certrotate.check.claims import BOOKKEEPING_TAGS as BOOKKEEPING_TAGS
from certrotate.check.claims import NO_RECORD as NO_RECORD
from certrotate.check.claims import RECORD_KEPT_AFTER_EXPIRY as RECORD_KEPT_AFTER_EXPIRY
from certrotate.check.claims import ClaimCheck as ClaimCheck
from certrotate.check.claims import check_claim as check_claim
from certrotate.check.claims import record_kept_until as record_kept_until
from certrotate.check.claims import record_problem as record_problem
from certrotate.check.claims import trusted_view as trusted_view
from certrotate.decide.due import days_to_expiry as days_to_expiry
from certrotate.decide.due import is_due as is_due
from certrotate.decide.due import renewal_due as renewal_due
from certrotate.decide.holds import FIRST_HOLD as FIRST_HOLD
from certrotate.decide.holds import LONGEST_HOLD as LONGEST_HOLD
from certrotate.decide.holds import TAG_VALUE_LIMIT as TAG_VALUE_LIMIT
from certrotate.decide.holds import UNTIL_INPUTS_CHANGE as UNTIL_INPUTS_CHANGE
from certrotate.decide.holds import HeldCertificate as HeldCertificate
from certrotate.decide.holds import Hold as Hold
from certrotate.decide.holds import active_hold as active_hold
from certrotate.decide.holds import held_now as held_now
from certrotate.decide.holds import hold_after_failure as hold_after_failure
from certrotate.decide.holds import hold_duration as hold_duration
from certrotate.decide.holds import inputs_fingerprint as inputs_fingerprint
from certrotate.decide.holds import rate_limited_until as rate_limited_until
from certrotate.decide.holds import rollback_hold as rollback_hold
from certrotate.decide.holds import tag_value as tag_value
from certrotate.decide.naming import MAX_NAME_LENGTH as MAX_NAME_LENGTH
from certrotate.decide.naming import replacement_name as replacement_name
from certrotate.decide.policies import RotationDecision as RotationDecision
from certrotate.decide.policies import Verdict as Verdict
from certrotate.decide.policies import decide_rotation as decide_rotation
from certrotate.decide.policies import decide_with_window as decide_with_window
from certrotate.decide.renewal_time import ARI_MAX_RETRY as ARI_MAX_RETRY
from certrotate.decide.renewal_time import ARI_MIN_RETRY as ARI_MIN_RETRY
from certrotate.decide.renewal_time import LAST_RESORT_MIN as LAST_RESORT_MIN
from certrotate.decide.renewal_time import believed_schedule as believed_schedule
from certrotate.decide.renewal_time import clamp_retry as clamp_retry
from certrotate.decide.renewal_time import last_resort_time as last_resort_time
from certrotate.decide.renewal_time import lifetime_renewal_time as lifetime_renewal_time
from certrotate.decide.renewal_time import needs_renewal_info as needs_renewal_info
from certrotate.decide.renewal_time import same_pick as same_pick
from certrotate.decide.renewal_time import same_renewal_time as same_renewal_time
from certrotate.decide.renewal_time import schedule_from_lifetime as schedule_from_lifetime
from certrotate.decide.renewal_time import schedule_from_window as schedule_from_window
from certrotate.deploy.changes import change_applied as change_applied
from certrotate.deploy.changes import others_unchanged as others_unchanged
from certrotate.deploy.changes import plan_endpoint_changes as plan_endpoint_changes
from certrotate.deploy.changes import uncovered_aliases as uncovered_aliases
from certrotate.model.certificates import RenewalSchedule as RenewalSchedule
from certrotate.model.certificates import learnt_for_value as learnt_for_value
from certrotate.model.endpoints import ENDPOINT_INDEX_MAX_AGE as ENDPOINT_INDEX_MAX_AGE
from certrotate.model.endpoints import ENDPOINT_INDEX_MAX_ENTRIES as ENDPOINT_INDEX_MAX_ENTRIES
from certrotate.model.endpoints import ENDPOINT_RECORD_MAX_AGE as ENDPOINT_RECORD_MAX_AGE
from certrotate.model.endpoints import KnownEndpoints as KnownEndpoints
from certrotate.model.endpoints import confirmed_endpoints as confirmed_endpoints
from certrotate.model.endpoints import endpoint_from_message as endpoint_from_message
from certrotate.model.endpoints import endpoints_serving as endpoints_serving
from certrotate.model.endpoints import known_endpoints as known_endpoints
from certrotate.model.endpoints import record_to_check as record_to_check
from certrotate.model.endpoints import reference_for as reference_for
from certrotate.model.keys import KEY_TYPES as KEY_TYPES
from certrotate.model.keys import KEYS_ACCEPTED as KEYS_ACCEPTED
from certrotate.model.keys import KEYS_ANY_ENDPOINT_ACCEPTS as KEYS_ANY_ENDPOINT_ACCEPTS
from certrotate.order.challenge_plan import CHALLENGE_METHODS as CHALLENGE_METHODS
from certrotate.order.challenge_plan import MAX_HOST_CONDITION as MAX_HOST_CONDITION
from certrotate.order.challenge_plan import challenge_record_name as challenge_record_name
from certrotate.order.challenge_plan import challenge_zone as challenge_zone
from certrotate.order.challenge_plan import dns_records as dns_records
from certrotate.order.challenge_plan import http01_rules as http01_rules
from certrotate.order.challenge_plan import needs_http01 as needs_http01
from certrotate.order.challenge_plan import plan_challenges as plan_challenges
from certrotate.order.challenge_plan import requested_challenge_method as requested_challenge_method
from certrotate.order.challenge_plan import zone_for as zone_for
from certrotate.order.keys import endpoints_refusing as endpoints_refusing
from certrotate.order.keys import replacement_key as replacement_key
from certrotate.order.keys import requested_key as requested_key
from certrotate.order.refusals import MAX_DNS_NAME as MAX_DNS_NAME
from certrotate.order.refusals import MAX_LABEL as MAX_LABEL
from certrotate.order.refusals import NamePolicy as NamePolicy
from certrotate.order.refusals import dns_name_problems as dns_name_problems
from certrotate.retire.decision import RetirementDecision as RetirementDecision
from certrotate.retire.decision import RetirementVerdict as RetirementVerdict
from certrotate.retire.decision import decide_retirement as decide_retirement
from certrotate.retire.decision import decide_retirement_after_search as decide_retirement_after_search
from certrotate.retire.decision import replacement_deploying as replacement_deploying
from certrotate.scan.messages import deduplication_id as deduplication_id
from certrotate.scan.plan import ScanPlan as ScanPlan
from certrotate.scan.plan import plan_scan as plan_scan
from certrotate.scan.tags import could_act_now as could_act_now
from certrotate.scan.tags import reason_to_read_tags as reason_to_read_tags

# --- renewal time: ARI (RFC 9773) and the lifetime rule ---------------------------------------------------


# --- keys ------------------------------------------------------------------------------------------------


# --- endpoints -------------------------------------------------------------------------------------------


# --- the scan's endpoint index ---------------------------------------------------------------------------

# Beyond this the rotation searches itself: ~270 bytes an endpoint, and a SendMessageBatch of 10 messages
# must stay under 256 KiB in all.
# --- scan ------------------------------------------------------------------------------------------------


# --- the scan's tag index: whose tags to read afresh --------------------------------------------------------
