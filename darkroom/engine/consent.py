"""Consent for the portraits recipe: refused before anything is stored, erased when withdrawn.

A recipe with a `consent` step is consent-checked at intake (`ConsentGate`, an Intake
admission): the upload names a visitor (`user_id`, with `style` and `gender`) in its metadata,
or its image id was promised by `POST /portraits`, whose request row carries them. Without a
current consent the upload is refused (ConsentRefused: HTTP 403) and nothing is stored.

Withdrawing consent erases every selfie, face crop and portrait of the visitor: blobs, catalogue
records, search indexes and detection records (engine/lifecycle.py deletes an image whole), and
the visitor's request rows, and says how many of each went.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from darkroom.domain.errors import Refused
from darkroom.domain.portraits import (
    GENDER,
    STYLE,
    USER_ID,
    Consent,
    ConsentRefused,
    Erasure,
    PortraitRequest,
    check_user_id,
)
from darkroom.domain.records import Image
from darkroom.engine.lifecycle import delete_image
from darkroom.engine.outbox import Outbox
from darkroom.engine.recipes import CompiledRecipe
from darkroom.ports import BlobStore, Catalog, DetectionLog, Providers, TextIndex, VectorIndex

CONSENT_STEP = "consent"
STYLISE_STEP = "stylise"
MAX_FIELD = 64


class InvalidPortraitRequest(Refused, ValueError):
    """A request that names no visitor or an unknown style (HTTP 422, with the reason)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class PortraitStore(Protocol):
    def consent(self, owner: str, user_id: str) -> Consent | None: ...
    def request(self, image_id: str, owner: str | None = None) -> PortraitRequest | None: ...
    def add_request(self, request: PortraitRequest) -> None: ...
    def portraits(self, owner: str, user_id: str) -> list[Any]: ...
    def delete_requests(self, owner: str, user_id: str) -> int: ...
    def forget_events(self, owner: str, user_id: str) -> int: ...


def consent_checked(recipe: CompiledRecipe) -> bool:
    return any(step.definition.name == CONSENT_STEP for step in recipe.steps)


def known_styles(recipe: CompiledRecipe, providers: Providers) -> list[str] | None:
    """The styles the recipe's stylist knows; None when it cannot tell (a model endpoint with
    no list of styles in its options answers for itself)."""
    for step in recipe.steps:
        if step.definition.name == STYLISE_STEP:
            settings: Any = step.settings
            return providers.stylist(settings.provider, settings.options).styles()
    return None


def check_request(
    recipe: CompiledRecipe, providers: Providers, style: object, gender: object
) -> tuple[str, str | None]:
    if not isinstance(style, str) or not style:
        raise InvalidPortraitRequest(STYLE, "a style is required")
    known = known_styles(recipe, providers)
    if known is not None and style not in known:
        raise InvalidPortraitRequest(
            STYLE, f"unknown style {style!r}; known styles: {', '.join(known)}"
        )
    if gender is not None and (not isinstance(gender, str) or len(gender) > MAX_FIELD):
        raise InvalidPortraitRequest(GENDER, f"gender must be a string of at most {MAX_FIELD}")
    return style, gender or None


def require_consent(store: PortraitStore, owner: str, user_id: str) -> Consent:
    consent = store.consent(owner, user_id)
    if consent is None:
        raise ConsentRefused("no consent recorded for this user_id: POST /consents first")
    if not consent.agreed:
        raise ConsentRefused("this user_id has withdrawn consent")
    return consent


@dataclass
class ConsentGate:
    """The Intake admission of consent-checked recipes."""

    store: PortraitStore
    providers: Providers

    def admit(
        self, recipe: CompiledRecipe, owner: str, image_id: str, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        if not consent_checked(recipe):
            return metadata
        promised = self.store.request(image_id, owner)
        if promised is not None:  # POST /portraits named the visitor, style and gender
            metadata.update(
                {USER_ID: promised.user_id, STYLE: promised.style, GENDER: promised.gender}
            )
        if metadata.get(USER_ID) is None:  # no visitor, no consent: refused, not malformed
            raise ConsentRefused(
                "the upload names no visitor (metadata user_id), or its portrait request was "
                "erased when consent was withdrawn"
            )
        try:
            user_id = check_user_id(metadata.get(USER_ID))
        except ValueError as exc:
            raise InvalidPortraitRequest(USER_ID, str(exc)) from None
        require_consent(self.store, owner, user_id)
        style, gender = check_request(
            recipe, self.providers, metadata.get(STYLE), metadata.get(GENDER)
        )
        return {**metadata, USER_ID: user_id, STYLE: style, GENDER: gender}

    def recorded(self, recipe: CompiledRecipe, image: Image) -> None:
        if not consent_checked(recipe):
            return
        self.store.add_request(
            PortraitRequest(
                image_id=image.id,
                owner=image.owner,
                user_id=str(image.metadata[USER_ID]),
                style=str(image.metadata[STYLE]),
                gender=image.metadata.get(GENDER),
                created_at=time.time(),
            )
        )


def erase_visitor(
    store: PortraitStore,
    catalog: Catalog,
    blobs: BlobStore,
    outbox: Outbox,
    owner: str,
    user_id: str,
    indexes: tuple[VectorIndex | TextIndex, ...] = (),
    detections: DetectionLog | None = None,
) -> Erasure:
    """Every selfie, crop and portrait of the visitor, gone from storage, the catalogue and the
    indexes; counted by what was there. Safe to repeat: what is gone counts nothing."""
    selfies = crops = results = 0
    for row in store.portraits(owner, user_id):
        image = catalog.get_image(row.request.image_id, owner)
        if image is None:
            continue
        if image.location and blobs.exists(image.location):
            selfies += 1
        outputs = catalog.step_outputs(image.job_id) if image.job_id else {}
        for output in outputs.values():
            for field, kind in (("crop", "crop"), ("result", "result")):
                key = output.get(field)
                if isinstance(key, str) and blobs.exists(key):
                    crops += kind == "crop"
                    results += kind == "result"
        delete_image(catalog, blobs, outbox, image, indexes, detections)
    requests = store.delete_requests(owner, user_id)
    events = store.forget_events(owner, user_id)
    return Erasure(selfies=selfies, crops=crops, results=results, requests=requests, events=events)
