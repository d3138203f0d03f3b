"""Every failure certrotate raises, by the stage that raises it; class names are the contract. Errors carry
messages meant for people: one line that names the problem.

The public face: `from certrotate.errors import X` works for every name of the submodules."""

from __future__ import annotations

from certrotate.errors.base import AccountBeingCreated as AccountBeingCreated
from certrotate.errors.base import AccountSecretUnreadable as AccountSecretUnreadable
from certrotate.errors.base import AccountUnreachable as AccountUnreachable
from certrotate.errors.base import CertRotateError as CertRotateError
from certrotate.errors.base import ConfigurationError as ConfigurationError
from certrotate.errors.base import InvalidRequest as InvalidRequest
from certrotate.errors.base import OutOfTime as OutOfTime
from certrotate.errors.base import PermanentFailure as PermanentFailure
from certrotate.errors.base import RegionDiscoveryFailed as RegionDiscoveryFailed
from certrotate.errors.base import RotationInProgress as RotationInProgress
from certrotate.errors.deploy import AliasesNotCovered as AliasesNotCovered
from certrotate.errors.deploy import EndpointsRefused as EndpointsRefused
from certrotate.errors.deploy import ListenerUpdateFailed as ListenerUpdateFailed
from certrotate.errors.deploy import LoadBalancerFull as LoadBalancerFull
from certrotate.errors.deploy import NothingToRollBack as NothingToRollBack
from certrotate.errors.deploy import RollbackRefused as RollbackRefused
from certrotate.errors.order import RATE_LIMIT_MAX_WAIT as RATE_LIMIT_MAX_WAIT
from certrotate.errors.order import CaRefused as CaRefused
from certrotate.errors.order import ChallengeRuleShadowed as ChallengeRuleShadowed
from certrotate.errors.order import Http01NotReached as Http01NotReached
from certrotate.errors.order import Http01NotYetServed as Http01NotYetServed
from certrotate.errors.order import InvalidNames as InvalidNames
from certrotate.errors.order import InvalidProfileName as InvalidProfileName
from certrotate.errors.order import IpAddressesNotRenewed as IpAddressesNotRenewed
from certrotate.errors.order import IssuanceFailed as IssuanceFailed
from certrotate.errors.order import KeyTypeUnsupported as KeyTypeUnsupported
from certrotate.errors.order import ListenerRulesFull as ListenerRulesFull
from certrotate.errors.order import NameNotAuthorised as NameNotAuthorised
from certrotate.errors.order import NoChallengeMethod as NoChallengeMethod
from certrotate.errors.order import RateLimited as RateLimited
from certrotate.errors.order import UnknownChallengeMethod as UnknownChallengeMethod
from certrotate.errors.order import UnknownKeyType as UnknownKeyType
from certrotate.errors.order import UnknownProfile as UnknownProfile
from certrotate.errors.order import ValidationFailed as ValidationFailed
from certrotate.errors.store import AcmImportConflict as AcmImportConflict
from certrotate.errors.store import AcmImportQuotaReached as AcmImportQuotaReached
from certrotate.errors.store import AcmRefusedImport as AcmRefusedImport
from certrotate.errors.store import CertificateAlreadyExists as CertificateAlreadyExists
from certrotate.errors.store import KeyChangeRefused as KeyChangeRefused
from certrotate.errors.store import KeyNotOrderable as KeyNotOrderable
from certrotate.errors.store import NameConflict as NameConflict
from certrotate.errors.store import NotImported as NotImported
from certrotate.errors.store import ProfileDropsKeyUsage as ProfileDropsKeyUsage
from certrotate.errors.store import QuotaExhausted as QuotaExhausted
from certrotate.errors.store import ReimportRefused as ReimportRefused
from certrotate.errors.store import UnknownAcmCertificate as UnknownAcmCertificate
from certrotate.errors.store import UnknownCertificate as UnknownCertificate
from certrotate.errors.store import UnmanagedCertificate as UnmanagedCertificate
from certrotate.errors.store import UploadRefused as UploadRefused
