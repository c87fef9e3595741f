"""What an SQS message can carry to the processor, read into one shape.

A body is one of: an S3 event notification (S3 -> SQS directly), an SNS notification wrapping
one (S3 -> SNS -> SQS, raw delivery off), an EventBridge "Object Created" event (S3 ->
EventBridge -> SQS), S3's test event (sent once when a notification is configured), or a
darkroom job message (the SQS queue adapter's own body).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from darkroom.domain.records import Job


class BadMessage(ValueError):
    """A body darkroom cannot read: it will never succeed, so it ends in the dead-letter queue."""


@dataclass(frozen=True)
class StoredObject:
    """An object that landed in a bucket."""

    bucket: str
    key: str  # decoded: the key as S3 stores it
    size: int | None
    etag: str  # tells an overwritten key (new bytes) from a repeated notification
    time: datetime | None = None  # when it was stored, as the event says

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Message:
    objects: tuple[StoredObject, ...] = ()
    jobs: tuple[Job, ...] = ()
    ignored: str | None = None  # why nothing in it is for darkroom


def parse_body(body: str) -> Message:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadMessage(f"not a JSON object: {type(data).__name__}")
    return parse(data)


def parse(data: dict[str, Any]) -> Message:
    if data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        return parse_body(data["Message"])  # SNS: the S3 event is a string inside
    if "Records" in data:
        return _s3_notification(data["Records"])
    if data.get("Event") == "s3:TestEvent":
        return Message(ignored="S3 test event")
    if data.get("source") == "aws.s3" and "detail-type" in data:
        return _eventbridge(data)
    job = job_from(data)
    if job is not None:
        return Message(jobs=(job,))
    raise BadMessage(f"not an S3, SNS, EventBridge or job message (keys: {sorted(data)[:8]})")


def _s3_notification(records: Any) -> Message:
    if not isinstance(records, list):
        raise BadMessage("S3 notification: Records is not a list")
    found: list[StoredObject] = []
    for record in records:
        name = str(record.get("eventName", ""))
        if record.get("eventSource") != "aws:s3" or not name.startswith("ObjectCreated"):
            continue
        try:
            s3 = record["s3"]
            found.append(
                StoredObject(
                    bucket=str(s3["bucket"]["name"]),
                    # S3 notifications URL-encode keys, form style: "my cat.jpg" -> "my+cat.jpg"
                    key=unquote_plus(str(s3["object"]["key"])),
                    size=_size(s3["object"].get("size")),
                    etag=str(s3["object"].get("eTag", "")),
                    time=_time(record.get("eventTime")),
                )
            )
        except (KeyError, TypeError) as exc:
            raise BadMessage(f"S3 notification record without {exc}") from None
    if not found:
        return Message(ignored="no ObjectCreated record")
    return Message(objects=tuple(found))


def _eventbridge(data: dict[str, Any]) -> Message:
    if data["detail-type"] != "Object Created":
        return Message(ignored=f"S3 {data['detail-type']!r} event")
    try:
        detail = data["detail"]
        obj = detail["object"]
        return Message(
            objects=(
                StoredObject(
                    bucket=str(detail["bucket"]["name"]),
                    key=str(obj["key"]),  # EventBridge events carry the key as it is
                    size=_size(obj.get("size")),
                    etag=str(obj.get("etag", obj.get("eTag", ""))),
                    time=_time(data.get("time")),
                ),
            )
        )
    except (KeyError, TypeError) as exc:
        raise BadMessage(f"EventBridge Object Created event without {exc}") from None


def _size(value: Any) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _time(value: Any) -> datetime | None:
    """ISO 8601 as AWS writes it; epoch seconds as some emulators do."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def job_from(data: dict[str, Any]) -> Job | None:
    """A darkroom job message, as the SQS queue adapter writes it."""
    names = ("id", "image_id", "owner", "recipe")
    if not all(isinstance(data.get(name), str) for name in names):
        return None
    return Job(id=data["id"], image_id=data["image_id"], owner=data["owner"], recipe=data["recipe"])
