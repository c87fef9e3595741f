"""A person's decision about an image's class, with its provenance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Review:
    id: str
    image_id: str
    owner: str
    recipe: str
    key_id: str  # the API key that decided
    class_name: str  # what the person said
    model_class: str | None  # what the model had said, at the time
    model_confidence: float | None
    model_uncertain: bool
    previous_location: str  # where the original was filed before the decision (for undo)
    decided_at: datetime
    undone_at: datetime | None = None

    @property
    def agrees(self) -> bool:
        return self.class_name == self.model_class

    def to_json(self) -> dict[str, Any]:
        return {
            "review_id": self.id,
            "image_id": self.image_id,
            "recipe": self.recipe,
            "class": self.class_name,
            "decided_by": self.key_id,
            "decided_at": self.decided_at.isoformat(),
            "model": {
                "class": self.model_class,
                "confidence": self.model_confidence,
                "uncertain": self.model_uncertain,
            },
            "undone_at": self.undone_at.isoformat() if self.undone_at else None,
        }
