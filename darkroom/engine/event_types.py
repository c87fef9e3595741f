"""Every event type darkroom publishes, with what its detail holds (the README's table).

The detail of an event a step or the engine publishes always has `image_id`, `owner`, `recipe`
and `job_id`; the fields below come beside them. A recipe's own steps announce their own types
(`StepDefinition.event`): those are known too, so webhooks can subscribe to them.
"""

from __future__ import annotations

from collections.abc import Iterable

from darkroom.engine.recipes import CompiledRecipe

EVENT_TYPES: dict[str, str] = {
    "ImageReceived": "accepted (upload, presigned PUT or ingest): filename, size, location "
    "(no job_id)",
    "ImageValidated": "decoded and within limits: format, width, height, mode, frames, "
    "orientation, bytes",
    "ImageNormalized": "working copy made: working_width, working_height, source_mode, conversions",
    "ThumbnailCreated": "thumbnails stored: thumbnail, thumbnails (by size)",
    "ImageHashed": "sha256, phash; duplicate_of when the same bytes were stored first",
    "LabelsDetected": "labels (name, confidence 0-100, provider), provider",
    "ImageClassified": "class, confidence (0-100), uncertain",
    "ClassificationUncertain": "a person should look: notification_id, class, confidence, "
    "filename, location, thumbnail",
    "NotificationSent": "notified (true when the result was uncertain)",
    "ImageOrganized": "moved: from, location",
    "DetectionRecorded": "the detection record (DetectedAnimal, ConfidenceScore, S3Location, "
    "ProcessingStatus, ...)",
    "ImageEmbedded": "provider, model, version, space, dim",
    "ImageIndexed": "words (the text search finds it by)",
    "ImageAnalyzed": "an LLM analysis: id, version, provider, model, result, seconds, attempts, "
    "prompt_hash, schema_hash",
    "ImageProcessed": "the job finished: status (completed or duplicate), class, confidence, "
    "uncertain; duplicate_of for a duplicate",
    "ImageFailed": "status rejected (bad input: step, error) or failed (every attempt failed: "
    "error, attempts; the job is in the dead-letter queue)",
    "ImageDeleted": "deleted with every variant and record (image_id, owner only)",
    "ImageStandardised": "the catalog's standardised JPEG stored: key, file_path, width, height, "
    "bytes, quality",
    "GarmentsDescribed": "garments (category and attributes from the vocabulary, with "
    "confidences), provider, model, dropped, mapped; garments [] with a reason offline",
    "ColoursFound": "colours (name, share, hex), background, facets (colour)",
    "InventoryImageProcessed": "the catalog's downstream event (source darkroom.catalog): "
    "file_path, width, height, garments, items, colours, sku, filename",
    "TextRead": "text read offline (ocr): provider, text, lines (text, confidence, box)",
    "ConsentChecked": "portraits: the visitor's consent at run time: checked, agreed_at",
    "FaceFound": "portraits: provider, faces (how many), face (the largest: box, confidence), "
    "crop, crop_box, crop_size",
    "PortraitReady": "portraits: user_id, style, gender, result (the portrait's key), media_type, "
    "provider, model_version",
    "MediaCatalogued": "media library: client, sku, sku_from, media (image or video), folder",
    "KeyframesExtracted": "media library: media, keyframes (ms, key, shot), poster_ms, poster, "
    "shots, capped",
    "MediaPlaced": "media library: the original moved: from, location",
}


def known_event_types(recipes: Iterable[CompiledRecipe]) -> list[str]:
    """The documented types and those the steps of the loaded recipes announce."""
    announced = {step.definition.event for recipe in recipes for step in recipe.steps}
    return sorted(set(EVENT_TYPES) | announced)
