"""record: one detection record per image, the DetectionLogs row of the pets system."""

from __future__ import annotations

from darkroom.domain.records import DetectionRecord, utcnow
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class RecordSettings(StepSettings):
    pass


def run(ctx: StepContext, settings: RecordSettings) -> StepResult:
    decision = ctx.output_of("classify")
    location = ctx.output_of("organize").get("location", ctx.image.location)
    record = DetectionRecord(
        image_id=ctx.image.id,
        detected_animal=str(decision.get("class", "")),
        confidence_score=float(decision.get("confidence", 0.0)),
        timestamp=utcnow(),
        s3_location=ctx.ports.blobs.url(location),
        processing_status="uncertain" if decision.get("uncertain") else "completed",
        file_size=ctx.image.size_bytes,
        image_format=ctx.image.format or "",
    )
    ctx.ports.detections.put_detection_record(record)
    return StepResult(output=record.to_json())


STEP = StepDefinition(
    name="record",
    run=run,
    settings=RecordSettings,
    event="DetectionRecorded",
    needs=("classify",),
    description="write the detection record: ImageID, DetectedAnimal, ConfidenceScore, ...",
)
