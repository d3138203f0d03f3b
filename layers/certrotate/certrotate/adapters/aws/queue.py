"""The FIFO rotation queue: one message per certificate, the certificate's name as message group."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

BATCH = 10  # SQS's limit per SendMessageBatch


class SqsRotationQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, messages: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[str]:
        sent: list[str] = []
        failed: list[str] = []
        for start in range(0, len(messages), BATCH):
            batch = messages[start : start + BATCH]
            entries: Any = [
                {
                    "Id": str(i),
                    "MessageBody": json.dumps(dict(body)),
                    "MessageGroupId": group,
                    "MessageDeduplicationId": dedup,
                }
                for i, (group, dedup, body) in enumerate(batch)
            ]
            response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            sent.extend(batch[int(ok["Id"])][0] for ok in response.get("Successful", []))
            failed.extend(f"{batch[int(e['Id'])][0]} ({e.get('Code')})" for e in response.get("Failed", []))
        if failed:
            raise RuntimeError("the rotation queue refused: " + ", ".join(failed))
        return sent
