"""DNS-01 answers in Route 53: one change per hosted zone, answered only once Route 53 says INSYNC."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters._retry import error_code
from certrotate.errors import CertRotateError
from certrotate.model import DnsRecord, HostedZone

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client

SYNC_WAIT = 180.0  # Route 53 propagates within 60 s normally


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Route53Challenges:
    def __init__(
        self,
        client: Route53Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._r53 = client
        self._sleep = sleep
        self._monotonic = monotonic

    def zones(self) -> list[HostedZone]:
        # Listed afresh for each order (one call per 100 zones): a zone added since must be found.
        zones: list[HostedZone] = []
        for page in self._r53.get_paginator("list_hosted_zones").paginate():
            for zone in page["HostedZones"]:
                zones.append(
                    HostedZone(
                        zone_id=zone["Id"].rsplit("/", 1)[-1],
                        name=zone["Name"].rstrip(".").lower(),
                        private=bool(zone.get("Config", {}).get("PrivateZone")),
                    )
                )
        return zones

    def publish(self, records: Sequence[DnsRecord], *, deadline: float) -> None:
        change_ids = [
            self._change(zone_id, "UPSERT", zone_records)
            for zone_id, zone_records in _by_zone(records).items()
        ]
        for change_id in change_ids:
            self._wait_in_sync(change_id, deadline)

    def remove(self, records: Sequence[DnsRecord]) -> None:
        """Delete the records, whatever else failed; a record already gone is fine."""
        problems: list[str] = []
        for zone_id, zone_records in _by_zone(records).items():
            for record in zone_records:  # one by one: one missing record must not block the others
                try:
                    self._change(zone_id, "DELETE", [record])
                except ClientError as exc:
                    if error_code(exc) != "InvalidChangeBatch":
                        problems.append(f"{record.name}: {error_code(exc)}")
                        continue
                    self._delete_current(zone_id, record.name)
        if problems:
            raise CertRotateError("could not remove DNS-01 records: " + "; ".join(problems))

    def _delete_current(self, zone_id: str, name: str) -> None:
        """Delete whatever TXT record set stands at `name` (it differs from ours: a leftover of a crash)."""
        fqdn = name.rstrip(".") + "."
        response = self._r53.list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=fqdn, StartRecordType="TXT", MaxItems="1"
        )
        for record_set in response["ResourceRecordSets"]:
            if (
                record_set["Name"].rstrip(".").lower() == name.rstrip(".").lower()
                and record_set["Type"] == "TXT"
            ):
                self._r53.change_resource_record_sets(
                    HostedZoneId=zone_id,
                    ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": record_set}]},
                )

    def _change(self, zone_id: str, action: str, records: Sequence[DnsRecord]) -> str:
        changes: list[Any] = [
            {
                "Action": action,
                "ResourceRecordSet": {
                    "Name": record.name,
                    "Type": "TXT",
                    "TTL": record.ttl,
                    "ResourceRecords": [{"Value": quoted(v)} for v in record.values],
                },
            }
            for record in records
        ]
        response = self._r53.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Comment": "certrotate DNS-01", "Changes": changes}
        )
        return response["ChangeInfo"]["Id"]

    def _wait_in_sync(self, change_id: str, deadline: float) -> None:
        limit = min(deadline, self._monotonic() + SYNC_WAIT)
        delay = 0.5
        while True:
            status = self._r53.get_change(Id=change_id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return
            left = limit - self._monotonic()
            if left <= 0:
                raise CertRotateError(f"Route 53 change {change_id} was not INSYNC in time")
            self._sleep(min(delay, left))
            delay = min(delay * 2, 5.0)


def _by_zone(records: Sequence[DnsRecord]) -> dict[str, list[DnsRecord]]:
    grouped: dict[str, list[DnsRecord]] = defaultdict(list)
    for record in records:
        grouped[record.zone_id].append(record)
    return dict(grouped)
