"""What the use cases need from the outside world. Adapters implement these; tests may fake them.

The public face: `from certrotate.ports import X` works for every name of the submodules."""

from __future__ import annotations

from certrotate.ports.certificates import BESIDE_ONLY_TAGS as BESIDE_ONLY_TAGS
from certrotate.ports.certificates import AcmCertificate as AcmCertificate
from certrotate.ports.certificates import AcmCertificates as AcmCertificates
from certrotate.ports.certificates import CertificateReader as CertificateReader
from certrotate.ports.certificates import CertificateStore as CertificateStore
from certrotate.ports.certificates import IssuedStash as IssuedStash
from certrotate.ports.certificates import ProgressRecords as ProgressRecords
from certrotate.ports.certificates import Stashed as Stashed
from certrotate.ports.certificates import StoredCertificate as StoredCertificate
from certrotate.ports.certificates import TrustAnchors as TrustAnchors
from certrotate.ports.endpoints import EndpointRecords as EndpointRecords
from certrotate.ports.endpoints import Endpoints as Endpoints
from certrotate.ports.order import BatchEntry as BatchEntry
from certrotate.ports.order import BatchStatus as BatchStatus
from certrotate.ports.order import BatchTicket as BatchTicket
from certrotate.ports.order import CertificateAuthority as CertificateAuthority
from certrotate.ports.order import ChallengeRecords as ChallengeRecords
from certrotate.ports.order import ChallengeResponder as ChallengeResponder
from certrotate.ports.order import Challenges as Challenges
from certrotate.ports.order import DnsBatches as DnsBatches
from certrotate.ports.order import DnsBatching as DnsBatching
from certrotate.ports.order import DnsChallenges as DnsChallenges
from certrotate.ports.order import DnsChanges as DnsChanges
from certrotate.ports.order import Http01Listeners as Http01Listeners
from certrotate.ports.runtime import Clock as Clock
from certrotate.ports.runtime import EventPublisher as EventPublisher
from certrotate.ports.runtime import Lease as Lease
from certrotate.ports.runtime import Leases as Leases
from certrotate.ports.scan import RenewalInfoSource as RenewalInfoSource
from certrotate.ports.scan import RenewalInfoUnavailable as RenewalInfoUnavailable
from certrotate.ports.scan import RenewalWindow as RenewalWindow
from certrotate.ports.scan import RotationQueue as RotationQueue
from certrotate.ports.scan import ScanIndexStore as ScanIndexStore
