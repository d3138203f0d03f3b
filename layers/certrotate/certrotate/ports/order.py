"""The CA, the challenges and their records: what ordering a certificate needs from outside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from certrotate.model import (
    ChallengeAnswer,
    ChallengeMethod,
    ChallengePlan,
    DnsRecord,
    Endpoint,
    HostedZone,
    Http01Rule,
    HttpListener,
    IssuedCertificate,
    KeySpec,
)


class DnsChallenges(Protocol):
    # The account's hosted zones, perhaps as listed a short time ago: `fresh` lists them now, and so does a
    # name of `names` that finds no zone in the kept listing (adapters/aws/route53.py: ZONES_KEPT).
    def zones(self, *, fresh: bool = False, names: Sequence[str] = ()) -> list[HostedZone]: ...
    def publish(self, records: Sequence[DnsRecord], *, deadline: float) -> None: ...  # returns once INSYNC
    def remove(self, records: Sequence[DnsRecord]) -> None: ...


class DnsChanges(DnsChallenges, Protocol):
    """Route 53 for several certificates' values at once (order/dns_batching.py): one change adds some values
    and removes others, as many sets as Route 53's limits on one change allow."""

    def submit(
        self, additions: Sequence[DnsRecord], removals: Sequence[DnsRecord] = (), *, deadline: float
    ) -> list[str]: ...  # the IDs of the changes that add values

    # returns once every change is INSYNC; `polled` after each GetChange
    def wait_in_sync(
        self, change_ids: Sequence[str], *, deadline: float, polled: Callable[[], None] | None = None
    ) -> None: ...


class DnsBatching(Protocol):
    """DNS-01 values of rotations running at the same time in one hosted zone, published and removed in one
    Route 53 change (order/dns_batching.py); alone when nobody else is there. `owner` is the certificate whose
    `#challenges` record names the values (ChallengeRecords), written before they are published."""

    def publish(self, owner: str, records: Sequence[DnsRecord], *, deadline: float) -> None: ...  # INSYNC
    def remove(self, owner: str, records: Sequence[DnsRecord]) -> None: ...  # raises: some are left


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One DNS-01 value a member of a batch adds or removes (order/dns_batching.py)."""

    adding: bool
    record: DnsRecord  # one value


@dataclass(frozen=True, slots=True)
class BatchTicket:
    """A rotation's place in a hosted zone's batch of DNS-01 changes (order/dns_batching.py). Times are epoch
    seconds: members and the publisher run in different containers."""

    batch_id: str
    publisher: bool  # it opened the batch: it closes and publishes it
    close_at: float  # the publisher closes the batch then at the latest (it gathers until then)
    give_up_at: float  # with no word from the publisher by then, members publish their own values


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """What the publisher of a batch says of it: `publishing`, `submitted` (Route 53 took the change: removals
    are done, `change_ids` to wait for, `poller` polling them), `insync` (additions answered), `failed`; or
    `abandoned` (a member gave up waiting)."""

    state: str
    alive_at: float  # epoch seconds of the latest sign of life of the publisher (or of the poller)
    change_ids: tuple[str, ...] = ()
    poller: str | None = None
    # The members whose values the publisher publishes (what its close returned); None: not said (an
    # abandoned batch). A member not named acts alone: its values are not in the change.
    members: tuple[str, ...] | None = None


class DnsBatches(Protocol):
    """Where rotations running at the same time meet to share one Route 53 change per hosted zone: the lease
    table's items `#dns-batch:<zone id>` (the zone's open batch, and when the last one closed) and
    `#dns-batch:<zone id>:<batch id>` (a closed batch's status). Every write is conditional."""

    # the zone's open batch, joined (None: none open, full, or past its give-up time)
    def join(
        self, zone_id: str, member: str, entries: Sequence[BatchEntry], *, room: int
    ) -> BatchTicket | None: ...

    # a new batch opened with these entries, closing `gather` seconds after the zone's last one (at once when
    # that is past); None: another one is open
    def open(
        self, zone_id: str, member: str, entries: Sequence[BatchEntry], *, gather: float, grace: float
    ) -> BatchTicket | None: ...

    # closed by its publisher: each member's entries (None: too late, its members publish their own)
    def close(self, zone_id: str, batch_id: str) -> dict[str, list[BatchEntry]] | None: ...
    # status `publishing`, naming the members whose values it publishes (False: abandoned first)
    def begin(self, zone_id: str, batch_id: str, members: Sequence[str]) -> bool: ...
    # `submitted`, with the changes to wait for and who polls them (None: a member takes it on)
    def submitted(
        self, zone_id: str, batch_id: str, change_ids: Sequence[str], poller: str | None
    ) -> bool: ...
    def claim(self, zone_id: str, batch_id: str, member: str, seen: BatchStatus) -> bool: ...  # poll it
    def alive(self, zone_id: str, batch_id: str, poller: str) -> None: ...  # the poller's sign of life
    def advance(
        self, zone_id: str, batch_id: str, state: str, *, after: str
    ) -> bool: ...  # False: not `after`
    def status(self, zone_id: str, batch_id: str) -> BatchStatus | None: ...
    def abandon(
        self, zone_id: str, batch_id: str, seen: BatchStatus | None
    ) -> bool: ...  # False: it moved on


class ChallengeRecords(Protocol):
    """The DNS-01 values a rotation of a certificate publishes and the HTTP-01 listener rules it creates,
    written down before they are published or created (the lease table's item `#challenges:<lease key>`): a
    rerun after a crash removes exactly these (a rule only while it still has the shape certrotate gives
    it)."""

    def recorded(self, certificate: str) -> list[DnsRecord]: ...
    def record(self, certificate: str, records: Sequence[DnsRecord]) -> None: ...
    def forget(self, certificate: str, records: Sequence[DnsRecord]) -> None: ...
    def recorded_rules(self, certificate: str) -> list[Http01Rule]: ...
    def record_rules(self, certificate: str, rules: Sequence[Http01Rule]) -> None: ...
    def forget_rules(self, certificate: str, rules: Sequence[Http01Rule]) -> None: ...


class ChallengeResponder(Protocol):
    """Answers challenges by one method (DNS-01 in Route 53, HTTP-01 on ALB rules), where the plan says."""

    def publish(
        self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer], *, deadline: float
    ) -> None: ...

    # removes what publish (of this plan's certificate, or a run of it that died) left; whatever went before
    def remove(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer]) -> None: ...

    # before ordering: removes what a run of the plan's certificates (plan.owners) that died left behind,
    # exactly what it recorded; returns what it found claiming to be theirs and left in place (to report)
    def remove_left_behind(self, plan: ChallengePlan) -> list[str]: ...


class Http01Listeners(ChallengeResponder, Protocol):
    """HTTP-01 on Application Load Balancers: their port-80 listeners, and rules answering there."""

    # the HTTP port-80 listeners of the load balancers of these endpoints (ALB/NLB listeners; others ignored)
    def port80_listeners(self, serving: Sequence[Endpoint]) -> list[HttpListener]: ...

    # before ordering: room for the plan's rules and no rule answering first (raises a PermanentFailure)
    def check(self, plan: ChallengePlan) -> None: ...


class Challenges(Protocol):
    """What an order needs: each name's method, and answers published and removed (order/challenges.py)."""

    def method_for(self, name: str) -> ChallengeMethod: ...
    def publish(self, answers: Sequence[ChallengeAnswer], *, deadline: float) -> None: ...
    def remove(self, answers: Sequence[ChallengeAnswer]) -> None: ...


class CertificateAuthority(Protocol):
    def issue(
        self,
        names: Sequence[str],
        key: KeySpec,
        challenges: Challenges,
        *,
        deadline: float,
        replaces: str | None = None,  # the ARI id of the certificate this order replaces (RFC 9773)
        profile: str | None = None,  # the ACME profile; None: the stack's default (ACME_PROFILE)
    ) -> IssuedCertificate: ...
