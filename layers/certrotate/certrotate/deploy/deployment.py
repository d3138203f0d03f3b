"""Deploying a replacement: the old certificate marked replaced, every endpoint serving it moved to the
replacement (each read right before its change and read back), and the replacement marked served everywhere
once it is."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from certrotate.check.claims import record_kept_until, trusted_view
from certrotate.deploy.locate import Located, Locator
from certrotate.deploy.mover import EndpointMover
from certrotate.errors import EndpointsRefused, ListenerUpdateFailed, OutOfTime, PermanentFailure
from certrotate.model import Endpoint, ProgressRecord, ServerCertificate, Unsearched
from certrotate.model.endpoints import KnownEndpoints
from certrotate.names import REPLACED_BY_TAG, SERVED_SINCE_TAG, name_tag_value
from certrotate.ports import CertificateStore, Clock, Endpoints, ProgressRecords
from certrotate.report.results import RotationResult


class Deployment:
    def __init__(
        self,
        *,
        store: CertificateStore,
        endpoints: Endpoints,
        progress: ProgressRecords,
        locator: Locator,
        clock: Clock,
        sni_swap_when_full: bool = False,
        after_repoint: Callable[[ServerCertificate, RotationResult, float], None] | None = None,
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._progress = progress
        self._locator = locator
        self._clock = clock
        self._sni_swap_when_full = sni_swap_when_full
        self._after_repoint = after_repoint  # a report on the endpoints (never raises, never a gate)

    def run(
        self,
        old: ServerCertificate,
        replacement: ServerCertificate,
        record: ProgressRecord,
        located: Located | None,
        known: KnownEndpoints | None,
        dns_names: Sequence[str],
        result: RotationResult,
        deadline: float,
    ) -> tuple[ServerCertificate, tuple[Unsearched, ...]]:
        """Serve `replacement` wherever `old` is served (`located`, else found now); return the old
        certificate as far as its claims are proven, and where the search could not look.

        Tags are written from what IAM holds (`old`), decisions made on what is proven (the view). The
        replaced-by tag goes with the served-since one, in one call once every endpoint serves the
        replacement (IAM's API rate is shared by every rotation of the fleet); alone when the repointing
        stops short. Until then the progress record (written before the upload) is what proves the
        replacement: a rerun after a crash finds it at its name and resumes."""
        marks: dict[str, str] = {}
        if old.replaced_by != replacement.name:
            marks[REPLACED_BY_TAG] = name_tag_value(replacement.name)
            result.steps.append(f"marked {old.name} as replaced by {replacement.name}")
        view = trusted_view(old, replacement.name, record)
        try:
            if located is None:
                located = self._locator.locate(view, known, result)
            view, unsearched = self._repoint(view, replacement, dns_names, result, deadline, located)
        except Exception:
            self._mark(old.name, marks)
            raise
        if not unsearched:
            view = self._mark_served(old, replacement, record, marks)
        else:
            self._mark(old.name, marks)
        if self._after_repoint is not None:
            self._after_repoint(replacement, result, deadline)
        return view, unsearched

    def _repoint(
        self,
        old: ServerCertificate,
        new: ServerCertificate,
        dns_names: Sequence[str],
        result: RotationResult,
        deadline: float,
        located: Located,
    ) -> tuple[ServerCertificate, tuple[Unsearched, ...]]:
        """Repoint every endpoint `located` serving the old certificate; return the old certificate and where
        the search could not look (nothing: the replacement serves everywhere). Each endpoint is read again
        right before it is changed: an earlier search is fine."""
        survey, serving = located.survey, located.serving
        failures: list[str] = []
        errors: list[Exception] = []
        for listed in serving:
            try:
                kinds = self._change_endpoint(listed, old, new, dns_names, deadline)
            except OutOfTime:
                raise
            except Exception as exc:  # one broken listener must not stop the others from being repointed
                failures.append(f"{listed.label}: {exc}")
                errors.append(exc)
                continue
            if kinds:
                result.endpoints_changed.append(listed.label)
                result.steps.append(f"{listed.label} now serves {new.name} ({', '.join(kinds)})")
            else:
                result.steps.append(f"{listed.label} no longer serves {old.name}: left as it is")
        if failures:
            unseen = "".join(f"; not searched: {u}" for u in survey.unsearched)
            message = f"{len(failures)} endpoint(s) still serve {old.name}: " + "; ".join(failures) + unseen
            permanent = [e for e in errors if isinstance(e, PermanentFailure)]
            if len(permanent) == len(errors) == 1 and not survey.unsearched:  # it names what to do already
                raise permanent[0]
            if len(permanent) == len(errors):  # a retry would only meet the same refusals again
                raise EndpointsRefused(message, fix="; ".join(dict.fromkeys(e.fix for e in permanent)))
            raise ListenerUpdateFailed(message)
        if survey.unsearched:
            # Where we cannot look, the old certificate may still serve: it does not serve "everywhere" yet.
            # No served-since tag, so the scan resumes this rotation until every region answers.
            result.not_searched = [str(u) for u in survey.unsearched]
            result.steps.append(
                f"not searched: {', '.join(result.not_searched)}: {old.name} may still be served there"
            )
            return old, survey.unsearched
        return old, ()  # served everywhere: the caller records it (_mark_served)

    def _change_endpoint(
        self,
        listed: Endpoint,
        old: ServerCertificate,
        new: ServerCertificate,
        dns_names: Sequence[str],
        deadline: float,
    ) -> list[str]:
        """Repoint one endpoint from its state right now (someone may have changed it since it was listed);
        return the kinds of change made."""
        mover = EndpointMover(self._endpoints, sni_swap_when_full=self._sni_swap_when_full, clock=self._clock)
        return mover.move(listed, old, new, dns_names, deadline)

    def _mark_served(
        self,
        old: ServerCertificate,
        replacement: ServerCertificate,
        record: ProgressRecord,
        marks: Mapping[str, str],
    ) -> ServerCertificate:
        """The replacement serves everywhere: the record says since when (first, it is the proof), then the
        tag says it for people (a tag someone else wrote there is overwritten), with `marks` (the replaced-by
        tag not written yet) in the same call."""
        if record.served_since is None:
            record = replace(record, served_since=self._clock.now())
            self._progress.save(
                old.name, record, keep_until=record_kept_until(old.expiration, self._clock.now())
            )
        assert record.served_since is not None
        served = record.served_since.isoformat()
        tags = dict(marks)
        if old.tags.get(SERVED_SINCE_TAG) != served:
            tags[SERVED_SINCE_TAG] = served
        self._mark(old.name, tags)
        return trusted_view(old, replacement.name, record)

    def _mark(self, name: str, tags: Mapping[str, str]) -> None:
        if tags:
            self._store.tag(name, tags)
