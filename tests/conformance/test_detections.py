"""The detection log in the catalog and in DynamoDB alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from darkroom.domain.records import DetectionRecord
from darkroom.ports import DetectionLog
from tests.conformance.conftest import unique


@pytest.fixture(params=["database", "dynamodb"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> DetectionLog:
    if request.param == "database":
        from darkroom.adapters.sql.catalog import SqlCatalog
        from darkroom.adapters.sql.database import Database

        return SqlCatalog(Database(f"sqlite:///{tmp_path / 'c.db'}"))
    aws: Any = request.getfixturevalue("aws")
    from darkroom.adapters.aws.dynamodb import TTL_ATTRIBUTE, DynamoDetectionLog

    table = unique("DetectionLogs")
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "ImageID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "ImageID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return DynamoDetectionLog(table)


def record(image_id: str, animal: str = "cat") -> DetectionRecord:
    return DetectionRecord(
        image_id=image_id,
        detected_animal=animal,
        confidence_score=91.25,
        timestamp=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        s3_location=f"s3://pics/cats/alice/{image_id}.jpg",
        processing_status="completed",
        file_size=123_456,
        image_format="jpeg",
    )


def test_one_record_per_image_round_trips(log: DetectionLog) -> None:
    assert log.detection_records("img1") == []
    log.put_detection_record(record("img1"))
    log.put_detection_record(record("img1"))  # a repeated step: still one
    assert [r.to_json() for r in log.detection_records("img1")] == [record("img1").to_json()]
    log.delete_detection_records("img1")
    assert log.detection_records("img1") == []
