"""Answering an order's challenges, each name by the method its plan chose (plan_challenges)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_lambda_powertools import Logger

from certrotate.errors import CertRotateError
from certrotate.model import ChallengeAnswer, ChallengeMethod, ChallengePlan
from certrotate.order.challenge_plan import dns_records, plan_challenges
from certrotate.ports import ChallengeRecords, ChallengeResponder, DnsBatching, DnsChallenges

logger = Logger(child=True)


class Dns01Responder:
    """DNS-01 through the DnsChallenges port (Route 53): TXT values beside whatever else the sets hold.

    With `records` (ChallengeRecords), each value is written down before it is published and forgotten once
    it is removed: a run that died in between left exactly the values still recorded, which the next run of
    the certificate removes before it orders (remove_left_behind), and nothing else (the sets are shared).
    With `batching` (order/dns_batching.py), the values go in the hosted zone's batch when other rotations
    publish there at the same time: one Route 53 change for all of them."""

    def __init__(
        self,
        dns: DnsChallenges,
        records: ChallengeRecords | None = None,
        batching: DnsBatching | None = None,
    ) -> None:
        self._dns = dns
        self._records = records
        self._batching = batching

    def publish(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer], *, deadline: float) -> None:
        records = dns_records(plan, answers)
        if not records:
            return
        if self._records is not None:
            self._records.record(plan.certificate, records)  # before: a crash after publishing leaves them
        if self._batching is not None:
            self._batching.publish(plan.certificate, records, deadline=deadline)
        else:
            self._dns.publish(records, deadline=deadline)

    def remove(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer]) -> None:
        records = dns_records(plan, answers)
        if not records:
            return
        # Raises when a value could not be removed: it stays recorded.
        if self._batching is not None:
            self._batching.remove(plan.certificate, records)
        else:
            self._dns.remove(records)
        if self._records is not None:
            self._records.forget(plan.certificate, records)

    def remove_left_behind(self, plan: ChallengePlan) -> list[str]:
        if self._records is None:
            return []
        for owner in plan.owners:
            left = self._records.recorded(owner)
            if left:
                self._dns.remove(left)  # exactly the values recorded: a compare-and-swap of each set
                self._records.forget(owner, left)
        return []  # only values recorded are ever looked at: nothing else is claimed ours


class PlannedChallenges:
    """The Challenges port for one order: dispatches each answer to the responder of its planned method."""

    def __init__(self, plan: ChallengePlan, responders: Mapping[ChallengeMethod, ChallengeResponder]) -> None:
        self.plan = plan
        self._responders = responders

    def method_for(self, name: str) -> ChallengeMethod:
        return self.plan.route(name).method

    def _by_method(self, answers: Sequence[ChallengeAnswer]) -> dict[ChallengeMethod, list[ChallengeAnswer]]:
        grouped: dict[ChallengeMethod, list[ChallengeAnswer]] = {}
        for answer in answers:
            grouped.setdefault(self.method_for(answer.name), []).append(answer)
        missing = [method.value for method in grouped if method not in self._responders]
        if missing:
            raise CertRotateError(f"no responder for {', '.join(missing)} challenges is configured")
        return grouped

    def publish(self, answers: Sequence[ChallengeAnswer], *, deadline: float) -> None:
        for method, group in self._by_method(answers).items():
            self._responders[method].publish(self.plan, group, deadline=deadline)

    def remove_left_behind(self) -> list[str]:
        """Before ordering: what a run of this certificate (or of the one it replaced) that died left behind,
        removed by every responder (a dead run may have used another method). A failure is logged, not
        raised: what could not be removed stays recorded, and the next run tries again. Returns what the
        responders found claiming to be ours and left in place, to report."""
        notes: list[str] = []
        for method, responder in self._responders.items():
            try:
                notes.extend(responder.remove_left_behind(self.plan))
            except Exception as exc:
                logger.warning(
                    "challenge answers a dead run left could not be removed yet",
                    extra={"method": method.value, "error": str(exc)},
                )
        return notes

    def remove(self, answers: Sequence[ChallengeAnswer]) -> None:
        """Every method's answers removed, even when another method's removal fails."""
        problems: list[str] = []
        for method, group in self._by_method(answers).items():
            try:
                self._responders[method].remove(self.plan, group)
            except Exception as exc:
                problems.append(f"{method.value}: {exc}")
        if problems:
            raise CertRotateError("could not remove challenge answers: " + "; ".join(problems))


def dns01_only(certificate: str, names: Sequence[str], dns: DnsChallenges) -> PlannedChallenges:
    """Every name by DNS-01 (tools and tests that order without endpoints): raises when a name has no zone."""
    plan, problems = plan_challenges(
        certificate, names, forced=ChallengeMethod.DNS_01, zones=dns.zones(names=names), listeners=()
    )
    if problems:
        raise CertRotateError("; ".join(problems))
    return PlannedChallenges(plan, {ChallengeMethod.DNS_01: Dns01Responder(dns)})
