"""What a scan keeps between runs about each IAM server certificate, so that it reads afresh only the tags
that can lead to action (scan.tags.reason_to_read_tags). Keyed by certificate ID: IAM gives a re-upload a new
ID, so an entry never outlives the certificate it describes (a rename keeps the ID and the tags).

It also keeps, per managed certificate, where the scan's last complete search of every region saw it served
and when (`served`): a rotation that is not handed the endpoints reads them here and checks them instead of
searching (docs/design.md, "A direct rotation reads the scan's endpoints").

It is a cache and safe to lose: a missing, unreadable or foreign entry (or index) means "read afresh", never
"not managed". Pure: the bytes come from and go to a ScanIndexStore."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from certrotate.model.endpoints import Endpoint, EndpointKind, KnownEndpoints

FORMAT = 1
# DynamoDB's item limit is 400 KB (names and values); leave room for the key and attribute names.
MAX_BYTES = 380_000


@dataclass(frozen=True, slots=True)
class IndexedFacts:
    """Read once from the certificate itself (GetServerCertificate): it never changes for an ID."""

    not_before: datetime
    ari_id: str | None  # None: the certificate has no authority key identifier


@dataclass(frozen=True, slots=True)
class Listed:
    """The certificate as IAM listed it: what a scan that does not list again (the renewal-info re-check)
    needs to ask the CA about it, tag it and send its rotation."""

    name: str
    arn: str
    path: str
    expiration: datetime
    upload_date: datetime | None


@dataclass(frozen=True, slots=True)
class IndexEntry:
    tags: Mapping[str, str]  # certrotate's tags, as read at read_at (the renewal tag as last learnt)
    read_at: datetime
    facts: IndexedFacts | None = None
    # Where the last complete search saw it served (None: no such search since it was first kept).
    served: KnownEndpoints | None = None
    listed: Listed | None = None  # None: kept by a version that did not keep it (the next scan does)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(value: Any) -> datetime:
    if not isinstance(value, int):
        raise ValueError("not an epoch")
    return datetime.fromtimestamp(value, UTC)


def encode(
    entries: Mapping[str, IndexEntry],
    written_at: datetime,
    *,
    with_served: bool = True,
    with_listed: bool = True,
) -> bytes:
    """`with_served` False leaves the endpoint records out (what an index too large to keep drops first),
    `with_listed` False how IAM listed each certificate (dropped next: only the renewal-info re-check needs
    it)."""
    body: dict[str, Any] = {"format": FORMAT, "written_at": _epoch(written_at), "certificates": {}}
    for certificate_id, entry in entries.items():
        item: dict[str, Any] = {"tags": dict(entry.tags), "read_at": _epoch(entry.read_at)}
        if entry.facts is not None:
            item["not_before"] = _epoch(entry.facts.not_before)
            item["ari_id"] = entry.facts.ari_id
        if with_listed and entry.listed is not None:
            listed = entry.listed
            item["listed"] = [listed.name, listed.arn, listed.path, _epoch(listed.expiration)] + (
                [] if listed.upload_date is None else [_epoch(listed.upload_date)]
            )
        if with_served and entry.served is not None:
            item["served"] = {
                "at": _epoch(entry.served.seen_at),
                "on": [
                    [e.kind.value, e.region, e.resource_id, e.load_balancer] for e in entry.served.endpoints
                ],
            }
        body["certificates"][certificate_id] = item
    return zlib.compress(json.dumps(body, separators=(",", ":")).encode(), level=9)


def _served(value: Any) -> KnownEndpoints | None:
    """An endpoint record as encode writes it; None when absent or not readable (that one is searched)."""
    if not isinstance(value, dict) or not isinstance(value.get("on"), list):
        return None
    endpoints: list[Endpoint] = []
    try:
        for row in value["on"]:
            if not isinstance(row, list) or len(row) != 4 or not all(isinstance(v, str) for v in row):
                return None
            kind, region, resource_id, load_balancer = row
            endpoints.append(
                Endpoint(EndpointKind(kind), region, resource_id, load_balancer, default_certificate=None)
            )
        return KnownEndpoints(tuple(endpoints), _moment(value.get("at")))
    except (ValueError, OverflowError, OSError):
        return None


def _listed(value: Any) -> Listed | None:
    if not isinstance(value, list) or len(value) not in (4, 5):
        return None
    if not all(isinstance(v, str) for v in value[:3]):
        return None
    try:
        uploaded = _moment(value[4]) if len(value) == 5 else None
        return Listed(value[0], value[1], value[2], _moment(value[3]), uploaded)
    except (ValueError, OverflowError, OSError):
        return None


def decode(blob: bytes) -> dict[str, IndexEntry]:
    """The entries; ValueError when the blob is not an index this code wrote (the caller reads afresh)."""
    try:
        body = json.loads(zlib.decompress(blob))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"unreadable scan index: {error}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError("unknown scan index format")
    certificates = body.get("certificates")
    if not isinstance(certificates, dict):
        raise ValueError("scan index without certificates")
    entries: dict[str, IndexEntry] = {}
    for certificate_id, item in certificates.items():
        try:
            tags = item["tags"]
            if not isinstance(tags, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
            ):
                raise ValueError("tags")
            facts = None
            if "not_before" in item:
                ari_id = item.get("ari_id")
                if ari_id is not None and not isinstance(ari_id, str):
                    raise ValueError("ari_id")
                facts = IndexedFacts(_moment(item["not_before"]), ari_id)
            served = _served(item.get("served"))
            listed = _listed(item.get("listed"))
            entries[certificate_id] = IndexEntry(tags, _moment(item["read_at"]), facts, served, listed)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            continue  # one bad entry: that certificate is read afresh
    return entries


def served_record(blob: bytes, certificate_id: str) -> KnownEndpoints | None:
    """Where the last complete search saw this certificate served; None when the index has no such record
    (ValueError when the blob is not an index this code wrote)."""
    entry = decode(blob).get(certificate_id)
    return entry.served if entry is not None else None
