"""Answering an order's challenges, each name by the method its plan chose (planning.plan_challenges)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from certrotate import planning
from certrotate.errors import CertRotateError
from certrotate.model import ChallengeAnswer, ChallengeMethod, ChallengePlan
from certrotate.ports import ChallengeResponder, DnsChallenges


class Dns01Responder:
    """DNS-01 through the DnsChallenges port (Route 53): TXT values beside whatever else the sets hold."""

    def __init__(self, dns: DnsChallenges) -> None:
        self._dns = dns

    def publish(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer], *, deadline: float) -> None:
        records = planning.dns_records(plan, answers)
        if records:
            self._dns.publish(records, deadline=deadline)

    def remove(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer]) -> None:
        records = planning.dns_records(plan, answers)
        if records:
            self._dns.remove(records)


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
    plan, problems = planning.plan_challenges(
        certificate, names, forced=ChallengeMethod.DNS_01, zones=dns.zones(), listeners=()
    )
    if problems:
        raise CertRotateError("; ".join(problems))
    return PlannedChallenges(plan, {ChallengeMethod.DNS_01: Dns01Responder(dns)})
