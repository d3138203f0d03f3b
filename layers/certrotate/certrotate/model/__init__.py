"""Plain data: what certrotate reads from AWS and decides about, with tag values parsed defensively. No I/O.

The public face: `from certrotate.model import X` works for every name of the submodules."""

from __future__ import annotations

from certrotate.model.certificates import CertificateFacts as CertificateFacts
from certrotate.model.certificates import IssuedCertificate as IssuedCertificate
from certrotate.model.certificates import ProgressRecord as ProgressRecord
from certrotate.model.certificates import RenewalSchedule as RenewalSchedule
from certrotate.model.certificates import SecretPem as SecretPem
from certrotate.model.certificates import ServerCertificate as ServerCertificate
from certrotate.model.certificates import is_managed_value as is_managed_value
from certrotate.model.certificates import learnt_for_value as learnt_for_value
from certrotate.model.certificates import parse_count as parse_count
from certrotate.model.certificates import parse_timestamp as parse_timestamp
from certrotate.model.challenges import ACME_CHALLENGE_PATH as ACME_CHALLENGE_PATH
from certrotate.model.challenges import ChallengeAnswer as ChallengeAnswer
from certrotate.model.challenges import ChallengeMethod as ChallengeMethod
from certrotate.model.challenges import ChallengePlan as ChallengePlan
from certrotate.model.challenges import ChallengeRoute as ChallengeRoute
from certrotate.model.challenges import DnsRecord as DnsRecord
from certrotate.model.challenges import HostedZone as HostedZone
from certrotate.model.challenges import Http01Rule as Http01Rule
from certrotate.model.challenges import HttpListener as HttpListener
from certrotate.model.endpoints import ENDPOINT_INDEX_MAX_AGE as ENDPOINT_INDEX_MAX_AGE
from certrotate.model.endpoints import ChangeKind as ChangeKind
from certrotate.model.endpoints import Endpoint as Endpoint
from certrotate.model.endpoints import EndpointChange as EndpointChange
from certrotate.model.endpoints import EndpointKind as EndpointKind
from certrotate.model.endpoints import EndpointSurvey as EndpointSurvey
from certrotate.model.endpoints import KnownEndpoints as KnownEndpoints
from certrotate.model.endpoints import Unsearched as Unsearched
from certrotate.model.endpoints import endpoint_from_message as endpoint_from_message
from certrotate.model.endpoints import endpoints_serving as endpoints_serving
from certrotate.model.endpoints import reference_for as reference_for
from certrotate.model.keys import KEY_TYPES as KEY_TYPES
from certrotate.model.keys import KEYS_ACCEPTED as KEYS_ACCEPTED
from certrotate.model.keys import KEYS_ANY_ENDPOINT_ACCEPTS as KEYS_ANY_ENDPOINT_ACCEPTS
from certrotate.model.keys import KeyKind as KeyKind
from certrotate.model.keys import KeySpec as KeySpec
