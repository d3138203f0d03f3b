"""EventBridge events about rotations, so operators can route them anywhere (as ACM's expiry events)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from certrotate.names import EVENT_SOURCE

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

logger = Logger(child=True)


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._events = client
        self._bus = bus_name

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        entry: Any = {
            "Source": EVENT_SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(dict(detail), default=str),
            "EventBusName": self._bus,
        }
        try:
            response = self._events.put_events(Entries=[entry])
        except Exception as exc:  # an event that cannot be sent must never fail a rotation
            logger.warning("could not publish event", extra={"detail_type": detail_type, "error": str(exc)})
            return
        if response.get("FailedEntryCount"):
            logger.warning("EventBridge refused an event", extra={"detail_type": detail_type})


class NoEvents:
    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        return None
