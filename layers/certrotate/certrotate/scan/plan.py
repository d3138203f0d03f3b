"""The scan's plan (pure): which managed certificates go out, which are held back, pending retirement or
stalled, and which could not be planned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from certrotate.decide import holds
from certrotate.decide.due import is_due
from certrotate.decide.holds import HeldCertificate, active_hold, inputs_fingerprint, rollback_hold
from certrotate.model import ServerCertificate


@dataclass(frozen=True, slots=True)
class ScanPlan:
    expiring: tuple[ServerCertificate, ...]  # managed, not replaced, within the renewal window
    to_enqueue: tuple[ServerCertificate, ...]  # expiring ones neither held nor rate-limited
    held_back: tuple[ServerCertificate, ...]  # expiring, but held (a permanent failure) or rate-limited
    pending_retirement: tuple[ServerCertificate, ...]  # replaced, not deleted yet
    stalled: tuple[ServerCertificate, ...]  # replaced, but the rotation died before it finished repointing
    unmanaged: tuple[ServerCertificate, ...]
    held: tuple[HeldCertificate, ...] = ()  # every managed one held back now, due or not, and why
    # Held by a rollback until an operator forces a rotation (holds.rollback_hold says why): never sent,
    # resumed or retired, due or not.
    rolled_back: tuple[ServerCertificate, ...] = ()
    # Certificates that could not be planned (an error no parser foresaw): reported, and the others planned.
    unplanned: tuple[tuple[ServerCertificate, str], ...] = ()


def plan_scan(
    certificates: Sequence[ServerCertificate],
    *,
    now: datetime,
    renew_before_days: int | None,
    lease_seconds: int,
    not_before: Mapping[str, datetime] | None = None,
    hold_context: str | None = None,
) -> ScanPlan:
    """`not_before`: the certificates' notBefore by name, where known, for the lifetime rule of those whose
    renewal time is not learnt (the scan: out of time, or a body it could not read; it passes the upload date
    where it knows no notBefore). `hold_context`: Settings.hold_context, to
    tell whether a deterministic refusal's inputs changed (None: holds stand until their time)."""
    by_name = {c.name: c for c in certificates}
    known_not_before = not_before or {}
    expiring: list[ServerCertificate] = []
    to_enqueue: list[ServerCertificate] = []
    held_back: list[ServerCertificate] = []
    pending: list[ServerCertificate] = []
    stalled: list[ServerCertificate] = []
    unmanaged: list[ServerCertificate] = []
    held: list[HeldCertificate] = []
    rolled_back: list[ServerCertificate] = []
    unplanned: list[tuple[ServerCertificate, str]] = []
    for cert in certificates:
        if not cert.managed:
            unmanaged.append(cert)
            continue
        # One odd certificate never stops the others: whatever its tags hold, it is decided alone.
        try:
            inputs = None if hold_context is None else inputs_fingerprint(cert, hold_context)
            rollback = rollback_hold(cert)
            hold = holds.held_now(cert, now, inputs)  # looked up on the module: tests replace it
            replaced = cert.replaced_by
            due = not replaced and is_due(cert, now, renew_before_days, known_not_before.get(cert.name))
        except Exception as error:  # every tag parser is total; this is the net under them
            unplanned.append((cert, f"{type(error).__name__}: {error}"))
            continue
        if rollback is not None:
            rolled_back.append(cert)
        elif hold is not None:
            held.append(hold)
        if replaced:
            pending.append(cert)
            replacement = by_name.get(replaced)
            uploaded = replacement.upload_date if replacement else None
            if (
                cert.replacement_served_since is None
                and replacement is not None
                and (uploaded is None or now - uploaded > timedelta(seconds=lease_seconds))
                and active_hold(cert, now, inputs) is None  # it failed for good: the operator fixes it first
                and rollback is None  # rolled back: resuming would undo the rollback
            ):
                stalled.append(cert)
            continue
        if not due:
            continue
        # Held ones are still expiring (the contract's `expiring`, and CertificatesExpiring, stay honest);
        # they are just not sent to the queue until the hold passes.
        expiring.append(cert)
        (held_back if hold is not None or rollback is not None else to_enqueue).append(cert)
    return ScanPlan(
        tuple(expiring),
        tuple(to_enqueue),
        tuple(held_back),
        tuple(pending),
        tuple(stalled),
        tuple(unmanaged),
        tuple(held),
        tuple(rolled_back),
        tuple(unplanned),
    )
