"""The detection log on DynamoDB (dynamodb://TABLE): one item per image keyed by ImageID, the
DetectionLogs record of the pets system, with a TTL attribute so old records expire."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Any

from darkroom.adapters.aws.clients import client
from darkroom.domain.records import DetectionRecord

TTL_ATTRIBUTE = "ExpiresAt"


class DynamoDetectionLog:
    def __init__(self, table: str, *, retention_days: int = 365) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86400
        self.dynamodb = client("dynamodb")

    def put_detection_record(self, record: DetectionRecord) -> None:
        item = {name: _attribute(value) for name, value in record.to_json().items()}
        expires = int(time.time()) + self.retention_seconds
        item[TTL_ATTRIBUTE] = {"N": str(expires)}
        self.dynamodb.put_item(TableName=self.table, Item=item)  # one per image: a repeat replaces

    def detection_records(self, image_id: str) -> list[DetectionRecord]:
        answer = self.dynamodb.get_item(
            TableName=self.table, Key={"ImageID": {"S": image_id}}, ConsistentRead=True
        )
        item = answer.get("Item")
        if item is None:
            return []
        return [_record({name: _value(value) for name, value in item.items()})]

    def delete_detection_records(self, image_id: str) -> None:
        self.dynamodb.delete_item(TableName=self.table, Key={"ImageID": {"S": image_id}})


def _attribute(value: Any) -> dict[str, str]:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return {"S": str(value)}
    return {"N": str(value)}


def _value(attribute: dict[str, str]) -> Any:
    if "N" in attribute:
        number = Decimal(attribute["N"])
        return int(number) if number == number.to_integral_value() else float(number)
    return attribute.get("S")


def _record(data: dict[str, Any]) -> DetectionRecord:
    return DetectionRecord(
        image_id=data["ImageID"],
        detected_animal=data["DetectedAnimal"],
        confidence_score=float(data["ConfidenceScore"]),
        timestamp=datetime.fromisoformat(data["Timestamp"]),
        s3_location=data["S3Location"],
        processing_status=data["ProcessingStatus"],
        file_size=int(data["FileSize"]),
        image_format=data["ImageFormat"],
    )
