"""The review loop's actions: the queue of uncertain images, a person's decision (a human label
with provenance, the image re-filed, `ReviewCompleted`), and undoing the last one."""

from __future__ import annotations

from dataclasses import dataclass

from darkroom.adapters.sql.reviews import SqlReviews
from darkroom.domain.errors import RecipeError
from darkroom.domain.events import make_event
from darkroom.domain.ids import new_id
from darkroom.domain.records import DetectionRecord, Image, ImageStatus, utcnow
from darkroom.domain.review import Review
from darkroom.engine.lifecycle import Conflict
from darkroom.engine.outbox import Outbox
from darkroom.engine.recipes import RecipeBook
from darkroom.imaging import EXTENSIONS
from darkroom.ports import BlobStore, Catalog, DetectionLog, ImageQuery
from darkroom.steps.classify import ClassifySettings
from darkroom.steps.organize import OrganizeSettings

COMPLETED = "ReviewCompleted"
UNDONE = "ReviewUndone"


def classes_of(recipes: RecipeBook, recipe: str) -> list[str]:
    """The classes a person may choose for a recipe's images: its classify step's classes and
    fallback (empty when the recipe does not classify)."""
    try:
        compiled = recipes.get(recipe)
    except RecipeError:
        return []
    for step in compiled.steps:
        if isinstance(step.settings, ClassifySettings):
            return [*step.settings.classes, step.settings.fallback]
    return []


def filed_at(recipes: RecipeBook, image: Image, class_name: str) -> str:
    """Where the recipe's organize step files an image of this class (its place now when the
    recipe does not organize)."""
    try:
        compiled = recipes.get(image.recipe)
    except RecipeError:
        return image.location
    for step in compiled.steps:
        if isinstance(step.settings, OrganizeSettings):
            folder = step.settings.folders.get(class_name, step.settings.default)
            extension = EXTENSIONS.get(image.format or "", ".bin")
            return f"{folder}/{image.owner}/{image.id}{extension}"
    return image.location


def review_queue(
    catalog: Catalog, owner: str, recipe: str | None = None, limit: int = 50
) -> list[Image]:
    """The owner's uncertain images, oldest first."""
    return catalog.list_images(
        ImageQuery(
            owner=owner,
            status=ImageStatus.COMPLETED,
            uncertain=True,
            recipe=recipe,
            limit=limit,
        )
    )


@dataclass
class Reviewer:
    catalog: Catalog
    blobs: BlobStore
    recipes: RecipeBook
    outbox: Outbox
    reviews: SqlReviews
    detections: DetectionLog

    def decide(self, image: Image, class_name: str, key_id: str) -> Review:
        """Store a person's class for an image, re-file it and announce it."""
        if image.status is not ImageStatus.COMPLETED:
            raise Conflict(f"only a completed image can be reviewed (this one is {image.status})")
        allowed = classes_of(self.recipes, image.recipe)
        if allowed and class_name not in allowed:
            raise ValueError(f"class {class_name!r} is not one of {', '.join(allowed)}")
        if not class_name or len(class_name) > 64:
            raise ValueError("a class is 1-64 characters")
        before = self.reviews.latest(image.id)
        review = Review(
            id=new_id(),
            image_id=image.id,
            owner=image.owner,
            recipe=image.recipe,
            key_id=key_id,
            class_name=class_name,
            # A second decision keeps the model's answer of the first as "what the model said".
            model_class=before.model_class if before else image.class_name,
            model_confidence=before.model_confidence if before else image.confidence,
            model_uncertain=before.model_uncertain if before else image.uncertain,
            previous_location=image.location,
            decided_at=utcnow(),
        )
        location = self._move(image.location, filed_at(self.recipes, image, class_name))
        self._store(review, image, class_name, 100.0, False, location, COMPLETED)
        return review

    def undo_last(self, owner: str, key_id: str) -> Review | None:
        """Take back this key's newest decision: the image returns to what it was before it."""
        review = self.reviews.last_by(owner, key_id)
        if review is None:
            return None
        image = self.catalog.get_image(review.image_id, owner)
        self.reviews.mark_undone(review.id)
        if image is None:
            return review
        earlier = self.reviews.latest(image.id)
        if earlier is not None:  # an older decision is in force again
            cls, confidence, uncertain = earlier.class_name, 100.0, False
        else:
            cls = review.model_class or image.class_name or ""
            confidence = review.model_confidence or 0.0
            uncertain = review.model_uncertain
        location = self._move(image.location, filed_at(self.recipes, image, cls))
        self._store(None, image, cls, confidence, uncertain, location, UNDONE, review.id)
        return review

    def _move(self, source: str, target: str) -> str:
        if source and target and source != target:
            if self.blobs.exists(target):
                if self.blobs.exists(source):
                    self.blobs.delete(source)
            else:
                self.blobs.move(source, target)
        return target or source

    def _store(
        self,
        review: Review | None,
        image: Image,
        cls: str,
        confidence: float,
        uncertain: bool,
        location: str,
        detail_type: str,
        undone: str | None = None,
    ) -> None:
        review_id = review.id if review else undone or ""
        event = make_event(
            "review",
            detail_type,
            {
                "image_id": image.id,
                "owner": image.owner,
                "class": cls,
                "review_id": review_id,
                "model": {"class": image.class_name, "confidence": image.confidence},
                "location": self.blobs.url(location) if location else None,
            },
            key=f"{review_id}:{detail_type}",
        )
        with self.catalog.atomic():
            if review is not None:
                self.reviews.add(review)
            self.catalog.update_image(
                image.id,
                class_name=cls,
                confidence=confidence,
                uncertain=uncertain,
                location=location,
            )
            self.catalog.add_events([event])
            pending = self.outbox.within([event])
        self.outbox.publish(pending)
        self._record(image, cls, confidence, uncertain, location)

    def _record(
        self, image: Image, cls: str, confidence: float, uncertain: bool, location: str
    ) -> None:
        """Keep the detection record (when the image has one) in step with the decision."""
        if not self.detections.detection_records(image.id):
            return
        self.detections.put_detection_record(
            DetectionRecord(
                image_id=image.id,
                detected_animal=cls,
                confidence_score=confidence,
                timestamp=utcnow(),
                s3_location=self.blobs.url(location),
                processing_status="uncertain" if uncertain else "reviewed",
                file_size=image.size_bytes,
                image_format=image.format or "",
            )
        )
